"""A dashboard project for tests: admin password, one future issue, a few readers."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from newsletter.catalog import sync_issues
from newsletter.services import Services
from newsletter.settings import load_settings
from subscribers.service import Source, subscribe

PASSWORD = "correct horse 배터리 staple"
#: The owner NEWSLETTER_ADMIN_PASSWORD bootstraps at the app's first start.
OWNER = "owner@example.org"
SLUG = "field-notes"


def write_issue(issues_dir: Path, *, slug: str = SLUG, days_ahead: int = 7) -> None:
    """An issue of ``weekly`` published ``days_ahead`` days from now."""
    when = (datetime.now(UTC) + timedelta(days=days_ahead)).strftime("%Y-%m-%d %H:%M:%S +0000")
    (issues_dir / f"2030-01-01-{slug}.md").write_text(
        "---\n"
        f'title: "현장 노트: 작은 서비스 운영기"\n'
        f"date: {when}\n"
        "newsletter: weekly\n"
        "preheader: 이번 호에서는 작은 서비스를 오래 운영하는 법을 다룹니다.\n"
        "---\n"
        "## 첫 번째 이야기\n"
        "작은 서비스는 **단순함**이 힘입니다.\n\n"
        "[자세히 보기](https://example.org/notes)\n",
        encoding="utf-8",
    )


def open_project(
    config_path: Path, monkeypatch: pytest.MonkeyPatch, *, readers: int = 3
) -> Services:
    """Services of a project with the admin password set (the app bootstraps the owner
    :data:`OWNER` from it), one issue and ``readers`` readers."""
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", "test-secret-key-0123456789abcdef")
    monkeypatch.setenv("NEWSLETTER_ADMIN_PASSWORD", PASSWORD)
    monkeypatch.setenv("NEWSLETTER_WEB__ADMIN_EMAIL", OWNER)
    write_issue(config_path.parent / "issues")
    services = Services.open(load_settings(config_path))
    sync_issues(services)
    with services.sessions.begin() as session:
        for n in range(readers):
            subscribe(
                session,
                email=f"reader{n}@example.org",
                name=f"독자 {n}",
                newsletters=["weekly"],
                source=Source.ADMIN,
                confirmed=True,
            )
    return services


def csrf_of(html: str) -> str:
    """The first CSRF token in a page."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def outbox_files(services: Services) -> list[Path]:
    """Every message file the outbox backend wrote."""
    root = services.settings.path(services.settings.delivery.outbox_dir)
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.fixture
def admin_services(config_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Services]:
    """The dashboard project's services."""
    services = open_project(config_path, monkeypatch)
    yield services
    services.close()


def add_account(services: Services, email: str, role: str, password: str = PASSWORD) -> None:
    """An account made as a person would: ``users add``, then its set-password link."""
    from urllib.parse import parse_qs, urlsplit

    from newsletter.accounts import service

    _account, link = service.add_user(services, email, service.parse_role(role), actor="test")
    token = parse_qs(urlsplit(link).query)["token"][0]
    service.use_password_link(services, token, password)


def login_as(client: Any, email: str, password: str = PASSWORD, code: str = "") -> str:
    """Log ``client`` (a TestClient) in; returns the session's CSRF token."""
    page = client.get("/admin/login")
    response = client.post(
        "/admin/login",
        data={"email": email, "password": password, "code": code, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return csrf_of(client.get("/admin/account").text)  # reachable even before TOTP set-up
