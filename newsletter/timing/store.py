"""All the SQL of due instants: the send's next unreached instant, reaching a wave, deferring rows.

Functions take a ``Session`` first and do not commit: the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    CursorResult,
    and_,
    case,
    func,
    literal,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.orm import Session

from newsletter.delivery.models import Delivery, DeliveryStatus, Send
from subscribers.db import UTCDateTime

PENDING = DeliveryStatus.PENDING.value


def next_due(session: Session, send_id: int) -> datetime | None:
    """The send's next unreached due instant (None: every row is reached)."""
    return session.scalar(select(Send.next_due_at).where(Send.id == send_id))


def claimable(next_due_at: datetime | None) -> ColumnElement[bool]:
    """The rows a runner may claim: no due instant, or one already reached."""
    if next_due_at is None:
        return true()
    return or_(Delivery.due_at.is_(None), Delivery.due_at < next_due_at)


def earliest_unreached(session: Session, send_id: int, *, after: datetime) -> datetime | None:
    """The earliest due instant of a pending row due after ``after``."""
    return session.scalar(
        select(func.min(Delivery.due_at)).where(
            Delivery.send_id == send_id,
            Delivery.status == PENDING,
            Delivery.due_at > after,
        )
    )


def earliest_pending_due(session: Session, send_id: int) -> datetime | None:
    """The earliest due instant of any pending row of the send (reached or not)."""
    return session.scalar(
        select(func.min(Delivery.due_at)).where(
            Delivery.send_id == send_id, Delivery.status == PENDING
        )
    )


def move_next_due(
    session: Session, send_id: int, *, expected: datetime | None, to: datetime | None
) -> bool:
    """Compare-and-set the send's next due instant: True if it was still ``expected``.

    Two runners reaching one wave: only the winner applies the lateness rule and the hooks.
    """
    same = Send.next_due_at.is_(None) if expected is None else Send.next_due_at == expected
    result = session.execute(
        update(Send)
        .where(Send.id == send_id, same)
        .values(next_due_at=to)
        .execution_options(synchronize_session=False)
    )
    return bool(_rowcount(result))


def set_next_due(session: Session, send_id: int, to: datetime | None) -> None:
    """Set the send's next unreached due instant (after the fan-out or a deferral)."""
    session.execute(
        update(Send)
        .where(Send.id == send_id)
        .values(next_due_at=to)
        .execution_options(synchronize_session=False)
    )


@dataclass(frozen=True)
class ReachedWave:
    """One due instant reached by a runner: how many rows, and how many of them it skipped."""

    due_at: datetime
    rows: int
    missed: int = 0


def waves_between(
    session: Session, send_id: int, *, start: datetime, end: datetime
) -> list[tuple[datetime, int]]:
    """(due instant, pending rows) of the waves due in [start, end], by instant."""
    rows = session.execute(
        select(Delivery.due_at, func.count())
        .where(
            Delivery.send_id == send_id,
            Delivery.status == PENDING,
            Delivery.due_at >= start,
            Delivery.due_at <= end,
        )
        .group_by(Delivery.due_at)
        .order_by(Delivery.due_at)
    ).all()
    return [(due, int(n)) for due, n in rows if due is not None]


