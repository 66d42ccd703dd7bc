"""Suppression, export and erasure: bounces, complaints, "download my data", "erase me".

Like :mod:`subscribers.service`, functions take the ``Session`` first, keyword-only
arguments after it, record events, and never commit.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from subscribers import ad_consent
from subscribers.addresses import address_hash, parse_address
from subscribers.db import utcnow
from subscribers.errors import SubscriberNotFound
from subscribers.events import EventKind, How, record_event
from subscribers.models import (
    ConsentRecord,
    Event,
    Subscriber,
    SubscriberStatus,
    Suppression,
)
from subscribers.queries import find_by_normalized, require_subscriber, subscriptions_of
from subscribers.service import unsubscribe

ERASED_DOMAIN = "erased.invalid"


def suppress(session: Session, *, email_hash: str, reason: str) -> bool:
    """Put a hashed address on the suppression list; False if it already was.

    An existing entry is kept but brought up to date: a complaint overrides any other
    reason, and a repeated reason restarts its clock (a new hard bounce starts a new
    quiet period, see ``subscribers.service.BOUNCE_QUIET``).
    """
    existing = session.get(Suppression, email_hash)
    if existing is not None:
        if reason == existing.reason or reason == SubscriberStatus.COMPLAINED:
            existing.reason, existing.created_at = reason, utcnow()
        return False
    session.add(Suppression(email_hash=email_hash, reason=reason, created_at=utcnow()))
    session.flush()
    return True


def mark_bounced(
    session: Session,
    *,
    email: str,
    hard: bool = True,
    how: How | str = How.WEBHOOK,
    detail: dict[str, Any] | None = None,
) -> int | None:
    """Record a bounce of ``email``; a hard bounce suppresses the address and unsubscribes
    the person from everything. Returns the subscriber id, or None for an unknown address."""
    if not hard:
        person = _find(session, email)
        person_id = person.id if person is not None else None
        record_event(
            session, EventKind.SOFT_BOUNCED, subscriber_id=person_id, how=how, detail=detail
        )
        return person_id
    return _stop_all(
        session,
        email,
        status=SubscriberStatus.BOUNCED,
        kind=EventKind.BOUNCED,
        how=how,
        detail=detail,
    )


def mark_complained(
    session: Session,
    *,
    email: str,
    how: How | str = How.WEBHOOK,
    detail: dict[str, Any] | None = None,
) -> int | None:
    """Record a spam complaint: suppress the address, unsubscribe the person from all."""
    return _stop_all(
        session,
        email,
        status=SubscriberStatus.COMPLAINED,
        kind=EventKind.COMPLAINED,
        how=how,
        detail=detail,
    )


def _stop_all(
    session: Session,
    email: str,
    *,
    status: SubscriberStatus,
    kind: EventKind,
    how: How | str,
    detail: dict[str, Any] | None,
) -> int | None:
    normalized = parse_address(email).normalized
    suppress(session, email_hash=address_hash(normalized), reason=status.value)
    person = find_by_normalized(session, normalized)
    if person is None:
        record_event(session, kind, subscriber_id=None, how=how, detail=detail)
        return None
    unsubscribe(session, subscriber_id=person.id, how=how)
    person.status = status
    record_event(session, kind, subscriber_id=person.id, how=how, detail=detail)
    session.flush()
    return person.id


def _find(session: Session, email: str) -> Subscriber | None:
    return find_by_normalized(session, parse_address(email).normalized)


def export_person(session: Session, *, subscriber_id: int) -> dict[str, Any]:
    """Everything kept about one person, as a JSON-ready dict (logs an ``exported`` event)."""
    person = require_subscriber(session, subscriber_id)
    record_event(session, EventKind.EXPORTED, subscriber_id=subscriber_id, how=How.PREFERENCES)
    session.flush()
    consents = session.scalars(
        select(ConsentRecord)
        .where(ConsentRecord.subscriber_id == subscriber_id)
        .order_by(ConsentRecord.id)
    )
    events = session.scalars(
        select(Event).where(Event.subscriber_id == subscriber_id).order_by(Event.id)
    )
    return {
        "subscriber": {
            "id": person.id,
            "email": person.email,
            "name": person.name,
            "locale": person.locale,
            "timezone": person.timezone,
            "status": person.status,
            "created_at": _iso(person.created_at),
        },
        "subscriptions": [
            {
                "newsletter": s.newsletter_id,
                "status": s.status,
                "source": s.source,
                "created_at": _iso(s.created_at),
                "confirmed_at": _iso(s.confirmed_at),
                "unsubscribed_at": _iso(s.unsubscribed_at),
                "paused_until": _iso(s.paused_until),
            }
            for s in subscriptions_of(session, subscriber_id)
        ],
        "consent_records": [_consent_dict(c) for c in consents],
        "advertising_consents": [
            {
                "newsletter": c.newsletter_id,
                "status": c.status,
                "given_at": _iso(c.given_at),
                "withdrawn_at": _iso(c.withdrawn_at),
            }
            for _, c in sorted(ad_consent.consents_of(session, subscriber_id).items())
        ],
        "advertising_consent_records": [
            ad_consent.record_dict(r) for r in ad_consent.records_of(session, subscriber_id)
        ],
        "events": [
            {
                "at": _iso(e.created_at),
                "kind": e.kind,
                "newsletter": e.newsletter_id,
                "how": e.how,
                "detail": e.detail,
            }
            for e in events
        ],
        "exported_at": _iso(utcnow()),
    }


def _consent_dict(consent: ConsentRecord) -> dict[str, Any]:
    return {
        "at": _iso(consent.created_at),
        "source": consent.source,
        "ip": consent.ip,
        "user_agent": consent.user_agent,
        "wording_version": consent.wording_version,
        "newsletters": consent.newsletters,
        "confirmed_at": _iso(consent.confirmed_at),
        "confirmed_ip": consent.confirmed_ip,
        "changes": consent.changes or {},
        "reason": consent.reason,
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def erase(
    session: Session, *, subscriber_id: int, how: How | str = How.PREFERENCES, actor: str = ""
) -> None:
    """Erase one person: personal data and consent records go, the hashed address stays
    suppressed, the event log keeps what happened (without details) and an ``erased`` event.
    """
    person = require_subscriber(session, subscriber_id)
    if person.email_hash:
        suppress(session, email_hash=person.email_hash, reason=SubscriberStatus.ERASED.value)
    for subscription in subscriptions_of(session, subscriber_id):
        if subscription.status != "unsubscribed":
            subscription.status = "unsubscribed"
            subscription.unsubscribed_at = utcnow()
        subscription.paused_until = None
    session.execute(delete(ConsentRecord).where(ConsentRecord.subscriber_id == subscriber_id))
    ad_consent.forget(session, subscriber_id)
    session.execute(update(Event).where(Event.subscriber_id == subscriber_id).values(detail={}))
    placeholder = f"erased-{subscriber_id}@{ERASED_DOMAIN}"
    person.email = person.email_normalized = placeholder
    person.email_hash = None
    person.name = person.locale = person.timezone = ""
    person.status = SubscriberStatus.ERASED
    record_event(session, EventKind.ERASED, subscriber_id=subscriber_id, how=how, actor=actor)
    session.flush()


def remove(session: Session, *, email: str, erase_data: bool = False, actor: str = "") -> int:
    """Admin removal by address: unsubscribe from everything, or erase with ``erase_data``.

    Returns the subscriber id; ``SubscriberNotFound`` for an unknown address.
    """
    person = _find(session, email)
    if person is None or person.status == SubscriberStatus.ERASED:
        raise SubscriberNotFound(f"no subscriber with address {email!r}")
    if erase_data:
        erase(session, subscriber_id=person.id, how=How.ADMIN, actor=actor)
    else:
        unsubscribe(session, subscriber_id=person.id, how=How.ADMIN, actor=actor)
    return person.id
