"""The dashboard's queries: issues with their sends, reports, time series, people, audit log."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, and_, cast, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from newsletter.accounts.models import AdminLoginFailure, AdminSessionRow
from newsletter.accounts.store import ADMIN_EVENT, record_action
from newsletter.delivery.models import Delivery, DeliveryStatus, Send
from newsletter.models import Issue
from subscribers.models import ConsentRecord, Event, Subscriber, Subscription


@dataclass(frozen=True)
class IssueRow:
    """One issue as the dashboard lists it."""

    slug: str
    title: str
    newsletter_id: str
    status: str
    instant: datetime
    overridden: bool
    send_id: int | None
    send_status: str | None
    #: The instant before quiet hours moved it (None: not moved, or overridden).
    moved_from: datetime | None = None
    #: ``deliver: local``: the wall time each reader gets it at (``2026-03-10 09:00``).
    local_time: str = ""


def issue_rows(session: Session) -> list[IssueRow]:
    """Every synced issue with its send (if any), latest publication first."""
    query = (
        select(Issue, Send.id, Send.status)
        .outerjoin(Send, Send.issue_slug == Issue.slug)
        .order_by(func.coalesce(Issue.scheduled_at_override, Issue.publish_at).desc(), Issue.slug)
    )
    return [
        IssueRow(
            slug=issue.slug,
            title=issue.title,
            newsletter_id=issue.newsletter_id,
            status=issue.status,
            instant=issue.scheduled_at_override or issue.publish_at,
            overridden=issue.scheduled_at_override is not None,
            send_id=send_id,
            send_status=send_status,
            moved_from=issue.moved_from if issue.scheduled_at_override is None else None,
            local_time=(
                issue.local_wall.replace("T", " ")[:16]
                if issue.deliver == "local" and issue.scheduled_at_override is None
                else ""
            ),
        )
        for issue, send_id, send_status in session.execute(query)
    ]


def issue_row(session: Session, slug: str) -> IssueRow | None:
    """One issue with its send, or None."""
    return next((row for row in issue_rows(session) if row.slug == slug), None)


def record_admin_action(
    session: Session,
    action: str,
    *,
    actor: str,
    detail: dict[str, Any] | None = None,
    subscriber_id: int | None = None,
    newsletter_id: str | None = None,
) -> None:
    """Write one admin action to the event log, naming the account (``actor``)."""
    record_action(
        session,
        action,
        actor=actor,
        detail=detail,
        subscriber_id=subscriber_id,
        newsletter_id=newsletter_id,
    )


def admin_actions(session: Session, *, limit: int = 50) -> list[Event]:
    """The latest admin actions, newest first."""
    query = select(Event).where(Event.kind == ADMIN_EVENT).order_by(Event.id.desc()).limit(limit)
    return list(session.scalars(query))


def _epoch(session: Session, column: Any) -> ColumnElement[Any]:
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.extract("epoch", column), Integer)
    return cast(func.strftime("%s", column), Integer)


def send_timeline(session: Session, send_id: int, *, buckets: int = 40) -> list[tuple[int, int]]:
    """(epoch second, deliveries settled so far) in up to ``buckets`` steps: the send over time."""
    settled = and_(
        Delivery.send_id == send_id,
        Delivery.status.in_([DeliveryStatus.ACCEPTED, DeliveryStatus.FAILED]),
        Delivery.updated_at.is_not(None),
    )
    epoch = _epoch(session, Delivery.updated_at)
    low, high = session.execute(select(func.min(epoch), func.max(epoch)).where(settled)).one()
    if low is None or high is None:
        return []
    step = max(1, (int(high) - int(low)) // buckets + 1)
    bucket = (epoch - int(low)) / step
    rows = session.execute(
        select(bucket.label("b"), func.count()).where(settled).group_by("b").order_by("b")
    ).all()
    points, total = [(int(low), 0)], 0
    for index, count in rows:
        total += int(count)
        points.append((int(low) + (int(index) + 1) * step, total))
    return points


def subscriber_growth(session: Session, newsletter_id: str) -> list[tuple[str, int]]:
    """(day, active subscriptions at the end of that day) for one newsletter, in UTC days."""
    joined = func.date(Subscription.confirmed_at)
    left = func.date(Subscription.unsubscribed_at)
    ins = session.execute(
        select(joined, func.count())
        .where(Subscription.newsletter_id == newsletter_id, Subscription.confirmed_at.is_not(None))
        .group_by(joined)
    ).all()
    outs = session.execute(
        select(left, func.count())
        .where(
            Subscription.newsletter_id == newsletter_id,
            Subscription.confirmed_at.is_not(None),
            Subscription.unsubscribed_at.is_not(None),
        )
        .group_by(left)
    ).all()
    change: dict[str, int] = {}
    for day, count in ins:
        change[str(day)] = change.get(str(day), 0) + int(count)
    for day, count in outs:
        change[str(day)] = change.get(str(day), 0) - int(count)
    series, total = [], 0
    for day in sorted(change):
        total += change[day]
        series.append((day, total))
    return series


def unsubscribed_after(
    session: Session, newsletter_id: str, *, since: datetime, until: datetime | None
) -> int:
    """Readers who left ``newsletter_id`` between a send's start and the next send's.

    Unsubscriptions that bounces and complaints cause (``how='webhook'``) are counted under
    those; the provider's own unsubscribe events are counted by the caller from its events.
    """
    query = select(func.count()).where(
        Event.kind == "unsubscribed",
        Event.newsletter_id == newsletter_id,
        Event.created_at >= since,
        Event.how != "webhook",
    )
    if until is not None:
        query = query.where(Event.created_at < until)
    return int(session.scalar(query) or 0)


def next_send_start(session: Session, send: Send) -> datetime | None:
    """When the newsletter's next send after ``send`` started (its report window ends)."""
    if send.started_at is None:
        return None
    query = select(func.min(Send.started_at)).where(
        Send.newsletter_id == send.newsletter_id, Send.started_at > send.started_at
    )
    result: datetime | None = session.scalar(query)
    return result


