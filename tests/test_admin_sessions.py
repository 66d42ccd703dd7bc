"""Admin sessions live server-side: logout ends them for every copy of the cookie, and
failed logins are counted per address and hour instead of flooding the action log."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from newsletter.accounts.models import AdminLoginFailure, AdminSessionRow
from newsletter.services import Services
from newsletter.web import create_app
from subscribers.db import utcnow
from tests.admin_support import OWNER, PASSWORD, SLUG, admin_services, csrf_of
from tests.test_admin import admin_events, login

__all__ = ["admin_services"]


@pytest.fixture
def client(admin_services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(admin_services), follow_redirects=False) as test_client:
        yield test_client


def test_the_old_cookie_stops_working_after_logout(
    client: TestClient, admin_services: Services
) -> None:
    token = login(client)
    stolen = client.cookies.get("nl_admin", path="/admin")
    assert stolen
    assert client.post("/admin/logout", data={"csrf_token": token}).status_code == 303
    with TestClient(create_app(admin_services), follow_redirects=False) as other:
        other.cookies.set("nl_admin", stolen, path="/admin")
        assert other.get("/admin/issues").status_code == 303
        assert other.get(f"/admin/issues/{SLUG}").status_code == 303
        # Not even a form with the session's own CSRF token goes through.
        sent = other.post(f"/admin/issues/{SLUG}/cancel", data={"csrf_token": token})
        assert sent.status_code == 303 and sent.headers["location"] == "/admin/login"
    with admin_services.sessions() as session:
        row = session.scalar(select(AdminSessionRow))
        assert row is not None and row.ended_at is not None
        assert row.id != stolen  # only a hash of the id is stored


def test_logout_ends_only_its_own_session(client: TestClient, admin_services: Services) -> None:
    with TestClient(create_app(admin_services), follow_redirects=False) as second:
        login(second)
        token = login(client)
        client.post("/admin/logout", data={"csrf_token": token})
        assert second.get("/admin/issues").status_code == 200
        assert client.get("/admin/issues").status_code == 303


def test_an_expired_session_is_refused_server_side(
    client: TestClient, admin_services: Services
) -> None:
    login(client)
    with admin_services.sessions.begin() as session:
        session.execute(update(AdminSessionRow).values(expires_at=utcnow() - timedelta(1)))
    assert client.get("/admin/issues").status_code == 303


def test_a_session_without_a_record_is_refused(
    client: TestClient, admin_services: Services
) -> None:
    login(client)
    with admin_services.sessions.begin() as session:
        session.query(AdminSessionRow).delete()
    assert client.get("/admin/issues").status_code == 303
    assert client.get("/admin/login").status_code == 200  # the login form, not a redirect


def test_failed_logins_are_one_row_per_address_not_a_flood(
    client: TestClient, admin_services: Services
) -> None:
    token = csrf_of(client.get("/admin/login").text)
    limit = admin_services.settings.web.login_rate_limit
    for _ in range(limit + 20):
        client.post("/admin/login", data={"email": OWNER, "password": "guess", "csrf_token": token})
    with admin_services.sessions() as session:
        rows = list(session.scalars(select(AdminLoginFailure)))
    assert len(rows) == 1
    assert (rows[0].wrong, rows[0].limited) == (limit, 20)
    events = admin_events(admin_services)
    assert not any("login_failed" in e or "login_limited" in e for e in events), events
    # The issues page sums them instead of listing them.
    # The owner, from another address, is not locked out by the guesses (throttled per
    # address and per account from an address; the account-wide count is not reached).
    other = ("198.51.100.9", 50000)
    second = TestClient(create_app(admin_services), follow_redirects=False, client=other)
    with second:
        login(second)
        page = second.get("/admin/issues", headers={"Accept-Language": "en"}).text
    assert 'id="failed-logins"' in page
    assert f"{limit + 20} from 1 address" in page
    assert page.count("login_failed") == 0


def test_a_successful_login_still_appears_in_the_log(
    client: TestClient, admin_services: Services
) -> None:
    token = csrf_of(client.get("/admin/login").text)
    client.post("/admin/login", data={"email": OWNER, "password": PASSWORD, "csrf_token": token})
    assert admin_events(admin_services) == ["admin_action:login"]
