"""The web app's queries: rate-limit hits, welcome markers and the archive's sent issues.

All SQL the web pages need lives here; routes call these named functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import JSON, Connection, bindparam, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from newsletter.models import Issue, IssueStatus
from newsletter.web.models import RateLimitHit, WelcomeSent
from subscribers.db import utcnow
from subscribers.events import EventKind
from subscribers.models import Event, Subscription, SubscriptionStatus

#: The sliding window every rate limit counts over.
RATE_WINDOW = timedelta(hours=1)


def lock_rate_keys(session: Session, keys: Sequence[str], *, expired_before: datetime) -> None:
    """Serialize rate-limit checks on ``keys`` until the session's transaction ends, and
    forget their hits older than ``expired_before``.

    PostgreSQL: one transaction-scoped advisory lock per key (taken in sorted order, so two
    requests never wait on each other crosswise). SQLite: the delete, as the transaction's
    first statement, takes the database's write lock before anything is counted (a write
    transaction begun later, after a read, could not wait for the lock; this one can).
    """
    if session.get_bind().dialect.name == "postgresql":
        for key in sorted(set(keys)):
            session.execute(select(func.pg_advisory_xact_lock(_lock_id(key))))
    session.execute(
        delete(RateLimitHit).where(
            RateLimitHit.key.in_(list(keys)), RateLimitHit.created_at < expired_before
        )
    )


def _lock_id(key: str) -> int:
    # Keys are sha256 hex: their first 64 bits, as the signed bigint advisory locks take.
    return int.from_bytes(bytes.fromhex(key[:16]), "big", signed=True)


def count_hits(session: Session, key: str, *, since: datetime) -> int:
    """How many hits ``key`` has had since ``since``."""
    query = select(func.count()).where(RateLimitHit.key == key, RateLimitHit.created_at >= since)
    return int(session.scalar(query) or 0)


def add_hit(session: Session, key: str, *, at: datetime | None = None) -> None:
    """Count one hit against ``key``."""
    session.add(RateLimitHit(key=key, created_at=at or utcnow()))


def prune_hits(session: Session, *, before: datetime) -> int:
    """Forget hits older than ``before``; returns how many went."""
    result = session.execute(delete(RateLimitHit).where(RateLimitHit.created_at < before))
    return int(getattr(result, "rowcount", 0) or 0)


def claim_welcomes(
    session: Session, subscriber_id: int, *, newsletter_ids: Sequence[str]
) -> list[str]:
    """Mark the welcome email as sent for these subscriptions; return those newly marked.

    Each marker is inserted in its own savepoint so that a concurrent confirmation that got
    there first simply loses the race: the welcome email goes out once.
    """
    claimed: list[str] = []
    for newsletter_id in newsletter_ids:
        try:
            with session.begin_nested():
                session.add(WelcomeSent(subscriber_id=subscriber_id, newsletter_id=newsletter_id))
        except IntegrityError:
            continue
        claimed.append(newsletter_id)
    return claimed


def welcomed(session: Session, subscriber_id: int) -> set[str]:
    """The newsletters this subscriber already got a welcome email for."""
    query = select(WelcomeSent.newsletter_id).where(WelcomeSent.subscriber_id == subscriber_id)
    return set(session.scalars(query))


def sent_issues(session: Session, *, limit: int = 500) -> list[Issue]:
    """Issues that went out, newest first: the only ones the archive shows."""
    query = (
        select(Issue)
        .where(Issue.status == IssueStatus.SENT)
        .order_by(Issue.publish_at.desc(), Issue.id.desc())
        .limit(limit)
    )
    return list(session.scalars(query))


def sent_issue(session: Session, slug: str) -> Issue | None:
    """The sent issue with this slug, or ``None`` (unsent and draft issues stay hidden)."""
    query = select(Issue).where(Issue.slug == slug, Issue.status == IssueStatus.SENT)
    return session.scalar(query)


# Built once: building a statement costs more than running it on this hot path.
_UNSUBSCRIBE_ONE = (
    update(Subscription)
    .where(
        Subscription.subscriber_id == bindparam("p_subscriber_id"),
        Subscription.newsletter_id == bindparam("p_newsletter_id"),
        Subscription.status.in_((SubscriptionStatus.ACTIVE, SubscriptionStatus.PENDING)),
    )
    .values(status=SubscriptionStatus.UNSUBSCRIBED, unsubscribed_at=bindparam("p_now"))
)
_UNSUBSCRIBED_EVENT = insert(Event).values(
    created_at=bindparam("p_now"),
    subscriber_id=bindparam("p_subscriber_id"),
    newsletter_id=bindparam("p_newsletter_id"),
    kind=EventKind.UNSUBSCRIBED.value,
    how=bindparam("p_how"),
    actor="",
    detail=bindparam("p_detail", type_=JSON),
)


def unsubscribe_one(
    connection: Connection, subscriber_id: int, newsletter_id: str, *, how: str
) -> bool:
    """One-click unsubscribe of one subscription, set-based: the web's hot path.

    Same effect as ``subscribers.service.unsubscribe`` for one newsletter (status, time,
    an ``unsubscribed`` event), in two prepared statements instead of an ORM unit of work,
    because mail providers fire these in bursts. Returns whether anything changed (a
    repeat does not).
    """
    params = {"p_subscriber_id": subscriber_id, "p_newsletter_id": newsletter_id, "p_now": utcnow()}
    result = connection.execute(_UNSUBSCRIBE_ONE, params)
    if not result.rowcount:
        return False
    connection.execute(_UNSUBSCRIBED_EVENT, {**params, "p_how": how, "p_detail": {}})
    return True
