"""The API: advertising consent on create (single or double opt-in), PATCH and in answers."""

from __future__ import annotations

from fastapi.testclient import TestClient

from newsletter.services import Services
from subscribers import ad_consent
from tests.fixtures.web import Outbox, link

URL = "/api/v1/subscribers"


def _given(services: Services, subscriber_id: int) -> list[str]:
    with services.sessions() as session:
        return ad_consent.given_newsletters(session, subscriber_id)


def test_a_confirmed_create_gives_the_consent_at_once(api: TestClient, services: Services) -> None:
    consent = {"source": "paper form", "ip": "203.0.113.9"}
    answer = api.post(
        URL,
        json={"email": "a@example.org", "confirmed": True, "consent": consent, "ad_consent": True},
    )
    assert answer.status_code == 201
    subscriber = answer.json()["subscriber"]
    assert subscriber["subscriptions"][0]["ad_consent"] is True
    with services.sessions() as session:
        (record,) = ad_consent.records_of(session, subscriber["id"])
    assert (record.source, record.ip) == ("api", "203.0.113.9")


def test_a_double_opt_in_create_waits_for_the_confirmation(
    api: TestClient, services: Services, outbox: Outbox
) -> None:
    answer = api.post(URL, json={"email": "b@example.org", "ad_consent": True})
    sid = answer.json()["subscriber"]["id"]
    assert _given(services, sid) == []
    (confirmation,) = outbox.wait_for("b@example.org")
    api.post(link(confirmation, "confirm"))
    assert _given(services, sid) == ["weekly"]


def test_patch_gives_and_withdraws_and_refuses_an_unknown_newsletter(
    api: TestClient, services: Services
) -> None:
    consent = {"source": "crm"}
    sid = api.post(
        URL, json={"email": "c@example.org", "confirmed": True, "consent": consent}
    ).json()["subscriber"]["id"]
    answer = api.patch(f"{URL}/{sid}", json={"ad_consent": {"weekly": True}})
    assert answer.status_code == 200
    assert answer.json()["subscriptions"][0]["ad_consent"] is True
    api.patch(f"{URL}/{sid}", json={"ad_consent": {"weekly": False}})
    assert _given(services, sid) == []
    refused = api.patch(f"{URL}/{sid}", json={"ad_consent": {"nope": True}})
    assert refused.status_code == 422