def search_subscribers(session: Session, text: str, *, limit: int = 50) -> list[Subscriber]:
    """People whose address or name contains ``text`` (all people when empty), newest first."""
    query = select(Subscriber).order_by(Subscriber.id.desc()).limit(limit)
    # NUL and other controls never match a stored text (and PostgreSQL refuses NUL).
    needle = "".join(c for c in text if c.isprintable()).strip().lower()
    if needle:
        pattern = f"%{needle.replace('%', '').replace('_', '')}%"
        query = query.where(
            or_(
                Subscriber.email_normalized.like(pattern), func.lower(Subscriber.name).like(pattern)
            )
        )
    return list(session.scalars(query))


def subscriptions(session: Session, subscriber_ids: Sequence[int]) -> dict[int, list[Subscription]]:
    """The subscriptions of these people, by person."""
    found: dict[int, list[Subscription]] = {i: [] for i in subscriber_ids}
    if subscriber_ids:
        query = (
            select(Subscription)
            .where(Subscription.subscriber_id.in_(list(subscriber_ids)))
            .order_by(Subscription.newsletter_id)
        )
        for row in session.scalars(query):
            found[row.subscriber_id].append(row)
    return found


def consent_records(session: Session, subscriber_id: int) -> list[ConsentRecord]:
    """One person's consent records, oldest first."""
    query = (
        select(ConsentRecord)
        .where(ConsentRecord.subscriber_id == subscriber_id)
        .order_by(ConsentRecord.id)
    )
    return list(session.scalars(query))


def events_of(session: Session, subscriber_id: int, *, limit: int = 200) -> list[Event]:
    """One person's events, newest first."""
    query = (
        select(Event)
        .where(Event.subscriber_id == subscriber_id)
        .order_by(Event.id.desc())
        .limit(limit)
    )
    return list(session.scalars(query))


def start_session(
    session: Session, key: str, *, account_id: int, now: datetime, expires_at: datetime, ip: str
) -> None:
    """Record a new login session (``key`` is the hash of the cookie's session id); forget
    sessions that expired before ``now``."""
    session.execute(delete(AdminSessionRow).where(AdminSessionRow.expires_at < now))
    session.add(
        AdminSessionRow(
            id=key, account_id=account_id, created_at=now, expires_at=expires_at, ip=ip[:64]
        )
    )


def session_is_active(session: Session, key: str, *, now: datetime) -> bool:
    """Whether the session exists, has not expired and was not ended (logout)."""
    query = select(AdminSessionRow.id).where(
        AdminSessionRow.id == key,
        AdminSessionRow.ended_at.is_(None),
        AdminSessionRow.expires_at > now,
    )
    return session.scalar(query) is not None


def end_session(session: Session, key: str, *, now: datetime) -> bool:
    """End one session (logout); False when it was not active."""
    result = session.execute(
        update(AdminSessionRow)
        .where(AdminSessionRow.id == key, AdminSessionRow.ended_at.is_(None))
        .values(ended_at=now)
    )
    return bool(getattr(result, "rowcount", 0))


def count_login_failure(session: Session, ip: str, *, now: datetime, limited: bool) -> None:
    """Count one failed login from ``ip`` in the current hour (one row per hour and address)."""
    window = now.replace(minute=0, second=0, microsecond=0)
    column = AdminLoginFailure.limited if limited else AdminLoginFailure.wrong
    match = (AdminLoginFailure.window_start == window, AdminLoginFailure.ip == ip[:64])
    bump = update(AdminLoginFailure).where(*match).values({column.key: column + 1, "last_at": now})
    if getattr(session.execute(bump), "rowcount", 0):
        return
    try:
        with session.begin_nested():
            session.add(
                AdminLoginFailure(
                    window_start=window,
                    ip=ip[:64],
                    wrong=0 if limited else 1,
                    limited=1 if limited else 0,
                    last_at=now,
                )
            )
    except IntegrityError:  # another request counted this hour's first failure just now
        session.execute(bump)


@dataclass(frozen=True)
class LoginFailures:
    """Failed logins since some instant: attempts, distinct addresses, the last one."""

    attempts: int
    addresses: int
    last_at: datetime | None


def login_failures(session: Session, *, since: datetime) -> LoginFailures:
    """Failed logins (wrong password or rate-limited) in the windows touched since ``since``."""
    row = session.execute(
        select(
            func.coalesce(func.sum(AdminLoginFailure.wrong + AdminLoginFailure.limited), 0),
            func.count(func.distinct(AdminLoginFailure.ip)),
            func.max(AdminLoginFailure.last_at),
        ).where(AdminLoginFailure.last_at >= since)
    ).one()
    return LoginFailures(attempts=int(row[0]), addresses=int(row[1]), last_at=row[2])
