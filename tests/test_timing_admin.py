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
from newsletter.delivery import store as delivery_store
from newsletter.issues import find_issue
from newsletter.services import Services
from newsletter.timing.plan import first_possible
from newsletter.web import create_app
from subscribers.models import Subscriber
from tests.admin_support import OWNER, PASSWORD, SLUG, csrf_of, open_project
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


def _quiet_project(config_path: Path, monkeypatch: pytest.MonkeyPatch) -> Services:
    import yaml

    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    config["newsletters"][0]["quiet_hours"] = "21:00-08:00"
    config_path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return open_project(config_path, monkeypatch, readers=2)


def test_send_now_inside_quiet_hours_asks_again(
    config_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import newsletter.timing.guard as guard

    services = _quiet_project(config_path, monkeypatch)
    monkeypatch.setattr(
        guard, "utcnow", lambda: datetime(2030, 3, 1, 14, 0, tzinfo=UTC)
    )  # 23:00 KST
    try:
        with TestClient(create_app(services), follow_redirects=False) as client:
            token = _login(client)
            asked = client.post(f"/admin/issues/{SLUG}/send", data={"csrf_token": token})
            assert asked.status_code == 409
            assert 'id="quiet-hours"' in asked.text
            assert 'name="force" value="yes"' in asked.text
            with services.sessions() as session:
                assert delivery_store.send_for_issue(session, SLUG) is None
            sent = client.post(
                f"/admin/issues/{SLUG}/send", data={"csrf_token": token, "force": "yes"}
            )
            assert sent.status_code == 303 and sent.headers["location"].startswith("/admin/sends/")
    finally:
        services.close()


def test_the_issues_page_notes_an_instant_moved_by_quiet_hours(
    config_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = _quiet_project(config_path, monkeypatch)
    try:
        _write(config_path.parent / "issues", "late", ["date: 2030-03-02 23:30"])
        _write(
            config_path.parent / "issues", "morning", ["date: 2030-03-04 09:00", "deliver: local"]
        )
        sync_issues(services)
        with TestClient(create_app(services), follow_redirects=False) as client:
            _login(client)
            page = client.get("/admin/issues").text
        row = page[page.index('data-slug="late"') :]
        row = row[: row.index("</tr>")]
        assert "2030-03-03 08:00 KST" in row
        # The dashboard speaks the site's language (ko) by default.
        assert "방해 금지 시간(21:00-08:00) 때문에 2030-03-02 23:30 KST에서 옮김" in row
        local = page[page.index('data-slug="morning"') :]
        assert "독자별 현지 시각 2030-03-04 09:00" in local[: local.index("</tr>")]
    finally:
        services.close()
