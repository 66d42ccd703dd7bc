"""Read-only queries of the subscriber store: delivery audiences, counts, lookups, listings.

The delivery engine walks a newsletter's audience with :func:`active_recipients` (keyset
batches after the last id, never everything in memory) and reuses :func:`eligible_clause`
in its own set-based SQL, so "who may be mailed" is defined in one place.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import ColumnElement, and_, exists, func, or_, select
from sqlalchemy.orm import Session

from subscribers.ad_consent import ad_clause
from subscribers.addresses import parse_address
from subscribers.db import utcnow
from subscribers.errors import SubscriberNotFound
from subscribers.models import (
    ConsentRecord,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionStatus,
    Suppression,
)


class Recipient(NamedTuple):
    """One person to mail: what personalization needs."""

    id: int
    email: str
    name: str


def eligible_clause(newsletter_id: str, now: datetime) -> ColumnElement[bool]:
    """The condition for "``subscribers`` row may receive ``newsletter_id`` at ``now``".

    It joins ``subscriptions`` to ``subscribers`` itself, so a query only has to name both
    tables (``select(...).select_from(Subscriber).join(Subscription, ...)`` works too):
    subscription active, person active, not paused, address not suppressed.
    """
    return and_(
        Subscription.subscriber_id == Subscriber.id,
        Subscription.newsletter_id == newsletter_id,
        Subscription.status == SubscriptionStatus.ACTIVE,
        or_(Subscription.paused_until.is_(None), Subscription.paused_until <= now),
        Subscriber.status == SubscriberStatus.ACTIVE,
        ~exists().where(Suppression.email_hash == Subscriber.email_hash),
    )


def active_recipients(
    session: Session,
    newsletter_id: str,
    *,
    after_id: int = 0,
    limit: int = 1000,
    now: datetime | None = None,
) -> list[Recipient]:
    """The next ``limit`` eligible recipients with ``id > after_id``, by id (keyset batch)."""
    query = (
        select(Subscriber.id, Subscriber.email, Subscriber.name)
        .select_from(Subscription)
        .join(Subscriber, Subscriber.id == Subscription.subscriber_id)
        .where(eligible_clause(newsletter_id, now or utcnow()), Subscriber.id > after_id)
        .order_by(Subscriber.id)
        .limit(limit)
    )
    return [Recipient(*row) for row in session.execute(query)]


def count_eligible(
    session: Session, newsletter_id: str, *, now: datetime | None = None, advertising: bool = False
) -> int:
    """How many people would receive ``newsletter_id`` now (an advertising issue: only
    those with an active advertising consent)."""
    query = (
        select(func.count())
        .select_from(Subscription)
        .join(Subscriber, Subscriber.id == Subscription.subscriber_id)
        .where(eligible_clause(newsletter_id, now or utcnow()))
    )
    if advertising:
        query = query.where(ad_clause(newsletter_id))
    return int(session.scalar(query) or 0)


def counts_by_status(session: Session, newsletter_id: str) -> dict[str, int]:
    """Subscriptions of ``newsletter_id`` by status (every status present, zero if none).

    People whose subscriber-wide status stops mail (bounced, complained, erased) are
    counted under that status instead of their subscription's.
    """
    status = func.coalesce(
        func.nullif(Subscriber.status, SubscriberStatus.ACTIVE.value), Subscription.status
    )
    query = (
        select(status, func.count())
        .select_from(Subscription)
        .join(Subscriber, Subscriber.id == Subscription.subscriber_id)
        .where(Subscription.newsletter_id == newsletter_id)
        .group_by(status)
    )
    counts = {s.value: 0 for s in SubscriptionStatus} | {
        s.value: 0 for s in SubscriberStatus if s is not SubscriberStatus.ACTIVE
    }
    counts.update({str(key): int(value) for key, value in session.execute(query)})
    return counts


def get_subscriber(session: Session, subscriber_id: int) -> Subscriber | None:
    """The subscriber with this id, or None."""
    return session.get(Subscriber, subscriber_id)


def require_subscriber(session: Session, subscriber_id: int) -> Subscriber:
    """The subscriber with this id; ``SubscriberNotFound`` if none or erased."""
    person = session.get(Subscriber, subscriber_id)
    if person is None or person.status == SubscriberStatus.ERASED:
        raise SubscriberNotFound(f"no subscriber with id {subscriber_id}")
    return person


def find_by_normalized(session: Session, normalized: str) -> Subscriber | None:
    """The subscriber whose normalized address is ``normalized``, or None."""
    return session.scalars(
        select(Subscriber).where(Subscriber.email_normalized == normalized)
    ).one_or_none()


def find_subscriber(session: Session, email: str) -> Subscriber | None:
    """The subscriber with this address (any spelling of it), or None.

    Raises ``InvalidAddress`` when ``email`` is not an address at all.
    """
    return find_by_normalized(session, parse_address(email).normalized)


def subscriptions_of(session: Session, subscriber_id: int) -> list[Subscription]:
    """Every subscription of one person, by newsletter id."""
    query = (
        select(Subscription)
        .where(Subscription.subscriber_id == subscriber_id)
        .order_by(Subscription.newsletter_id)
    )
    return list(session.scalars(query))


class SubscriberRow(NamedTuple):
    """One line of a subscriber listing or export."""

    id: int
    email: str
    name: str
    newsletter_id: str
    status: str
    created_at: datetime
    confirmed_at: datetime | None


def list_subscriptions(
    session: Session,
    *,
    newsletter_id: str | None = None,
    statuses: Sequence[str] = (),
    after: tuple[int, str] = (0, ""),
    limit: int = 1000,
) -> list[SubscriberRow]:
    """A keyset page of (person, subscription) rows after ``after`` = (subscriber id,
    newsletter id) of the previous page's last row, ordered by both.

    ``statuses`` filters by the effective status (as in :func:`counts_by_status`); erased
    people are never listed, because nothing of them is left to list.
    """
    status = func.coalesce(
        func.nullif(Subscriber.status, SubscriberStatus.ACTIVE.value), Subscription.status
    )
    query = (
        select(
            Subscriber.id,
            Subscriber.email,
            Subscriber.name,
            Subscription.newsletter_id,
            status,
            Subscription.created_at,
            Subscription.confirmed_at,
        )
        .select_from(Subscription)
        .join(Subscriber, Subscriber.id == Subscription.subscriber_id)
        .where(
            or_(
                Subscriber.id > after[0],
                and_(Subscriber.id == after[0], Subscription.newsletter_id > after[1]),
            ),
            Subscriber.status != SubscriberStatus.ERASED,
        )
        .order_by(Subscriber.id, Subscription.newsletter_id)
        .limit(limit)
    )
    if newsletter_id is not None:
        query = query.where(Subscription.newsletter_id == newsletter_id)
    if statuses:
        query = query.where(status.in_(list(statuses)))
    return [SubscriberRow(*row) for row in session.execute(query)]


def is_suppressed(session: Session, email_hash: str) -> bool:
    """Whether the address with this hash is on the suppression list."""
    return session.get(Suppression, email_hash) is not None


def unconfirmed_consent(
    session: Session, subscriber_id: int, consent_id: int | None = None
) -> ConsentRecord | None:
    """The unconfirmed consent record ``consent_id`` of this person, or (without an id:
    confirm links made before they named one) their latest unconfirmed one."""
    query = select(ConsentRecord).where(
        ConsentRecord.subscriber_id == subscriber_id,
        ConsentRecord.confirmed_at.is_(None),
        ConsentRecord.reason == "",  # a withdrawal record is nothing to confirm
    )
    if consent_id is not None:
        query = query.where(ConsentRecord.id == consent_id)
    return session.scalars(query.order_by(ConsentRecord.id.desc()).limit(1)).first()


def greeting_name(session: Session, subscriber_id: int) -> str:
    """The name to greet the person by in a confirmation email: their stored name once they
    (or an editor) confirmed some subscription, else ``""``: an unconfirmed name is only
    what someone typed into a form, and must not reach an inbox before its owner agreed."""
    person = require_subscriber(session, subscriber_id)
    confirmed = select(Subscription.id).where(
        Subscription.subscriber_id == subscriber_id, Subscription.confirmed_at.is_not(None)
    )
    return person.name if session.scalar(confirmed.limit(1)) is not None else ""
