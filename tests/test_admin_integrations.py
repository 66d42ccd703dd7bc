"""The dashboard's integrations page: API keys and webhooks created once-shown, revoked,
re-enabled, with the audit log; through the real app and its login and CSRF checks."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from newsletter.db import transaction
from newsletter.outgoing_webhooks import store as webhook_store
from newsletter.services import Services
from newsletter.web import create_app
from subscribers.db import utcnow
from subscribers.models import Event
from tests.admin_support import OWNER, PASSWORD, admin_services, csrf_of

__all__ = ["admin_services"]


@pytest.fixture
def client(admin_services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(admin_services), follow_redirects=False) as test_client:
        page = test_client.get("/admin/login")
        test_client.post(
            "/admin/login",
            data={"email": OWNER, "password": PASSWORD, "csrf_token": csrf_of(page.text)},
        )
        yield test_client


def test_a_key_made_in_the_dashboard_works_once_shown_and_is_revoked(
    client: TestClient, admin_services: Services
) -> None:
    page = client.get("/admin/integrations")
    assert page.status_code == 200 and "subscribers:read" in page.text
    token = csrf_of(page.text)
    made = client.post(
        "/admin/integrations/keys",
        data={"csrf_token": token, "name": "site", "scopes": ["subscribers:read"]},
    )
    assert made.status_code == 200 and made.headers["cache-control"] == "no-store"
    secret = re.search(r"<code>(nlk_[^<]+)</code>", made.text)
    assert secret, made.text
    api = {"Authorization": f"Bearer {secret[1]}"}
    assert client.get("/api/v1/subscribers", headers=api).status_code == 200
    assert secret[1] not in client.get("/admin/integrations").text  # shown once
    forged = client.post("/admin/integrations/keys/site/revoke", data={"csrf_token": "x"})
    assert forged.status_code == 403
    client.post("/admin/integrations/keys/site/revoke", data={"csrf_token": token})
    assert client.get("/api/v1/subscribers", headers=api).status_code == 401
    with admin_services.sessions() as session:
        actions = [e.how for e in session.scalars(select(Event).where(Event.actor == OWNER))]
    assert "api_key_created" in actions and "api_key_revoked" in actions


def test_bad_key_input_is_422_with_the_reason(client: TestClient) -> None:
    token = csrf_of(client.get("/admin/integrations").text)
    answer = client.post(
        "/admin/integrations/keys", data={"csrf_token": token, "name": "x", "scopes": []}
    )
    assert answer.status_code == 422 and "scope" in answer.text


def test_webhooks_added_enabled_and_removed(client: TestClient, admin_services: Services) -> None:
    token = csrf_of(client.get("/admin/integrations").text)
    added = client.post(
        "/admin/integrations/webhooks",
        data={"csrf_token": token, "url": "https://crm.example.org/in", "events": ["send.started"]},
    )
    assert added.status_code == 200 and "whsec_" in added.text
    with transaction(admin_services.sessions) as session:
        [endpoint] = webhook_store.all_endpoints(session)
        webhook_store.disable_endpoint(session, endpoint.id, at=utcnow(), reason="5 failures")
    page = client.get("/admin/integrations").text
    assert "5 failures" in page and "whsec_" not in page
    client.post(f"/admin/integrations/webhooks/{endpoint.id}/enable", data={"csrf_token": token})
    with admin_services.sessions() as session:
        assert webhook_store.all_endpoints(session)[0].disabled_at is None
    client.post(f"/admin/integrations/webhooks/{endpoint.id}/remove", data={"csrf_token": token})
    with admin_services.sessions() as session:
        assert webhook_store.all_endpoints(session) == []
