"""End to end: a real send through the SendGrid backend (to the local emulator), then the
events SendGrid would post for exactly what was sent, signed: the ledger, the report and
the readers follow. This checks the custom_args contract between the two areas."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from newsletter.delivery.emulator import Emulator
from newsletter.delivery.engine import start_send
from newsletter.delivery.models import Delivery, DeliveryStatus
from newsletter.events.store import outcome_counts
from newsletter.services import Services
from newsletter.web import create_app
from subscribers.models import Subscriber
from tests.admin_support import SLUG, open_project
from tests.webhook_support import SendgridSigner, body_of

SIGNER = SendgridSigner.generate()


@pytest.fixture
def sent(
    config_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Services, Emulator, int]]:
    """A project whose issue went out through SendGrid (the emulator) to three readers."""
    running = Emulator(api_key="test-key").start()
    monkeypatch.setenv("NEWSLETTER_DELIVERY__BACKEND", "sendgrid")
    monkeypatch.setenv("NEWSLETTER_DELIVERY__SENDGRID__HOST", running.url)
    monkeypatch.setenv("SENDGRID_API_KEY", "test-key")
    monkeypatch.setenv("SENDGRID_WEBHOOK_PUBLIC_KEY", SIGNER.public_key_b64)
    services = open_project(config_path, monkeypatch, readers=3)
    result = start_send(services, SLUG)
    assert result.status == "sent" and result.counts["accepted"] == 3
    yield services, running, result.send_id
    services.close()
    running.stop()


def events_for_what_was_sent(emulator: Emulator, kinds: list[str]) -> list[dict[str, Any]]:
    """One SendGrid event per personalization sent, echoing its custom_args as SendGrid does."""
    events = []
    personalizations = [
        (request.message_id, item)
        for request in emulator.state.accepted
        for item in (request.body or {})["personalizations"]
    ]
    assert len(personalizations) == len(kinds)
    for n, ((message_id, item), kind) in enumerate(zip(personalizations, kinds, strict=True)):
        event: dict[str, Any] = {
            "email": item["to"][0]["email"],
            "timestamp": 1_763_800_000 + n,
            "event": "bounce" if kind == "hard_bounce" else kind,
            "sg_event_id": f"evt-{n}",
            "sg_message_id": f"{message_id}.filter0001.{n}.0",
            **item["custom_args"],
        }
        if kind == "hard_bounce":
            event["type"] = "bounce"
        events.append(event)
    return events


def test_events_settle_the_ledger_and_protect_the_list(
    sent: tuple[Services, Emulator, int],
) -> None:
    services, emulator, send_id = sent
    events = events_for_what_was_sent(emulator, ["delivered", "hard_bounce", "spamreport"])
    assert {e["send_id"] for e in events} == {str(send_id)}
    # A crash had left one row unknown: its event proves SendGrid took it.
    with services.sessions.begin() as session:
        session.execute(
            update(Delivery)
            .where(Delivery.id == int(events[0]["delivery_id"]))
            .values(status=DeliveryStatus.UNKNOWN)
        )
    body = body_of(events)
    with TestClient(create_app(services)) as client:
        response = client.post("/webhooks/sendgrid", content=body, headers=SIGNER.headers(body))
    assert response.json()["stored"] == 3
    with services.sessions() as session:
        assert outcome_counts(session, send_id) == {
            "delivered": 1,
            "bounced": 1,
            "complained": 1,
        }
        statuses = {
            row.email: row.status
            for row in session.scalars(select(Subscriber).order_by(Subscriber.id))
        }
        ledger = set(session.scalars(select(Delivery.status).where(Delivery.send_id == send_id)))
    assert sorted(statuses.values()) == ["active", "bounced", "complained"]
    assert statuses[events[1]["email"]] == "bounced"
    assert statuses[events[2]["email"]] == "complained"
    assert ledger == {"accepted"}
