"""The dashboard: a send's waves, an issue moved by quiet hours, "send now" in quiet hours."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from newsletter import db
from newsletter.catalog import sync_issues
from newsletter.delivery import engine
from newsletter.issues import find_issue
from newsletter.timing.plan import first_possible
from newsletter.web import create_app
from subscribers.models import Subscriber
from tests.admin_support import OWNER, PASSWORD, csrf_of, open_project
from tests.timing_support import patch_clock


def _login(client: TestClient) -> str:
    page = client.get("/admin/login")
    response = client.post(
        "/admin/login",
        data={"email": OWNER, "password": PASSWORD, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303
    return csrf_of(client.get("/admin/issues").text)


def _write(issues: Path, slug: str, lines: list[str]) -> None:
    (issues / f"{slug}.md").write_text(
        "\n".join(["---", f'title: "아침 {slug}"', *lines, "---", "본문.", ""]), encoding="utf-8"
    )


def test_the_send_page_shows_each_wave(config_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    services = open_project(config_path, monkeypatch, readers=3)
    clock = patch_clock(monkeypatch, datetime(2026, 1, 1, tzinfo=UTC))
    try:
        with db.transaction(services.sessions) as session:
            session.execute(
                update(Subscriber)
                .where(Subscriber.email == "reader2@example.org")
                .values(timezone="America/New_York")
            )
        _write(
            config_path.parent / "issues", "morning", ["date: 2026-03-10 09:00", "deliver: local"]
        )
        sync_issues(services)
        wall = find_issue(services.settings, "morning").local_wall
        assert wall is not None
        clock.set(first_possible(wall))
        send_id = engine.start_send(services, "morning").send_id
        clock.set(datetime(2026, 3, 10, 0, 0, tzinfo=UTC))  # Seoul's 09:00
        for found in engine.abandoned_sends(services):
            engine.take_over(services, found)
        with TestClient(create_app(services), follow_redirects=False) as client:
            _login(client)
            page = client.get(f"/admin/sends/{send_id}").text
        assert 'data-status="waiting"' in page
        rows = re.findall(r'<tr data-state="(\w+)"><td>([^<]+)</td><td>(\d+)</td>', page)
        assert rows == [
            ("done", "2026-03-10 09:00 KST", "2"),
            ("waiting", "2026-03-10 22:00 KST", "1"),  # 09:00 EDT in New York
        ]
        assert 'id="next-wave"' in page
    finally:
        services.close()