def skip_wave(
    session: Session, send_id: int, *, due_at: datetime, reason: str, now: datetime
) -> int:
    """The pending rows of one wave become ``skipped`` with ``reason`` (a missed wave)."""
    result = session.execute(
        update(Delivery)
        .where(
            Delivery.send_id == send_id,
            Delivery.status == PENDING,
            Delivery.due_at == due_at,
        )
        .values(status=DeliveryStatus.SKIPPED.value, error=reason[:1000], updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result)


def defer_rows(
    session: Session, send_id: int, *, due_at: datetime, where: ColumnElement[bool]
) -> int:
    """Pending rows of the send matching ``where`` become due at ``due_at``."""
    result = session.execute(
        update(Delivery)
        .where(Delivery.send_id == send_id, Delivery.status == PENDING, where)
        .values(due_at=due_at)
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result)


def has_claimable_or_in_flight(
    session: Session, send_id: int, next_due_at: datetime | None
) -> bool:
    """Whether some row is in flight, or pending and claimable now."""
    query = select(Delivery.id).where(
        Delivery.send_id == send_id,
        or_(
            Delivery.status == DeliveryStatus.SENDING.value,
            and_(Delivery.status == PENDING, claimable(next_due_at)),
        ),
    )
    return session.scalar(query.limit(1)) is not None


@dataclass(frozen=True)
class WaveProgress:
    """One wave of a send: its due instant (None: due at once) and its rows by status."""

    due_at: datetime | None
    counts: dict[str, int]

    @property
    def total(self) -> int:
        """Rows in this wave."""
        return sum(self.counts.values())


def wave_progress(session: Session, send_id: int) -> list[WaveProgress]:
    """Every wave of the send with its deliveries by status, earliest first."""
    rows = session.execute(
        select(Delivery.due_at, Delivery.status, Delivery.error, func.count())
        .where(Delivery.send_id == send_id)
        .group_by(Delivery.due_at, Delivery.status, Delivery.error)
    ).all()
    waves: dict[datetime | None, dict[str, int]] = {}
    for due, status, error, n in rows:
        key = "missed" if status == "skipped" and (error or "").startswith("missed:") else status
        counts = waves.setdefault(due, {})
        counts[key] = counts.get(key, 0) + int(n)
    order = sorted(waves, key=lambda due: (due is not None, due or datetime.min))
    return [WaveProgress(due, waves[due]) for due in order]


def waiting_due(session: Session, *, now: datetime) -> list[int]:
    """``waiting`` sends whose next due instant has come, oldest first."""
    query = (
        select(Send.id).where(Send.status == "waiting", Send.next_due_at <= now).order_by(Send.id)
    )
    return [int(send_id) for send_id in session.scalars(query)]


def due_case(
    column: Any, instants: Sequence[tuple[str, datetime]], default: datetime
) -> ColumnElement[datetime]:
    """``CASE column WHEN zone THEN instant … ELSE default END`` for a set-based fan-out."""
    if not instants:
        return _literal_instant(default)
    return case(
        *[(column == zone, _literal_instant(instant)) for zone, instant in instants],
        else_=_literal_instant(default),
    )


def _literal_instant(instant: datetime) -> ColumnElement[datetime]:
    return literal(instant, UTCDateTime())


def _rowcount(result: object) -> int:
    assert isinstance(result, CursorResult)
    return int(result.rowcount)


def audience_zones(session: Session, newsletter_id: str, *, now: datetime) -> list[str]:
    """The distinct ``subscribers.timezone`` values of the newsletter's eligible readers."""
    from subscribers.models import Subscriber, Subscription
    from subscribers.queries import eligible_clause

    query = (
        select(Subscriber.timezone)
        .select_from(Subscription)
        .join(Subscriber, Subscriber.id == Subscription.subscriber_id)
        .where(eligible_clause(newsletter_id, now))
        .distinct()
    )
    return sorted(str(zone or "") for zone in session.scalars(query))


@dataclass(frozen=True)
class LocalIssue:
    """What the catalog stored of an issue's delivery mode."""

    deliver: str
    local_wall: str
    overridden: bool


def local_issue(session: Session, slug: str) -> LocalIssue | None:
    """The issue's ``deliver`` mode and wall time (None: no such issue)."""
    from newsletter.models import Issue

    row = session.execute(
        select(Issue.deliver, Issue.local_wall, Issue.scheduled_at_override).where(
            Issue.slug == slug
        )
    ).one_or_none()
    if row is None:
        return None
    return LocalIssue(
        row.deliver or "", row.local_wall or "", row.scheduled_at_override is not None
    )
