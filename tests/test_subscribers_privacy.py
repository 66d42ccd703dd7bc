from __future__ import annotations

import json
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from subscribers.addresses import address_hash
from subscribers.models import ConsentRecord, Event, Subscriber, Suppression
from subscribers.privacy import erase, export_person, remove
from subscribers.queries import active_recipients, find_subscriber
from subscribers.service import confirm, subscribe, unsubscribe


def test_export_holds_consent_records_and_events(session: Session) -> None:
    result = subscribe(
        session,
        email="kim@example.org",
        newsletters=["weekly"],
        name="김민수",
        ip="203.0.113.9",
        user_agent="Firefox",
        wording_version="v1",
    )
    confirm(session, subscriber_id=result.subscriber_id, ip="203.0.113.10")
    data = export_person(session, subscriber_id=result.subscriber_id)
    json.dumps(data)  # JSON-ready as is
    assert data["subscriber"]["email"] == "kim@example.org"
    assert data["subscriber"]["name"] == "김민수"
    assert data["subscriptions"][0]["status"] == "active"
    consent = data["consent_records"][0]
    assert (consent["ip"], consent["user_agent"], consent["confirmed_ip"]) == (
        "203.0.113.9",
        "Firefox",
        "203.0.113.10",
    )
    assert [e["kind"] for e in data["events"]] == ["subscribed", "confirmed", "exported"]


def test_erase_removes_personal_data_and_keeps_the_hash(
    session: Session, add_active: Callable[..., int]
) -> None:
    person = add_active("Kim@Example.org", name="김민수")
    unsubscribe(session, subscriber_id=person, newsletter_id="weekly")
    erase(session, subscriber_id=person)
    row = session.get(Subscriber, person)
    assert row is not None and row.status == "erased"
    assert "kim" not in row.email.lower() and row.name == "" and row.email_hash is None
    assert session.scalars(select(ConsentRecord)).all() == []
    assert find_subscriber(session, "kim@example.org") is None
    suppression = session.get(Suppression, address_hash("kim@example.org"))
    assert suppression is not None and suppression.reason == "erased"
    kinds = list(session.scalars(select(Event.kind).where(Event.subscriber_id == person)))
    assert kinds[-1] == "erased" and "unsubscribed" in kinds
    details = session.scalars(select(Event.detail).where(Event.subscriber_id == person))
    assert all(detail == {} for detail in details)


def test_signing_up_again_after_erasure_starts_a_new_person(
    session: Session, add_active: Callable[..., int]
) -> None:
    person = add_active("a@example.org")
    erase(session, subscriber_id=person)
    again = subscribe(session, email="a@example.org", newsletters=["weekly"])
    assert again.subscriber_id != person and again.pending == ("weekly",)
    confirm(session, subscriber_id=again.subscriber_id)
    assert [r.id for r in active_recipients(session, "weekly")] == [again.subscriber_id]
    assert session.get(Suppression, address_hash("a@example.org")) is None


def test_admin_remove_unsubscribes_or_erases(
    session: Session, add_active: Callable[..., int]
) -> None:
    first = add_active("a@example.org")
    second = add_active("b@example.org")
    assert remove(session, email="A@example.org") == first
    assert remove(session, email="b@example.org", erase_data=True) == second
    assert active_recipients(session, "weekly") == []
    row = session.get(Subscriber, second)
    assert row is not None and row.status == "erased"
