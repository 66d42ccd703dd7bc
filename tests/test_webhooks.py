"""POST /webhooks/sendgrid: signatures, tampering, replays, duplicates, tracking."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from newsletter.events.store import ProviderEventRecord
from newsletter.services import Services
from newsletter.settings import load_settings
from newsletter.web import create_app
from tests.webhook_support import SIGNATURE, TIMESTAMP, SendgridSigner, body_of, event

URL = "/webhooks/sendgrid"


@pytest.fixture(scope="module")
def signer() -> SendgridSigner:
    """The test's own SendGrid key pair."""
    return SendgridSigner.generate()


@pytest.fixture
def webhook_services(
    config_path: Path, monkeypatch: pytest.MonkeyPatch, signer: SendgridSigner
) -> Iterator[Services]:
    """A fresh project whose webhook trusts ``signer``'s public key."""
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", "test-secret-key-0123456789abcdef")
    monkeypatch.setenv("SENDGRID_WEBHOOK_PUBLIC_KEY", signer.public_key_b64)
    services = Services.open(load_settings(config_path))
    yield services
    services.close()


@pytest.fixture
def client(webhook_services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(webhook_services)) as test_client:
        yield test_client


def stored(services: Services) -> list[ProviderEventRecord]:
    with services.sessions() as session:
        return list(session.scalars(select(ProviderEventRecord).order_by(ProviderEventRecord.id)))


def test_signed_post_is_stored_with_its_raw_event(
    client: TestClient, signer: SendgridSigner, webhook_services: Services
) -> None:
    events = [
        event("delivered", "Reader@Example.org", send_id="7", delivery_id="70"),
        event("deferred", "late@example.org", response="try again later"),
    ]
    body = body_of(events)
    response = client.post(URL, content=body, headers=signer.headers(body))
    assert response.status_code == 200
    assert response.json() == {"received": 2, "stored": 2, "duplicates": 0, "ignored": 0}
    rows = stored(webhook_services)
    assert [(r.kind, r.email, r.send_id, r.delivery_id) for r in rows] == [
        ("delivered", "reader@example.org", 7, 70),
        ("deferred", "late@example.org", None, None),
    ]
    assert rows[0].raw == events[0]
    assert rows[1].reason == "try again later"


def test_korean_text_in_a_body_verifies_byte_for_byte(
    client: TestClient, signer: SendgridSigner, webhook_services: Services
) -> None:
    body = body_of([event("dropped", "독자@example.org", reason="수신 거부된 주소")])
    response = client.post(URL, content=body, headers=signer.headers(body))
    assert response.status_code == 200
    assert stored(webhook_services)[0].reason == "수신 거부된 주소"


