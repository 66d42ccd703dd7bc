"""The dashboard over HTTP: login, CSRF, issues, test sends, schedule, send now, report."""

from __future__ import annotations

import time
from collections.abc import Iterator
from email import message_from_bytes
from email.policy import default
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from newsletter.accounts.models import AdminLoginFailure
from newsletter.delivery.models import Send
from newsletter.models import Issue
from newsletter.services import Services
from newsletter.settings import load_settings
from newsletter.web import create_app
from subscribers.models import Event
from tests.admin_support import (
    OWNER,
    PASSWORD,
    SLUG,
    admin_services,
    csrf_of,
    open_project,
    outbox_files,
)

__all__ = ["admin_services"]


@pytest.fixture
def client(admin_services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(admin_services), follow_redirects=False) as test_client:
        yield test_client


def login(client: TestClient) -> str:
    """Log in; return the session's CSRF token (from the issues page)."""
    page = client.get("/admin/login")
    response = client.post(
        "/admin/login",
        data={"email": OWNER, "password": PASSWORD, "csrf_token": csrf_of(page.text)},
    )
    assert response.status_code == 303
    return csrf_of(client.get("/admin/issues").text)


def admin_events(services: Services) -> list[str]:
    with services.sessions() as session:
        rows = session.scalars(
            select(Event)
            .where(Event.actor == OWNER, Event.kind == "admin_action")
            .order_by(Event.id)
        )
        return [f"{e.kind}:{e.how}" for e in rows]


def test_no_password_no_dashboard(config_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NEWSLETTER_ADMIN_PASSWORD", raising=False)
    services = Services.open(load_settings(config_path))
    try:
        with TestClient(create_app(services), follow_redirects=False) as client:
            for path in ("/admin", "/admin/login", "/admin/issues", "/admin/subscribers"):
                assert client.get(path).status_code == 404
            assert (
                client.post("/admin/login", data={"email": OWNER, "password": ""}).status_code
                == 404
            )
    finally:
        services.close()


def test_pages_need_a_session(client: TestClient) -> None:
    response = client.get("/admin/issues")
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/login"


def test_wrong_password_is_refused_and_logged(client: TestClient, admin_services: Services) -> None:
    page = client.get("/admin/login")
    response = client.post(
        "/admin/login", data={"email": OWNER, "password": "guess", "csrf_token": csrf_of(page.text)}
    )
    assert response.status_code == 401
    assert "nl_admin=" not in response.headers.get("set-cookie", "")
    assert client.get("/admin/issues").status_code == 303
    # Counted per address and hour (test_admin_sessions.py), not one log line per attempt.
    with admin_services.sessions() as session:
        assert session.scalar(select(AdminLoginFailure.wrong)) == 1


def test_login_without_its_csrf_token_is_refused(client: TestClient) -> None:
    client.get("/admin/login")
    assert (
        client.post("/admin/login", data={"email": OWNER, "password": PASSWORD}).status_code == 403
    )


def test_logins_are_rate_limited(client: TestClient, admin_services: Services) -> None:
    token = csrf_of(client.get("/admin/login").text)
    limit = admin_services.settings.web.login_rate_limit
    statuses = [
        client.post(
            "/admin/login", data={"email": OWNER, "password": "x", "csrf_token": token}
        ).status_code
        for _ in range(limit)
    ]
    assert statuses == [401] * limit
    # Even the right password waits out the window now.
    right = client.post(
        "/admin/login", data={"email": OWNER, "password": PASSWORD, "csrf_token": token}
    )
    assert right.status_code == 429


def test_session_cookie_is_httponly_and_samesite(client: TestClient) -> None:
    token = csrf_of(client.get("/admin/login").text)
    response = client.post(
        "/admin/login", data={"email": OWNER, "password": PASSWORD, "csrf_token": token}
    )
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("nl_admin="))
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie


def test_forged_session_cookie_is_not_a_session(client: TestClient) -> None:
    client.cookies.set("nl_admin", "eyJjc3JmIjoieCJ9.forged.signature", path="/admin")
    assert client.get("/admin/issues").status_code == 303


