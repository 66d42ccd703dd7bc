"""All SQL of outgoing webhooks: endpoints, outbox, messages, deliveries, attempts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from newsletter.delivery.models import Send
from newsletter.outgoing_webhooks.models import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookMessage,
    WebhookOutbox,
)
from subscribers.models import Event, Subscriber

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"


def add_endpoint(
    session: Session,
    *,
    url: str,
    secret: str,
    event_types: Sequence[str],
    created_by: str,
    now: datetime,
) -> WebhookEndpoint:
    """Store a new endpoint."""
    endpoint = WebhookEndpoint(
        url=url,
        secret=secret,
        event_types=list(event_types),
        created_by=created_by,
        created_at=now,
        failure_streak=0,
        disabled_reason="",
    )
    session.add(endpoint)
    session.flush()
    return endpoint


def all_endpoints(session: Session) -> list[WebhookEndpoint]:
    """Every endpoint, oldest first."""
    return list(session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id)))


def get_endpoint(session: Session, endpoint_id: int) -> WebhookEndpoint | None:
    """One endpoint by id."""
    return session.get(WebhookEndpoint, endpoint_id)


def delete_endpoint(session: Session, endpoint_id: int) -> None:
    """Remove an endpoint with its deliveries and their log."""
    attempts = select(WebhookDelivery.id).where(WebhookDelivery.endpoint_id == endpoint_id)
    session.execute(delete(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(attempts)))
    session.execute(delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id))
    session.execute(delete(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id))


def take_outbox(session: Session, *, limit: int) -> list[WebhookOutbox]:
    """The oldest outbox rows, locked for this transaction (skipped by other relays)."""
    query = select(WebhookOutbox).order_by(WebhookOutbox.id).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(session.scalars(query))


def drop_outbox(session: Session, ids: Sequence[int]) -> None:
    """Forget relayed outbox rows."""
    session.execute(delete(WebhookOutbox).where(WebhookOutbox.id.in_(list(ids))))


def add_message(
    session: Session,
    *,
    message_id: str,
    type_: str,
    body: str,
    endpoint_ids: Sequence[int],
    now: datetime,
) -> None:
    """Store one message and a pending delivery of it to each endpoint (once per id)."""
    if session.get(WebhookMessage, message_id) is not None:
        return
    session.add(WebhookMessage(id=message_id, type=type_, body=body, created_at=now))
    session.flush()
    session.add_all(
        WebhookDelivery(
            message_id=message_id,
            endpoint_id=endpoint_id,
            status=PENDING,
            attempts=0,
            next_attempt_at=now,
            last_error="",
            created_at=now,
        )
        for endpoint_id in endpoint_ids
    )


@dataclass(frozen=True)
class DueDelivery:
    """A claimed delivery with what sending it needs."""

    delivery_id: int
    endpoint_id: int
    message_id: str
    body: str
    url: str
    secret: str
    attempts: int
    created_at: datetime


def claim_due(
    session: Session, *, now: datetime, lease_until: datetime, limit: int
) -> list[DueDelivery]:
    """Claim due deliveries of enabled endpoints: their next attempt moves to
    ``lease_until``, so another process skips them while this one tries (and retries
    them after it, should this process die)."""
    query = (
        select(WebhookDelivery, WebhookMessage.body, WebhookEndpoint.url, WebhookEndpoint.secret)
        .join(WebhookMessage, WebhookMessage.id == WebhookDelivery.message_id)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(
            WebhookDelivery.status == PENDING,
            WebhookDelivery.next_attempt_at <= now,
            WebhookEndpoint.disabled_at.is_(None),
        )
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(of=WebhookDelivery, skip_locked=True)
    due = [
        DueDelivery(d.id, d.endpoint_id, d.message_id, body, url, secret, d.attempts, d.created_at)
        for d, body, url, secret in session.execute(query)
    ]
    if due:
        session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id.in_([d.delivery_id for d in due]))
            .values(next_attempt_at=lease_until)
        )
    return due


def record_attempt(
    session: Session,
    delivery_id: int,
    *,
    at: datetime,
    status_code: int | None,
    error: str,
    duration_ms: int,
) -> None:
    """Add one line to the delivery log."""
    session.add(
        WebhookAttempt(
            delivery_id=delivery_id,
            attempted_at=at,
            status_code=status_code,
            error=error[:1000],
            duration_ms=duration_ms,
        )
    )


def settle_delivery(
    session: Session,
    delivery_id: int,
    *,
    status: str,
    attempts: int,
    next_attempt_at: datetime,
    status_code: int | None,
    error: str,
    delivered_at: datetime | None,
) -> None:
    """Write a delivery's state after an attempt."""
    session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id)
        .values(
            status=status,
            attempts=attempts,
            next_attempt_at=next_attempt_at,
            last_status_code=status_code,
            last_error=error[:1000],
            delivered_at=delivered_at,
        )
    )


def endpoint_succeeded(session: Session, endpoint_id: int) -> None:
    """A delivery got through: the failure streak starts again."""
    session.execute(
        update(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id).values(failure_streak=0)
    )


def endpoint_failed(session: Session, endpoint_id: int) -> int:
    """One more failed attempt in a row; the streak including it."""
    session.execute(
        update(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint_id)
        .values(failure_streak=WebhookEndpoint.failure_streak + 1)
    )
    endpoint = session.get(WebhookEndpoint, endpoint_id, populate_existing=True)
    return endpoint.failure_streak if endpoint is not None else 0


def disable_endpoint(session: Session, endpoint_id: int, *, at: datetime, reason: str) -> None:
    """Stop delivering to an endpoint until an owner enables it again."""
    session.execute(
        update(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.disabled_at.is_(None))
        .values(disabled_at=at, disabled_reason=reason[:1000])
    )


def enable_endpoint(session: Session, endpoint_id: int, *, now: datetime) -> None:
    """Deliver to the endpoint again; what waited goes out at once."""
    session.execute(
        update(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint_id)
        .values(disabled_at=None, disabled_reason="", failure_streak=0)
    )
    session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint_id, WebhookDelivery.status == PENDING)
        .values(next_attempt_at=now)
    )


def deliveries_of(
    session: Session, endpoint_id: int, *, limit: int
) -> list[tuple[WebhookDelivery, str]]:
    """The endpoint's latest deliveries (newest first) with their message type."""
    query = (
        select(WebhookDelivery, WebhookMessage.type)
        .join(WebhookMessage, WebhookMessage.id == WebhookDelivery.message_id)
        .where(WebhookDelivery.endpoint_id == endpoint_id)
        .order_by(WebhookDelivery.id.desc())
        .limit(limit)
    )
    return [(delivery, type_) for delivery, type_ in session.execute(query)]


def attempts_of(session: Session, delivery_ids: Sequence[int]) -> list[WebhookAttempt]:
    """The log lines of these deliveries, oldest first."""
    query = (
        select(WebhookAttempt)
        .where(WebhookAttempt.delivery_id.in_(list(delivery_ids)))
        .order_by(WebhookAttempt.id)
    )
    return list(session.scalars(query))


def event_row(session: Session, event_id: int) -> Event | None:
    """One row of the subscriber event log."""
    return session.get(Event, event_id)


def person(session: Session, subscriber_id: int | None) -> Subscriber | None:
    """The subscriber an event is about, if still there."""
    return None if subscriber_id is None else session.get(Subscriber, subscriber_id)


def send_row(session: Session, send_id: int) -> Send | None:
    """One send."""
    return session.get(Send, send_id)
