"""per_reader: a reader's clicks on their admin page and in their data export, gone on erasure;
aggregate: nothing tied to a person."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from newsletter.accounts.service import BOOTSTRAP_EMAIL
from newsletter.services import Services
from newsletter.tracking.models import Hit
from newsletter.web import create_app
from subscribers.tokens import TokenPurpose
from tests.admin_support import PASSWORD, csrf_of
from tests.tracking_support import (
    LINKS,
    READERS,
    Tracked,
    app_client,
    delivered,
    path_of,
    send_issue,
    tracked_links,
)

pytestmark = pytest.mark.db
BROWSER = {"user-agent": "Mozilla/5.0 (Macintosh) AppleWebKit/605.1.15 Safari/605.1.15"}


def _click_second_link(tracked: Tracked, mode: str, monkeypatch: pytest.MonkeyPatch) -> Services:
    monkeypatch.setenv("NEWSLETTER_ADMIN_PASSWORD", PASSWORD)
    services = tracked(tracking=mode)
    send_issue(services, readers=READERS[:2])
    with app_client(services) as client:
        link = path_of(tracked_links(delivered(services, READERS[0]))[1])
        assert client.get(link, headers=BROWSER).headers["location"] == LINKS[1]
    return services


def _export(client: TestClient, services: Services, subscriber_id: int) -> dict[str, object]:
    token = services.tokens.dumps(TokenPurpose.DATA, subscriber_id)
    page = client.get(f"/data/{token}")
    response = client.post(
        f"/data/{token}", data={"csrf_token": csrf_of(page.text), "action": "export"}
    )
    assert response.status_code == 200, response.text
    return dict(json.loads(response.content))


def _hits(services: Services) -> int:
    with services.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(Hit)) or 0)


def _admin(client: TestClient) -> str:
    page = client.get("/admin/login")
    client.post(
        "/admin/login",
        data={"email": BOOTSTRAP_EMAIL, "password": PASSWORD, "csrf_token": csrf_of(page.text)},
    )
    return csrf_of(client.get("/admin/issues").text)


def test_per_reader_clicks_show_to_admin_and_reader_and_go_with_erasure(
    tracked: Tracked, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = _click_second_link(tracked, "per_reader", monkeypatch)
    sid, other = 1, 2
    app = create_app(services)
    base = "https://news.example.org"
    with TestClient(app, base_url=base, follow_redirects=False) as client:
        token = _admin(client)
        page = client.get(f"/admin/subscribers/{sid}").text
        assert 'id="clicks"' in page and LINKS[1] in page
        assert 'id="clicks"' not in client.get(f"/admin/subscribers/{other}").text
        exported = _export(client, services, sid)
        assert [c["url"] for c in exported["clicks"]] == [LINKS[1]]  # type: ignore[index]
        assert exported["clicks"][0]["issue"] == "hello"  # type: ignore[index]
        assert _hits(services) == 1
        client.post(f"/admin/subscribers/{sid}/erase", data={"csrf_token": token, "confirm": "yes"})
    assert _hits(services) == 0


def test_aggregate_clicks_belong_to_nobody(
    tracked: Tracked, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = _click_second_link(tracked, "aggregate", monkeypatch)
    with TestClient(create_app(services), base_url="https://news.example.org") as client:
        assert _export(client, services, 1)["clicks"] == []
        _admin(client)
        assert 'id="clicks"' not in client.get("/admin/subscribers/1").text
    with services.sessions() as session:
        row = session.execute(select(Hit.subscriber_id, Hit.delivery_id, Hit.reader)).one()
    assert row[:2] == (None, None) and row[2].startswith("a")