def test_missing_signature_is_refused_and_nothing_stored(
    client: TestClient, webhook_services: Services
) -> None:
    body = body_of([event("delivered", "a@example.org")])
    response = client.post(URL, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 403
    assert stored(webhook_services) == []


def test_signature_from_another_key_is_refused(
    client: TestClient, webhook_services: Services
) -> None:
    body = body_of([event("delivered", "a@example.org")])
    impostor = SendgridSigner.generate()
    response = client.post(URL, content=body, headers=impostor.headers(body))
    assert response.status_code == 403
    assert stored(webhook_services) == []


def test_replay_with_a_changed_body_is_refused(
    client: TestClient, signer: SendgridSigner, webhook_services: Services
) -> None:
    original = body_of([event("delivered", "a@example.org")])
    headers = signer.headers(original)
    changed = body_of([event("spamreport", "a@example.org")])
    assert client.post(URL, content=changed, headers=headers).status_code == 403
    # One byte of whitespace is a change too: the signature covers the raw bytes.
    assert client.post(URL, content=original + b" ", headers=headers).status_code == 403
    assert stored(webhook_services) == []


def test_changed_timestamp_is_refused(
    client: TestClient, signer: SendgridSigner, webhook_services: Services
) -> None:
    body = body_of([event("delivered", "a@example.org")])
    headers = signer.headers(body, timestamp="1763700000")
    headers[TIMESTAMP] = "1763700001"
    assert client.post(URL, content=body, headers=headers).status_code == 403
    headers[SIGNATURE] = "not base64 at all!"
    assert client.post(URL, content=body, headers=headers).status_code == 403
    assert stored(webhook_services) == []


def test_replayed_post_is_stored_once(
    client: TestClient, signer: SendgridSigner, webhook_services: Services
) -> None:
    body = body_of([event("delivered", f"r{i}@example.org", n=i) for i in range(5)])
    headers = signer.headers(body)
    assert client.post(URL, content=body, headers=headers).json()["stored"] == 5
    second = client.post(URL, content=body, headers=headers).json()
    assert second == {"received": 5, "stored": 0, "duplicates": 5, "ignored": 0}
    assert len(stored(webhook_services)) == 5


def test_redelivery_with_a_new_sg_event_id_is_a_duplicate(
    client: TestClient, signer: SendgridSigner, webhook_services: Services
) -> None:
    first = event("bounce", "gone@example.org", type="bounce")
    again = {**first, "sg_event_id": "a-brand-new-id"}
    for body in (body_of([first]), body_of([again])):
        assert client.post(URL, content=body, headers=signer.headers(body)).status_code == 200
    rows = stored(webhook_services)
    assert len(rows) == 1
    assert rows[0].event_id == first["sg_event_id"]


def test_same_sg_event_id_is_a_duplicate_even_if_fields_differ(
    client: TestClient, signer: SendgridSigner, webhook_services: Services
) -> None:
    first = event("delivered", "a@example.org")
    retimed = {**first, "timestamp": first["timestamp"] + 60}
    body = body_of([first, retimed])
    result = client.post(URL, content=body, headers=signer.headers(body)).json()
    assert (result["stored"], result["duplicates"]) == (1, 1)


def test_opens_and_clicks_are_not_stored_without_tracking(
    client: TestClient, signer: SendgridSigner, webhook_services: Services
) -> None:
    body = body_of(
        [
            event("open", "a@example.org"),
            event("click", "a@example.org", url="https://example.org/x"),
            event("processed", "a@example.org"),
            event("delivered", "a@example.org"),
        ]
    )
    result = client.post(URL, content=body, headers=signer.headers(body)).json()
    assert result == {"received": 4, "stored": 1, "duplicates": 0, "ignored": 3}
    assert [r.kind for r in stored(webhook_services)] == ["delivered"]


def test_opens_and_clicks_are_stored_with_tracking(
    config_path: Path, monkeypatch: pytest.MonkeyPatch, signer: SendgridSigner
) -> None:
    monkeypatch.setenv("SENDGRID_WEBHOOK_PUBLIC_KEY", signer.public_key_b64)
    monkeypatch.setenv("NEWSLETTER_WEB__TRACKING", "true")
    services = Services.open(load_settings(config_path))
    try:
        body = body_of([event("open", "a@example.org"), event("click", "a@example.org")])
        with TestClient(create_app(services)) as client:
            assert client.post(URL, content=body, headers=signer.headers(body)).status_code == 200
        assert [r.kind for r in stored(services)] == ["opened", "clicked"]
    finally:
        services.close()


def test_without_a_configured_key_every_post_is_refused(
    config_path: Path, monkeypatch: pytest.MonkeyPatch, signer: SendgridSigner
) -> None:
    monkeypatch.delenv("SENDGRID_WEBHOOK_PUBLIC_KEY", raising=False)
    services = Services.open(load_settings(config_path))
    try:
        body = body_of([event("delivered", "a@example.org")])
        with TestClient(create_app(services)) as client:
            assert client.post(URL, content=body, headers=signer.headers(body)).status_code == 403
        with services.sessions() as session:
            assert session.scalar(select(func.count()).select_from(ProviderEventRecord)) == 0
    finally:
        services.close()


@pytest.mark.parametrize("body", [b"not json", b'{"event": "delivered"}', b"[1, 2]"])
def test_signed_garbage_is_a_bad_request(
    client: TestClient, signer: SendgridSigner, webhook_services: Services, body: bytes
) -> None:
    assert client.post(URL, content=body, headers=signer.headers(body)).status_code == 400
    assert stored(webhook_services) == []
