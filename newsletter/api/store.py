"""All SQL of the API: keys, idempotency records, rate-limit windows, and the reads of
subscribers and sends that the existing stores do not have."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from newsletter.api.models import ApiIdempotency, ApiKey, ApiRateWindow
from newsletter.delivery.models import Send
from subscribers.models import Subscriber, SubscriberStatus, Subscription


def insert_key(
    session: Session,
    *,
    name: str,
    prefix: str,
    key_hash: str,
    scopes: Sequence[str],
    created_by: str,
    now: datetime,
) -> ApiKey:
    """Store a new key (its hash only)."""
    key = ApiKey(
        name=name,
        prefix=prefix,
        key_hash=key_hash,
        scopes=list(scopes),
        created_by=created_by,
        created_at=now,
    )
    session.add(key)
    session.flush()
    return key


def key_named(session: Session, name: str) -> ApiKey | None:
    """The key called ``name``, revoked or not."""
    return session.scalars(select(ApiKey).where(ApiKey.name == name)).first()


def all_keys(session: Session) -> list[ApiKey]:
    """Every key, oldest first."""
    return list(session.scalars(select(ApiKey).order_by(ApiKey.id)))


def live_key_by_hash(session: Session, key_hash: str) -> ApiKey | None:
    """The unrevoked key with this hash."""
    query = select(ApiKey).where(ApiKey.key_hash == key_hash, ApiKey.revoked_at.is_(None))
    return session.scalars(query).first()


def mark_used(session: Session, key_id: int, *, now: datetime) -> None:
    """Remember when the key was last used."""
    session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=now))


def count_request(session: Session, key_id: int, *, window: int) -> int:
    """Count one request of ``key_id`` in ``window``; the count including it."""
    updated = session.execute(
        update(ApiRateWindow)
        .where(ApiRateWindow.key_id == key_id, ApiRateWindow.window == window)
        .values(count=ApiRateWindow.count + 1)
    )
    if int(getattr(updated, "rowcount", 0) or 0) == 0:
        try:
            with session.begin_nested():
                session.add(ApiRateWindow(key_id=key_id, window=window, count=1))
        except IntegrityError:  # a concurrent request created the window first
            return count_request(session, key_id, window=window)
        session.execute(
            delete(ApiRateWindow).where(
                ApiRateWindow.key_id == key_id, ApiRateWindow.window < window
            )
        )
        return 1
    found = session.get(ApiRateWindow, (key_id, window), populate_existing=True)
    return found.count if found is not None else 1


def idempotency_record(
    session: Session, key_id: int, idempotency_key: str
) -> ApiIdempotency | None:
    """The stored answer (or in-progress marker) for this key and ``Idempotency-Key``."""
    return session.get(ApiIdempotency, (key_id, idempotency_key), populate_existing=True)


def reserve_idempotency(
    session: Session, key_id: int, idempotency_key: str, *, request_hash: str, now: datetime
) -> bool:
    """Claim the ``Idempotency-Key`` for a first request; ``False`` if it was taken."""
    try:
        with session.begin_nested():
            session.add(
                ApiIdempotency(
                    key_id=key_id,
                    idempotency_key=idempotency_key,
                    request_hash=request_hash,
                    created_at=now,
                )
            )
    except IntegrityError:
        return False
    return True


def complete_idempotency(
    session: Session,
    key_id: int,
    idempotency_key: str,
    *,
    status: int,
    content_type: str,
    body: str,
) -> None:
    """Store the first request's answer."""
    session.execute(
        update(ApiIdempotency)
        .where(ApiIdempotency.key_id == key_id, ApiIdempotency.idempotency_key == idempotency_key)
        .values(status_code=status, content_type=content_type, body=body)
    )


def release_idempotency(session: Session, key_id: int, idempotency_key: str) -> None:
    """Forget a reservation whose request failed (a retry may run it again)."""
    session.execute(
        delete(ApiIdempotency).where(
            ApiIdempotency.key_id == key_id, ApiIdempotency.idempotency_key == idempotency_key
        )
    )


def prune_idempotency(session: Session, *, before: datetime) -> None:
    """Forget answers older than ``before``."""
    session.execute(delete(ApiIdempotency).where(ApiIdempotency.created_at < before))


def page_subscribers(
    session: Session,
    *,
    newsletter_id: str | None,
    statuses: Sequence[str],
    created_since: datetime | None,
    after_id: int,
    limit: int,
) -> list[Subscriber]:
    """A keyset page of subscribers (not erased) after ``after_id``, by id, filtered: with a
    subscription to ``newsletter_id`` and/or in one of ``statuses`` (effective status, as in
    ``subscribers.queries.counts_by_status``), created at or after ``created_since``."""
    query = (
        select(Subscriber)
        .where(Subscriber.id > after_id, Subscriber.status != SubscriberStatus.ERASED)
        .order_by(Subscriber.id)
        .limit(limit)
    )
    if created_since is not None:
        query = query.where(Subscriber.created_at >= created_since)
    if newsletter_id is not None or statuses:
        effective = func.coalesce(
            func.nullif(Subscriber.status, SubscriberStatus.ACTIVE.value), Subscription.status
        )
        match = select(Subscription.id).where(Subscription.subscriber_id == Subscriber.id)
        if newsletter_id is not None:
            match = match.where(Subscription.newsletter_id == newsletter_id)
        if statuses:
            match = match.where(effective.in_(list(statuses)))
        query = query.where(match.exists())
    return list(session.scalars(query))


def subscriptions_by_person(
    session: Session, subscriber_ids: Sequence[int]
) -> dict[int, list[Subscription]]:
    """The subscriptions of each of these people, by newsletter id."""
    found: dict[int, list[Subscription]] = {i: [] for i in subscriber_ids}
    query = (
        select(Subscription)
        .where(Subscription.subscriber_id.in_(list(subscriber_ids)))
        .order_by(Subscription.subscriber_id, Subscription.newsletter_id)
    )
    for subscription in session.scalars(query):
        found[subscription.subscriber_id].append(subscription)
    return found


def live_subscriber(session: Session, subscriber_id: int) -> Subscriber | None:
    """The subscriber with this id unless erased."""
    person = session.get(Subscriber, subscriber_id)
    return None if person is None or person.status == SubscriberStatus.ERASED else person


def set_timezone(session: Session, subscriber_id: int, timezone: str) -> None:
    """Store the person's timezone."""
    session.execute(
        update(Subscriber).where(Subscriber.id == subscriber_id).values(timezone=timezone)
    )


def sends_by_status(session: Session) -> dict[str, int]:
    """How many sends there are in each status."""
    query = select(Send.status, func.count()).group_by(Send.status)
    return {str(status): int(count) for status, count in session.execute(query)}