def test_actions_without_csrf_token_are_refused(
    client: TestClient, admin_services: Services
) -> None:
    login(client)
    for path in (
        f"/admin/issues/{SLUG}/schedule",
        f"/admin/issues/{SLUG}/cancel",
        f"/admin/issues/{SLUG}/send",
        f"/admin/issues/{SLUG}/test",
        "/admin/subscribers/1/erase",
    ):
        assert client.post(path, data={"to": "x@example.org"}).status_code == 403, path
        assert client.post(path, data={"csrf_token": "wrong"}).status_code == 403, path
    with admin_services.sessions() as session:
        assert session.scalar(select(Send)) is None
        assert session.scalar(select(Issue.status)) == "scheduled"


def test_issue_list_shows_status_and_local_time(client: TestClient) -> None:
    login(client)
    page = client.get("/admin/issues", headers={"Accept-Language": "ko"})
    assert "현장 노트" in page.text
    assert "예약됨" in page.text
    assert "KST" in page.text  # Asia/Seoul, the site's zone


def test_preview_embeds_the_email_at_two_widths(client: TestClient) -> None:
    login(client)
    page = client.get(f"/admin/issues/{SLUG}")
    assert page.status_code == 200
    assert 'id="preview-phone"' in page.text and 'width="375"' in page.text
    assert 'id="preview-desktop"' in page.text
    assert 'srcdoc="&lt;!doctype html' in page.text.lower()
    assert "3명이 받습니다" in page.text or "3 people" in page.text


def test_check_shows_its_report(client: TestClient, admin_services: Services) -> None:
    token = login(client)
    page = client.post(f"/admin/issues/{SLUG}/check", data={"csrf_token": token})
    assert page.status_code == 200
    assert 'id="check-report"' in page.text
    assert "admin_action:check" in admin_events(admin_services)


def test_test_send_goes_to_the_outbox_not_the_ledger(
    client: TestClient, admin_services: Services
) -> None:
    token = login(client)
    page = client.post(
        f"/admin/issues/{SLUG}/test",
        data={"csrf_token": token, "to": "editor@example.org, 편집@example.org"},
    )
    assert page.status_code == 200, page.text
    assert len(outbox_files(admin_services)) == 2
    message = message_from_bytes(outbox_files(admin_services)[0].read_bytes(), policy=default)
    assert str(message["Subject"]).startswith("[테스트] 현장 노트")
    with admin_services.sessions() as session:
        assert session.scalar(select(Send)) is None
    bad = client.post(f"/admin/issues/{SLUG}/test", data={"csrf_token": token, "to": "nope"})
    assert bad.status_code == 400


def test_schedule_reschedule_and_cancel(client: TestClient, admin_services: Services) -> None:
    token = login(client)
    done = client.post(
        f"/admin/issues/{SLUG}/schedule", data={"csrf_token": token, "at": "2031-03-02T09:00"}
    )
    assert done.status_code == 303
    page = client.get(done.headers["location"])
    assert "2031-03-02 09:00 KST" in page.text
    past = client.post(
        f"/admin/issues/{SLUG}/schedule", data={"csrf_token": token, "at": "2001-01-01T09:00"}
    )
    assert past.status_code == 409
    assert (
        client.post(f"/admin/issues/{SLUG}/cancel", data={"csrf_token": token}).status_code == 303
    )
    with admin_services.sessions() as session:
        assert session.scalar(select(Issue.status)) == "cancelled"
    assert admin_events(admin_services)[-2:] == ["admin_action:schedule", "admin_action:cancel"]


def test_send_now_confirms_the_audience_then_sends_once(
    client: TestClient, admin_services: Services
) -> None:
    token = login(client)
    confirm = client.get(f"/admin/issues/{SLUG}/send")
    assert "3" in confirm.text and 'id="confirm-body"' in confirm.text
    started = client.post(f"/admin/issues/{SLUG}/send", data={"csrf_token": token})
    assert started.status_code == 303
    send_page = started.headers["location"]
    for _ in range(100):
        page = client.get(send_page)
        if 'data-status="sent"' in page.text:
            break
        assert 'http-equiv="refresh"' in page.text
        time.sleep(0.1)
    assert 'data-status="sent"' in page.text
    assert 'id="fig-accepted">3<' in page.text
    assert "<svg" in page.text
    assert len(outbox_files(admin_services)) == 3
    # A second "send now" sends nothing more (refused once the issue reads "sent").
    again = client.post(f"/admin/issues/{SLUG}/send", data={"csrf_token": token})
    assert again.status_code in (303, 409)
    time.sleep(0.3)
    assert len(outbox_files(admin_services)) == 3


