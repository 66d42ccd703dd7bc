"""The dashboard's send page: people who clicked by provider and link, machines apart, CSV;
and a plain word when tracking is off."""

from __future__ import annotations

import csv
import io
import re

import pytest
from fastapi.testclient import TestClient

from newsletter.accounts.service import BOOTSTRAP_EMAIL
from newsletter.api import keys
from newsletter.api.scopes import SCOPES
from newsletter.db import transaction
from newsletter.delivery import start_send
from newsletter.services import Services
from newsletter.web import create_app
from tests.admin_support import PASSWORD, csrf_of
from tests.fixtures.api import bearer
from tests.fixtures.issues import issue_text
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
BROWSER = {"user-agent": "Mozilla/5.0 (Linux; Android 14) Chrome/126.0 Mobile Safari/537.36"}


def _admin_client(services: Services) -> TestClient:
    client = TestClient(create_app(services), base_url="https://news.example.org")
    page = client.get("/admin/login")
    client.post(
        "/admin/login",
        data={"email": BOOTSTRAP_EMAIL, "password": PASSWORD, "csrf_token": csrf_of(page.text)},
    )
    return client


def _figure(page: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}">([^<]*)<', page)
    assert match, element_id
    return match[1]


def test_send_page_counts_people_by_provider_and_link(
    tracked: Tracked, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSLETTER_ADMIN_PASSWORD", PASSWORD)
    services = tracked(tracking="per_reader")
    send_id = send_issue(services)
    with app_client(services) as client:
        hanmail = [path_of(u) for u in tracked_links(delivered(services, READERS[2]))]
        client.get(hanmail[1], headers=BROWSER)
        for path in [path_of(u) for u in tracked_links(delivered(services, READERS[4]))]:
            client.head(path, headers=BROWSER)
            client.get(path, headers=BROWSER)
    with _admin_client(services) as client:
        page = client.get(f"/admin/sends/{send_id}").text
        assert _figure(page, "fig-clickers") == "1"
        assert _figure(page, "fig-click-rate") == "20.0%"
        assert _figure(page, "fig-machine") == "10"
        row = re.search(
            r'data-provider="daum"><td>Daum/Kakao</td><td>(\d+)</td><td>(\d+)</td>', page
        )
        assert row and row.groups() == ("2", "1")
        assert LINKS[1] in page and 'id="tracking-off"' not in page
        exported = client.get(f"/admin/sends/{send_id}/engagement.csv")
        assert exported.headers["content-type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(exported.text)))
        assert ["provider", "Daum/Kakao", "2", "1", "0.5", "", ""] in rows
        assert ["link", LINKS[1], "", "1", "", "1", "2"] in rows


def test_send_page_says_plainly_when_tracking_is_off(
    tracked: Tracked, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSLETTER_ADMIN_PASSWORD", PASSWORD)
    services = tracked()
    send_id = send_issue(services, readers=READERS[:1])
    with _admin_client(services) as client:
        page = client.get(f"/admin/sends/{send_id}").text
        assert 'id="tracking-off"' in page and "tracking: aggregate" in page
        assert 'id="fig-clickers"' not in page


def test_the_api_gives_the_same_figures(tracked: Tracked) -> None:
    services = tracked(tracking="aggregate")
    send_id = send_issue(services)
    with app_client(services) as client:
        naver = [path_of(u) for u in tracked_links(delivered(services, READERS[0]))]
        client.get(naver[0], headers=BROWSER)
        client.head(naver[0], headers=BROWSER)
    with transaction(services.sessions) as session:
        secret = keys.create_key(session, "crm", scopes=SCOPES).secret
    with TestClient(create_app(services), base_url="https://news.example.org") as client:
        client.headers.update(bearer(secret))
        data = client.get(f"/api/v1/sends/{send_id}/engagement").json()
        assert client.get("/api/v1/sends/999999/engagement").status_code == 404
    assert data["clickers"] == 1 and data["delivered"] == 5 and data["tracking"] == "aggregate"
    assert data["machine_reasons"] == {"head": 1}
    assert {p["provider"]: p["clickers"] for p in data["providers"]}["naver"] == 1
    assert [link["url"] for link in data["links"]] == [LINKS[0], LINKS[1], LINKS[2]]
    assert len(data["first_hours"]) == 48


def test_the_last_issues_stand_side_by_side(
    tracked: Tracked, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSLETTER_ADMIN_PASSWORD", PASSWORD)
    services = tracked(tracking="aggregate")
    first = send_issue(services, readers=READERS[:2])
    folder = services.settings.path(services.settings.issues_dir)
    (folder / "2026-12-14-again.md").write_text(
        issue_text(body=f"[link]({LINKS[1]})\n", slug="again", date="2026-12-14 09:00 +0900"),
        encoding="utf-8",
    )
    second = start_send(services, "again").send_id
    with _admin_client(services) as client:
        page = client.get(f"/admin/sends/{second}").text
    table = page.split('id="side-by-side"', 1)[1].split("</table>", 1)[0]
    assert f'href="/admin/sends/{first}">hello' in table
    assert f'href="/admin/sends/{second}">again' in table
    assert table.index(">again<") < table.index(">hello<")  # newest first
