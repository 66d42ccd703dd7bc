"""/api/v1/subscribers through the real app: create (double opt-in), list, update, erase."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from newsletter.services import Services
from subscribers.models import ConsentRecord
from tests.fixtures.web import Outbox, add_subscriber, link

URL = "/api/v1/subscribers"


def test_create_is_double_opt_in_and_the_confirmation_email_goes(
    api: TestClient, outbox: Outbox
) -> None:
    answer = api.post(URL, json={"email": "Reader@Example.org", "name": "읽는 사람"})
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["pending"] == ["weekly"] and body["confirmation_sent"] is True
    assert body["subscriber"]["subscriptions"][0]["status"] == "pending"
    [message] = outbox.wait_for("reader@example.org")
    api.post(link(message, "confirm"))  # the person confirms through the emailed link
    person = api.get(f"{URL}/{body['subscriber']['id']}").json()
    assert person["subscriptions"][0]["status"] == "active"


def test_confirmed_needs_a_consent_source_which_is_recorded(
    api: TestClient, services: Services, outbox: Outbox
) -> None:
    refused = api.post(URL, json={"email": "c@example.org", "confirmed": True})
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "consent"
    assert api.get(URL).json()["data"] == []  # nothing written
    consent = {"source": "paper form, Seoul meetup 2026-11-20", "ip": "203.0.113.9"}
    answer = api.post(URL, json={"email": "c@example.org", "confirmed": True, "consent": consent})
    assert answer.status_code == 201
    assert answer.json()["active"] == ["weekly"] and not answer.json()["confirmation_sent"]
    with services.sessions() as session:
        record = session.scalars(select(ConsentRecord)).one()
    assert record.source == "api" and record.confirmed_at is not None
    assert "paper form, Seoul meetup" in record.user_agent and "api:crm" in record.user_agent
    assert record.ip == "203.0.113.9"
    assert outbox.to("c@example.org") == []


def test_list_pages_with_a_cursor_and_filters(api: TestClient, services: Services) -> None:
    ids = [add_subscriber(services, f"p{i}@example.org", ("weekly",)) for i in range(5)]
    extra = add_subscriber(services, "letters@example.org", ("letters",))
    seen, cursor = [], None
    while True:
        params: dict[str, str | int] = {"limit": 2, "newsletter": "weekly"}
        if cursor:
            params["cursor"] = cursor
        page = api.get(URL, params=params).json()
        seen += [p["id"] for p in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids and extra not in seen
    pending = api.get(URL, params={"status": "pending"}).json()["data"]
    assert pending == []
    future = api.get(URL, params={"created_since": "2999-01-01T00:00:00Z"}).json()
    assert future["data"] == []


def test_a_tampered_cursor_or_one_for_other_filters_is_422(
    api: TestClient, services: Services
) -> None:
    for i in range(3):
        add_subscriber(services, f"t{i}@example.org", ("weekly",))
    cursor = api.get(URL, params={"limit": 1}).json()["next_cursor"]
    assert api.get(URL, params={"limit": 1, "cursor": cursor}).status_code == 200
    tampered = cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB")
    for bad, params in ((tampered, {}), (cursor, {"newsletter": "letters"})):
        answer = api.get(URL, params={"limit": 1, "cursor": bad, **params})
        assert answer.status_code == 422
        assert answer.json()["errors"][0]["field"] == "query.cursor"


def test_update_name_timezone_and_newsletters(
    api: TestClient, services: Services, outbox: Outbox
) -> None:
    person = add_subscriber(services, "u@example.org", ("weekly",))
    answer = api.patch(
        f"{URL}/{person}",
        json={"name": "New", "timezone": "Europe/Berlin", "newsletters": ["letters"]},
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["name"] == "New" and body["timezone"] == "Europe/Berlin"
    states = {s["newsletter"]: s["status"] for s in body["subscriptions"]}
    assert states == {"weekly": "unsubscribed", "letters": "pending"}
    assert outbox.wait_for("u@example.org")  # the new newsletter is double opt-in
    bad = api.patch(f"{URL}/{person}", json={"timezone": "Mars/Olympus"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "timezone"


def test_unsubscribe_and_erase(api: TestClient, services: Services) -> None:
    person = add_subscriber(services, "e@example.org")
    one = api.post(f"{URL}/{person}/unsubscribe", json={"newsletter": "weekly"})
    states = {s["newsletter"]: s["status"] for s in one.json()["subscriptions"]}
    assert states == {"letters": "active", "weekly": "unsubscribed"}
    assert api.delete(f"{URL}/{person}").status_code == 204
    assert api.get(f"{URL}/{person}").status_code == 404
    assert api.delete(f"{URL}/{person}").status_code == 404
    again = api.post(URL, json={"email": "e@example.org"})
    assert again.status_code == 409  # suppressed: only the person can opt in again


def test_bad_input_names_the_field_and_writes_nothing(api: TestClient) -> None:
    cases = [
        ({"email": "not an address"}, "email"),
        ({"email": "a@example.org", "colour": "red"}, "colour"),
        ({"email": 42}, "email"),
        ({"email": "a@example.org", "newsletters": ["nope"]}, "newsletters"),
        ({"email": "a@example.org", "newsletters": "weekly"}, "newsletters"),
    ]
    for payload, field in cases:
        answer = api.post(URL, json=payload)
        assert answer.status_code == 422, (payload, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
        assert field in [e["field"] for e in answer.json()["errors"]], answer.json()
    not_json = api.post(URL, content=b"{", headers={"content-type": "application/json"})
    assert not_json.status_code == 422
    assert api.get(URL).json()["data"] == []