def test_subscriber_search_view_unsubscribe_and_erase(
    client: TestClient, admin_services: Services
) -> None:
    token = login(client)
    found = client.get("/admin/subscribers", params={"q": "reader1"})
    assert "reader1@example.org" in found.text and "reader2@example.org" not in found.text
    with admin_services.sessions() as session:
        from subscribers.queries import find_subscriber

        person = find_subscriber(session, "reader1@example.org")
        assert person is not None
        person_id = person.id
    view = client.get(f"/admin/subscribers/{person_id}")
    assert 'id="consents"' in view.text and "admin" in view.text
    done = client.post(f"/admin/subscribers/{person_id}/unsubscribe", data={"csrf_token": token})
    assert done.status_code == 303
    assert "unsubscribed" in client.get(f"/admin/subscribers/{person_id}").text
    not_ticked = client.post(f"/admin/subscribers/{person_id}/erase", data={"csrf_token": token})
    assert "erase_unconfirmed" in not_ticked.headers["location"]
    client.post(
        f"/admin/subscribers/{person_id}/erase", data={"csrf_token": token, "confirm": "yes"}
    )
    assert "reader1@example.org" not in client.get(f"/admin/subscribers/{person_id}").text
    assert admin_events(admin_services)[-2:] == ["admin_action:unsubscribe", "admin_action:erase"]


def test_csv_import_reports_like_the_cli(client: TestClient, admin_services: Services) -> None:
    token = login(client)
    csv = "email,name\nnew1@example.org,새 독자\nnew2@example.org,Second\nbroken,Bad\n"
    refused = client.post(
        "/admin/subscribers/import",
        data={"csrf_token": token, "newsletter": "weekly"},
        files={"file": ("people.csv", csv.encode(), "text/csv")},
    )
    assert refused.status_code == 422
    assert "new1@example.org" not in client.get("/admin/subscribers").text
    partial = client.post(
        "/admin/subscribers/import",
        data={"csrf_token": token, "newsletter": "weekly", "partial": "yes"},
        files={"file": ("people.csv", csv.encode(), "text/csv")},
    )
    assert partial.status_code == 200
    assert "<th>imported</th><td>2</td>" in partial.text
    assert "<th>invalid</th><td>1</td>" in partial.text
    assert "new1@example.org" in client.get("/admin/subscribers").text


def test_pause_and_resume_a_running_send(
    config_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two emails a second: the send of eight takes long enough to be caught running.
    monkeypatch.setenv("NEWSLETTER_DELIVERY__RATE_LIMIT_PER_SECOND", "2")
    services = open_project(config_path, monkeypatch, readers=8)
    try:
        with TestClient(create_app(services), follow_redirects=False) as client:
            token = login(client)
            send_page = client.post(
                f"/admin/issues/{SLUG}/send", data={"csrf_token": token}
            ).headers["location"]
            send_id = send_page.rsplit("/", 1)[1]
            paused = client.post(f"/admin/sends/{send_id}/pause", data={"csrf_token": token})
            assert paused.status_code == 303
            time.sleep(1.5)  # the runner stops before its next batch
            page = client.get(send_page).text
            assert 'data-status="paused"' in page
            assert len(outbox_files(services)) < 8
            assert "/resume" in page
            client.post(f"/admin/sends/{send_id}/resume", data={"csrf_token": token})
            for _ in range(150):
                if 'data-status="sent"' in client.get(send_page).text:
                    break
                time.sleep(0.1)
            assert len(outbox_files(services)) == 8
            time.sleep(0.3)
            with services.sessions() as session:
                assert session.scalar(select(Issue.status)) == "sent"
            assert admin_events(services)[-2:] == ["admin_action:pause", "admin_action:resume"]
    finally:
        services.close()
