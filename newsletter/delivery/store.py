"""Every query of the delivery engine, by name: sends, the ledger, batches, the rate limit.

Hot paths are set-based: the fan-out is one ``INSERT … SELECT``, a batch is claimed with
one ``UPDATE … RETURNING`` (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several workers
never claim the same row) and settled with a handful of ``UPDATE`` s. Functions take a
``Session`` first and do not commit: the engine owns the transactions.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Table,
    and_,
    bindparam,
    case,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from newsletter.delivery.models import (
    Delivery,
    DeliveryStatus,
    RateLimit,
    Send,
    SendBatch,
    SendStatus,
)
from newsletter.models import Issue, IssueStatus
from subscribers.ad_consent import ad_clause
from subscribers.models import Subscriber, Subscription
from subscribers.queries import eligible_clause

ACTIVE_DELIVERY = (DeliveryStatus.PENDING, DeliveryStatus.SENDING)


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    """One ledger row of a claimed batch, with what personalization needs."""

    delivery_id: int
    subscriber_id: int
    email: str
    name: str
    #: A/B sends: the row's subject (its index) and whether it is in the sample.
    variant: int | None = None
    in_sample: bool = False


@dataclass(frozen=True, slots=True)
class Settlement:
    """The outcome to record for one delivery."""

    delivery_id: int
    status: DeliveryStatus
    provider_message_id: str | None = None
    error: str | None = None


def _insert(session: Session, table: Any) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


# --- sends -------------------------------------------------------------------------------


def get_send(session: Session, send_id: int) -> Send | None:
    """The send with this id."""
    return session.get(Send, send_id)


def send_for_issue(session: Session, slug: str) -> Send | None:
    """The send of the issue ``slug`` (there is at most one)."""
    return session.scalars(select(Send).where(Send.issue_slug == slug)).one_or_none()


def insert_send(
    session: Session,
    *,
    slug: str,
    newsletter_id: str,
    subject: str,
    backend: str,
    now: datetime,
    worker: str = "",
    ad: bool = False,
) -> None:
    """Queue a send for ``slug`` unless the issue already has one (race-free).

    ``worker``: its creator, who claims it next (``""``: left for a worker).
    """
    statement = _insert(session, Send).values(
        issue_slug=slug,
        newsletter_id=newsletter_id,
        subject=subject,
        backend=backend,
        status=SendStatus.QUEUED,
        total=0,
        error_streak=0,
        error="",
        worker=worker,
        created_at=now,
        ad=ad,
    )
    session.execute(statement.on_conflict_do_nothing(index_elements=["issue_slug"]))


def mark_send_ad(session: Session, send_id: int) -> bool:
    """Make the send an advertising send (never back): its later claims keep only consenters.

    For an issue that became ``ad: true`` after its send was created; whether a row changed.
    """
    result = session.execute(
        update(Send).where(Send.id == send_id, Send.ad.is_(False)).values(ad=True)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def list_sends(session: Session, *, limit: int = 50) -> list[Send]:
    """The most recent sends first."""
    return list(session.scalars(select(Send).order_by(Send.id.desc()).limit(limit)))


def claim_send(
    session: Session,
    send_id: int,
    *,
    worker: str,
    now: datetime,
    from_statuses: Sequence[str] = (SendStatus.QUEUED,),
    stale_before: datetime | None = None,
    dead_worker: str | None = None,
    due_by: datetime | None = None,
) -> bool:
    """Atomically make ``worker`` the runner of the send; False if someone else got it.

    Allowed from ``from_statuses``, or from ``sending`` when the last heartbeat is older
    than ``stale_before`` (its runner died), or when its runner is still ``dead_worker``
    (proved dead by the caller; a takeover by someone else changed the name), or from
    ``waiting`` when its next due instant is at or before ``due_by`` (waves).
    """
    allowed: ColumnElement[bool] = Send.status.in_(list(from_statuses))
    if due_by is not None:
        due = and_(Send.status == SendStatus.WAITING, Send.next_due_at <= due_by)
        allowed = or_(allowed, due)
    if stale_before is not None:
        stale = and_(Send.status == SendStatus.SENDING, Send.heartbeat_at < stale_before)
        allowed = or_(allowed, stale)
    if dead_worker:
        dead = and_(Send.status == SendStatus.SENDING, Send.worker == dead_worker)
        allowed = or_(allowed, dead)
    result = session.execute(
        update(Send)
        .where(Send.id == send_id, allowed)
        .values(
            status=SendStatus.SENDING,
            worker=worker,
            heartbeat_at=now,
            error="",
            error_streak=0,
            started_at=func.coalesce(Send.started_at, now),
        )
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def sends_with_status(session: Session, status: SendStatus) -> list[Send]:
    """Every send in ``status``, oldest first."""
    return list(session.scalars(select(Send).where(Send.status == status).order_by(Send.id)))


def next_queued_send(session: Session, *, stale_before: datetime) -> int | None:
    """A send waiting for a worker (queued, or sending with a dead runner), locked if possible."""
    query = (
        select(Send.id)
        .where(
            or_(
                Send.status == SendStatus.QUEUED,
                and_(Send.status == SendStatus.SENDING, Send.heartbeat_at < stale_before),
            )
        )
        .order_by(Send.id)
        .limit(1)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return session.scalar(query)


def joinable_send(session: Session) -> int | None:
    """A send being sent that still has pending rows, which another worker may help with."""
    pending = select(Delivery.id).where(
        Delivery.send_id == Send.id,
        Delivery.status == DeliveryStatus.PENDING,
        # Only rows a runner may claim now: not those of a wave still ahead.
        or_(
            Send.next_due_at.is_(None),
            Delivery.due_at.is_(None),
            Delivery.due_at < Send.next_due_at,
        ),
    )
    query = (
        select(Send.id)
        .where(Send.status == SendStatus.SENDING, pending.exists())
        .order_by(Send.id)
        .limit(1)
    )
    return session.scalar(query)


def heartbeat(session: Session, send_id: int, *, worker: str, now: datetime) -> str | None:
    """Say a runner of the send is alive; returns the send's status (None if gone).

    Any runner keeps the send alive (``worker`` is the caller, for the record): several
    workers on PostgreSQL send one send together, and it is taken over (its in-flight
    rows reported ``unknown``) only when none of them has written for a while.
    """
    session.execute(
        update(Send)
        .where(Send.id == send_id, Send.status == SendStatus.SENDING)
        .values(heartbeat_at=now)
        .execution_options(synchronize_session=False)
    )
    return session.scalar(select(Send.status).where(Send.id == send_id))


def set_send_status(
    session: Session,
    send_id: int,
    status: SendStatus,
    *,
    now: datetime,
    error: str | None = None,
    only_from: Sequence[str] | None = None,
) -> bool:
    """Move the send to ``status`` (only from ``only_from`` when given)."""
    values: dict[str, Any] = {"status": status}
    if error is not None:
        values["error"] = error[:2000]
    if status in (SendStatus.SENT, SendStatus.FAILED, SendStatus.CANCELLED):
        values["finished_at"] = now
    query = update(Send).where(Send.id == send_id)
    if only_from is not None:
        query = query.where(Send.status.in_(list(only_from)))
    result = session.execute(query.values(**values).execution_options(synchronize_session=False))
    return bool(result.rowcount)  # type: ignore[attr-defined]


#: The status an issue takes from its send; any other send status reads ``sending``.
ISSUE_STATUS_OF_SEND = {
    SendStatus.SENT: IssueStatus.SENT,
    SendStatus.CANCELLED: IssueStatus.CANCELLED,
}
#: Issue statuses a send may move; a draft is never sent and a sent issue stays sent.
_MOVABLE_ISSUE = (
    IssueStatus.SCHEDULED,
    IssueStatus.MISSED,
    IssueStatus.SENDING,
    IssueStatus.CANCELLED,
)


def mirror_issue_status(session: Session, send_id: int) -> None:
    """Put the send's issue in step with the send, in the transaction that moved the send.

    Every path that starts or ends a send (scheduler, CLI, admin, worker) goes through the
    engine, so ``issues list`` and the archive read right without a running scheduler.
    """
    send = session.execute(select(Send.issue_slug, Send.status).where(Send.id == send_id)).one()
    target = ISSUE_STATUS_OF_SEND.get(SendStatus(send.status), IssueStatus.SENDING)
    session.execute(
        update(Issue)
        .where(Issue.slug == send.issue_slug, Issue.status.in_(_MOVABLE_ISSUE))
        .values(status=target)
        .execution_options(synchronize_session=False)
    )


def record_errors(session: Session, send_id: int, *, failed: int, reset: bool) -> int:
    """Count ``failed`` consecutive errors (after a reset when something went through).

    Returns the new streak; the streak is shared by every worker of the send.
    """
    base = literal(0) if reset else Send.error_streak
    session.execute(
        update(Send)
        .where(Send.id == send_id)
        .values(error_streak=base + failed)
        .execution_options(synchronize_session=False)
    )
    return int(session.scalar(select(Send.error_streak).where(Send.id == send_id)) or 0)


# --- the ledger --------------------------------------------------------------------------


def fan_out(
    session: Session,
    send_id: int,
    *,
    newsletter_id: str,
    now: datetime,
    due_at: ColumnElement[datetime] | None = None,
) -> int:
    """One ledger row per eligible subscriber (set-based, idempotent); sets ``total``.

    ``due_at``: an expression over ``Subscriber`` giving each row its due instant
    (``newsletter.timing``: waves); without it every row is due at once.
    """
    columns = ["send_id", "subscriber_id", "status", "attempts"]
    values: list[Any] = [
        literal(send_id),
        Subscriber.id,
        literal(DeliveryStatus.PENDING.value),
        literal(0),
    ]
    if due_at is not None:
        columns.append("due_at")
        values.append(due_at)
    audience = (
        select(*values)
        .select_from(Subscription)
        .join(Subscriber, Subscriber.id == Subscription.subscriber_id)
        .where(_audience(session, send_id, newsletter_id, now))
        .order_by(Subscriber.id)
    )
    insert = _insert(session, Delivery).from_select(columns, audience)
    session.execute(insert.on_conflict_do_nothing(index_elements=["send_id", "subscriber_id"]))
    total = session.scalar(select(func.count()).where(Delivery.send_id == send_id)) or 0
    session.execute(
        update(Send)
        .where(Send.id == send_id)
        .values(total=total)
        .execution_options(synchronize_session=False)
    )
    return int(total)


def claim_batch(
    session: Session,
    send_id: int,
    *,
    newsletter_id: str,
    batch: str,
    worker: str,
    limit: int,
    now: datetime,
    due_before: datetime | None = None,
) -> tuple[int, list[ClaimedDelivery]]:
    """Claim up to ``limit`` pending rows as ``sending``; the no longer eligible are skipped.

    Returns how many rows were claimed and, of those, the ones to send now. With
    ``due_before`` (the send's next unreached due instant) only rows without a due
    instant or due before it are claimed (waves, ``newsletter.timing.waves``).

    The claim is the transaction's first statement, a write, so SQLite takes its write
    lock at once; on PostgreSQL ``SKIP LOCKED`` lets workers claim side by side.
    """
    ledger: Table = Delivery.__table__  # type: ignore[assignment]  # Core: once per batch
    pending = (
        select(ledger.c.id)
        .where(ledger.c.send_id == send_id, ledger.c.status == DeliveryStatus.PENDING.value)
        .order_by(ledger.c.id)
        .limit(limit)
    )
    if due_before is not None:
        pending = pending.where(or_(ledger.c.due_at.is_(None), ledger.c.due_at < due_before))
    if session.get_bind().dialect.name == "postgresql":
        pending = pending.with_for_update(skip_locked=True)
    claimed = (
        session.execute(
            update(ledger)
            .where(ledger.c.id.in_(pending.scalar_subquery()))
            .values(
                status=DeliveryStatus.SENDING.value,
                batch=batch,
                worker=worker,
                attempts=ledger.c.attempts + 1,
                updated_at=now,
            )
            .returning(ledger.c.id, ledger.c.subscriber_id, ledger.c.variant, ledger.c.in_sample)
        )
    ).all()
    if not claimed:
        return 0, []
    by_subscriber = {subscriber_id: delivery_id for delivery_id, subscriber_id, _, _ in claimed}
    ab = {delivery_id: (variant, bool(sample)) for delivery_id, _, variant, sample in claimed}
    people = _eligible_between(session, newsletter_id, now, list(by_subscriber), send_id=send_id)
    rows = [
        ClaimedDelivery(by_subscriber[sid], sid, email, name or "", *ab[by_subscriber[sid]])
        for sid, email, name in people
        if sid in by_subscriber
    ]
    if len(rows) < len(claimed):
        kept = {row.subscriber_id for row in rows}
        gone = [d for sid, d in by_subscriber.items() if sid not in kept]
        skipped = "not eligible at send time"
        settle(
            session, [Settlement(d, DeliveryStatus.SKIPPED, error=skipped) for d in gone], now=now
        )
    return len(claimed), sorted(rows, key=lambda row: row.delivery_id)


def _audience(
    session: Session, send_id: int, newsletter_id: str, now: datetime
) -> ColumnElement[bool]:
    """Who may receive this send now: the newsletter's eligible readers and, for an
    advertising send, only those with an active advertising consent (checked at the fan-out
    and again at every claim, so a withdrawal is honoured by the very next batch)."""
    clause = eligible_clause(newsletter_id, now)
    if session.scalar(select(Send.ad).where(Send.id == send_id)):
        clause = and_(clause, ad_clause(newsletter_id))
    return clause


def _eligible_between(
    session: Session,
    newsletter_id: str,
    now: datetime,
    subscriber_ids: list[int],
    *,
    send_id: int,
) -> list[tuple[int, str, str | None]]:
    """(id, email, name) of the eligible subscribers in the id range of ``subscriber_ids``.

    A range on the audience index (newsletter, status, subscriber) rather than an IN list:
    a batch's subscribers are nearly contiguous because the fan-out follows their ids.
    The caller keeps those of its batch.
    """
    query = (
        select(Subscriber.id, Subscriber.email, Subscriber.name)
        .select_from(Subscription)
        .join(Subscriber, Subscriber.id == Subscription.subscriber_id)
        .where(
            _audience(session, send_id, newsletter_id, now),
            Subscription.subscriber_id.between(min(subscriber_ids), max(subscriber_ids)),
        )
    )
    return [(int(sid), str(email), name) for sid, email, name in session.execute(query)]


def settle(session: Session, settlements: Iterable[Settlement], *, now: datetime) -> None:
    """Record outcomes; only rows still ``sending`` change (a claim is settled once)."""
    params = [
        {
            "b_id": s.delivery_id,
            "b_status": s.status.value,
            "b_provider": s.provider_message_id,
            "b_error": None if s.error is None else s.error[:1000],
        }
        for s in settlements
    ]
    if not params:
        return
    statement = (
        update(Delivery)
        .where(Delivery.id == bindparam("b_id"), Delivery.status == DeliveryStatus.SENDING)
        .values(
            status=bindparam("b_status"),
            provider_message_id=bindparam("b_provider"),
            error=bindparam("b_error"),
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    session.connection().execute(statement, params)


def settle_batch(
    session: Session,
    send_id: int,
    *,
    batch: str,
    status: DeliveryStatus,
    now: datetime,
    provider_message_id: str | None = None,
    error: str | None = None,
) -> int:
    """Record one outcome for every row of a batch still ``sending`` (one UPDATE)."""
    result = session.execute(
        update(Delivery)
        .where(
            Delivery.send_id == send_id,
            Delivery.batch == batch,
            Delivery.status == DeliveryStatus.SENDING,
        )
        .values(
            status=status,
            provider_message_id=provider_message_id,
            error=None if error is None else error[:1000],
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def release_batch(session: Session, send_id: int, *, batch: str, now: datetime) -> int:
    """Put a batch that surely did not go out back to ``pending``."""
    result = session.execute(
        update(Delivery)
        .where(
            Delivery.send_id == send_id,
            Delivery.batch == batch,
            Delivery.status == DeliveryStatus.SENDING,
        )
        .values(status=DeliveryStatus.PENDING, batch=None, worker=None, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def mark_in_flight_unknown(
    session: Session, send_id: int, *, now: datetime, workers: Sequence[str] | None = None
) -> int:
    """Rows left ``sending`` by dead runners (all, or those of ``workers``) become ``unknown``."""
    query = update(Delivery).where(
        Delivery.send_id == send_id, Delivery.status == DeliveryStatus.SENDING
    )
    if workers is not None:
        query = query.where(Delivery.worker.in_(list(workers)))
    result = session.execute(
        query.values(
            status=DeliveryStatus.UNKNOWN, error="process died mid-request", updated_at=now
        ).execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def runners_in_flight(session: Session, send_id: int) -> list[str]:
    """The runners that have rows of the send in flight (claimed, not settled)."""
    query = (
        select(Delivery.worker)
        .where(Delivery.send_id == send_id, Delivery.status == DeliveryStatus.SENDING)
        .distinct()
    )
    return [worker for worker in session.scalars(query) if worker]


def runner_has_rows_in_flight(session: Session, worker: str) -> bool:
    """Whether ``worker`` has claimed rows it has not settled (of any send)."""
    query = select(Delivery.id).where(
        Delivery.status == DeliveryStatus.SENDING, Delivery.worker == worker
    )
    return session.scalar(query.limit(1)) is not None


def requeue_unknown(session: Session, send_id: int, *, now: datetime) -> int:
    """``unknown`` rows back to ``pending`` (the operator chose to risk a duplicate)."""
    result = session.execute(
        update(Delivery)
        .where(Delivery.send_id == send_id, Delivery.status == DeliveryStatus.UNKNOWN)
        .values(status=DeliveryStatus.PENDING, batch=None, worker=None, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def counts(session: Session, send_id: int) -> dict[str, int]:
    """How many deliveries of the send are in each status (every status present)."""
    rows = session.execute(
        select(Delivery.status, func.count())
        .where(Delivery.send_id == send_id)
        .group_by(Delivery.status)
    ).all()
    found = {status: int(n) for status, n in rows}
    return {status.value: found.get(status.value, 0) for status in DeliveryStatus}


def has_active_rows(session: Session, send_id: int) -> bool:
    """Whether any delivery is still pending or in flight."""
    query = select(Delivery.id).where(
        Delivery.send_id == send_id, Delivery.status.in_([s.value for s in ACTIVE_DELIVERY])
    )
    return session.scalar(query.limit(1)) is not None


def recent_errors(session: Session, send_id: int, *, limit: int = 5) -> list[tuple[str, int]]:
    """The most frequent failure reasons of the send, with their counts."""
    rows = session.execute(
        select(Delivery.error, func.count().label("n"))
        .where(Delivery.send_id == send_id, Delivery.status == DeliveryStatus.FAILED)
        .group_by(Delivery.error)
        .order_by(func.count().desc())
        .limit(limit)
    ).all()
    return [(error or "", int(n)) for error, n in rows]


def record_batch(
    session: Session,
    send_id: int,
    *,
    worker: str,
    started_at: datetime,
    finished_at: datetime,
    recipients: int,
) -> None:
    """Record one batch's time span (claim to settlement)."""
    session.execute(
        insert(SendBatch).values(
            send_id=send_id,
            worker=worker,
            started_at=started_at,
            finished_at=finished_at,
            recipients=recipients,
        )
    )


def batch_spans(session: Session, send_id: int) -> list[tuple[datetime, datetime]]:
    """(start, end) of every batch of the send, by start."""
    rows = session.execute(
        select(SendBatch.started_at, SendBatch.finished_at)
        .where(SendBatch.send_id == send_id)
        .order_by(SendBatch.started_at)
    )
    return [(start, end) for start, end in rows]


# --- the shared rate limit ---------------------------------------------------------------


def reserve_slots(session: Session, name: str, *, cost: float, now: float) -> float:
    """Reserve ``cost`` seconds of sending time; returns when (epoch s) the slot starts."""
    session.execute(
        _insert(session, RateLimit)
        .values(name=name, next_at=0.0)
        .on_conflict_do_nothing(index_elements=["name"])
    )
    start = case((RateLimit.next_at > now, RateLimit.next_at), else_=literal(now))
    ends = session.execute(
        update(RateLimit)
        .where(RateLimit.name == name)
        .values(next_at=start + cost)
        .returning(RateLimit.next_at)
        .execution_options(synchronize_session=False)
    ).scalar_one()
    return float(ends) - cost
