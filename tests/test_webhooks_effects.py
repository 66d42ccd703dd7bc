"""What SendGrid events change: subscribers, suppressions and the send ledger."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from newsletter.delivery.models import Delivery, DeliveryStatus, Send, SendStatus
from newsletter.events.store import outcome_counts
from newsletter.services import Services
from newsletter.settings import load_settings
from newsletter.web import create_app
from subscribers.addresses import address_hash
from subscribers.models import Event, Subscriber, Subscription, Suppression
from subscribers.service import Source, subscribe
from tests.webhook_support import SendgridSigner, body_of, event

URL = "/webhooks/sendgrid"
SIGNER = SendgridSigner.generate()


@pytest.fixture
def services(config_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Services]:
    """A fresh project trusting ``SIGNER``, with readers of both newsletters."""
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", "test-secret-key-0123456789abcdef")
    monkeypatch.setenv("SENDGRID_WEBHOOK_PUBLIC_KEY", SIGNER.public_key_b64)
    opened = Services.open(load_settings(config_path))
    with opened.sessions.begin() as session:
        for email in ("hard@example.org", "soft@example.org", "spam@example.org", "un@example.org"):
            subscribe(
                session,
                email=email,
                newsletters=["weekly", "letters"],
                source=Source.ADMIN,
                confirmed=True,
            )
    yield opened
    opened.close()


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(services)) as test_client:
        yield test_client


def post(client: TestClient, events: list[dict[str, object]]) -> None:
    body = body_of(events)
    response = client.post(URL, content=body, headers=SIGNER.headers(body))
    assert response.status_code == 200, response.text


def person(services: Services, email: str) -> tuple[str, dict[str, str]]:
    with services.sessions() as session:
        found = session.scalars(select(Subscriber).where(Subscriber.email == email)).one()
        subs = session.scalars(select(Subscription).where(Subscription.subscriber_id == found.id))
        return found.status, {s.newsletter_id: s.status for s in subs}


def suppressed(services: Services, email: str) -> str | None:
    with services.sessions() as session:
        row = session.get(Suppression, address_hash(email))
        return row.reason if row else None


def make_send(services: Services, *, statuses: list[str]) -> tuple[int, list[int]]:
    """A send of ``weekly`` with one ledger row per status (subscriber ids 1..n)."""
    with services.sessions.begin() as session:
        send = Send(issue_slug="first", newsletter_id="weekly", status=SendStatus.SENDING)
        session.add(send)
        session.flush()
        rows = [
            Delivery(send_id=send.id, subscriber_id=i + 1, status=status, batch="b1")
            for i, status in enumerate(statuses)
        ]
        session.add_all(rows)
        session.flush()
        return send.id, [row.id for row in rows]


def ledger(services: Services, ids: list[int]) -> list[str]:
    with services.sessions() as session:
        return [session.get(Delivery, i).status for i in ids]  # type: ignore[union-attr]


def test_hard_bounce_marks_bounced_and_suppresses(client: TestClient, services: Services) -> None:
    post(client, [event("bounce", "hard@example.org", type="bounce", reason="550 no such user")])
    status, subs = person(services, "hard@example.org")
    assert status == "bounced"
    assert set(subs.values()) == {"unsubscribed"}
    assert suppressed(services, "hard@example.org") == "bounced"


def test_soft_bounce_keeps_the_reader(client: TestClient, services: Services) -> None:
    post(client, [event("bounce", "soft@example.org", type="blocked", reason="421 try later")])
    status, subs = person(services, "soft@example.org")
    assert status == "active"
    assert set(subs.values()) == {"active"}
    assert suppressed(services, "soft@example.org") is None
    with services.sessions() as session:
        assert session.scalars(select(Event.kind).where(Event.how == "webhook")).all() == []


def test_spam_report_unsubscribes_from_all_and_suppresses(
    client: TestClient, services: Services
) -> None:
    post(client, [event("spamreport", "spam@example.org")])
    status, subs = person(services, "spam@example.org")
    assert status == "complained"
    assert subs == {"weekly": "unsubscribed", "letters": "unsubscribed"}
    assert suppressed(services, "spam@example.org") == "complained"


def test_group_unsubscribe_leaves_only_the_sends_newsletter(
    client: TestClient, services: Services
) -> None:
    send_id, _ids = make_send(services, statuses=["accepted"])
    post(client, [event("group_unsubscribe", "un@example.org", send_id=str(send_id))])
    assert person(services, "un@example.org") == (
        "active",
        {"weekly": "unsubscribed", "letters": "active"},
    )
    assert suppressed(services, "un@example.org") is None


def test_unsubscribe_event_unsubscribes_from_everything(
    client: TestClient, services: Services
) -> None:
    post(client, [event("unsubscribe", "un@example.org")])
    assert person(services, "un@example.org")[1] == {
        "weekly": "unsubscribed",
        "letters": "unsubscribed",
    }


def test_effects_apply_once_for_a_redelivered_complaint(
    client: TestClient, services: Services
) -> None:
    complaint = event("spamreport", "spam@example.org")
    post(client, [complaint])
    post(client, [{**complaint, "sg_event_id": "changed-on-redelivery"}])
    with services.sessions() as session:
        kinds = session.scalars(select(Event.kind).where(Event.kind == "complained")).all()
    assert kinds == ["complained"]


def test_unknown_addresses_are_stored_without_effects(
    client: TestClient, services: Services
) -> None:
    post(client, [event("bounce", "stranger@example.org"), event("spamreport", "not-an-address")])
    assert suppressed(services, "stranger@example.org") == "bounced"


def test_ledger_outcomes_follow_the_most_telling_event(
    client: TestClient, services: Services
) -> None:
    send_id, ids = make_send(services, statuses=["accepted"] * 4)
    args = {"send_id": str(send_id)}
    post(
        client,
        [
            event("deferred", "a@example.org", n=1, delivery_id=str(ids[0]), **args),
            event("delivered", "a@example.org", n=2, delivery_id=str(ids[0]), **args),
            event("delivered", "hard@example.org", n=3, delivery_id=str(ids[1]), **args),
            event("bounce", "hard@example.org", n=4, delivery_id=str(ids[2]), **args),
            event("dropped", "x@example.org", n=5, delivery_id=str(ids[3]), **args),
        ],
    )
    # A complaint later outranks the delivery; a late deferral does not undo it.
    post(
        client,
        [
            event("spamreport", "hard@example.org", n=6, delivery_id=str(ids[1]), **args),
            event("deferred", "a@example.org", n=7, delivery_id=str(ids[0]), **args),
        ],
    )
    with services.sessions() as session:
        counts = outcome_counts(session, send_id)
    assert counts == {"delivered": 1, "complained": 1, "bounced": 1, "dropped": 1}


def test_unknown_batch_is_settled_by_its_events(client: TestClient, services: Services) -> None:
    send_id, ids = make_send(
        services,
        statuses=[DeliveryStatus.UNKNOWN, DeliveryStatus.UNKNOWN, DeliveryStatus.UNKNOWN],
    )
    post(
        client,
        [
            event("delivered", "a@example.org", delivery_id=str(ids[0]), send_id=str(send_id)),
            event("bounce", "b@example.org", delivery_id=str(ids[1]), send_id=str(send_id)),
        ],
    )
    # The third got no event: its outcome stays unknown for `sends resume --retry-unknown`.
    assert ledger(services, ids) == ["accepted", "accepted", "unknown"]
