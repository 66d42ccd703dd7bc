"""Every query of sequences, by name: steps, due readers (set-based) and dashboard counts.

Functions take a ``Session`` first and do not commit: the service owns the transactions.
A step's readers are rows of the delivery ledger (``deliveries`` on the step's send), so
the unique (send, subscriber) pair is what makes each step once per reader.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, exists, func, literal, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, aliased

from newsletter.delivery import store as delivery_store
from newsletter.delivery.models import Delivery, DeliveryStatus, Send, SendStatus
from newsletter.tracking.models import Hit, LinkKind
from subscribers.models import Subscriber, Subscription, SubscriptionStatus
from subscribers.queries import eligible_clause

from .models import SequenceStep

#: A step is behind a reader once its row is settled (or reported ``unknown``: the
#: provider may have it; better a gap than a step twice).
DONE = (
    DeliveryStatus.ACCEPTED,
    DeliveryStatus.FAILED,
    DeliveryStatus.SKIPPED,
    DeliveryStatus.UNKNOWN,
)


@dataclass(frozen=True)
class StepRow:
    """What a sync writes for one live step file."""

    newsletter_id: str
    name: str
    position: int
    after_seconds: float
    backfill: bool
    subject: str
    source_path: str
    source_hash: str


# --- steps -------------------------------------------------------------------------------


def all_steps(session: Session, newsletter_id: str | None = None) -> list[SequenceStep]:
    """Every step ever seen (removed ones too), by newsletter and place."""
    query = select(SequenceStep).order_by(SequenceStep.newsletter_id, SequenceStep.position)
    if newsletter_id is not None:
        query = query.where(SequenceStep.newsletter_id == newsletter_id)
    return list(session.scalars(query))


def live_steps(session: Session, newsletter_id: str | None = None) -> list[SequenceStep]:
    """The steps whose files are there (not drafts), by newsletter and place."""
    return [step for step in all_steps(session, newsletter_id) if step.removed_at is None]


def step_by_name(session: Session, newsletter_id: str, name: str) -> SequenceStep | None:
    """The step with this file name in the newsletter's sequence."""
    query = select(SequenceStep).where(
        SequenceStep.newsletter_id == newsletter_id, SequenceStep.name == name
    )
    return session.scalars(query).one_or_none()


def add_step(session: Session, row: StepRow, *, send_id: int, now: datetime) -> SequenceStep:
    """Record a step seen for the first time (``first_seen_at`` = now)."""
    step = SequenceStep(
        newsletter_id=row.newsletter_id,
        name=row.name,
        position=row.position,
        after_seconds=row.after_seconds,
        backfill=row.backfill,
        subject=row.subject,
        source_path=row.source_path,
        source_hash=row.source_hash,
        send_id=send_id,
        first_seen_at=now,
        removed_at=None,
        updated_at=now,
    )
    session.add(step)
    session.flush()
    return step


def update_step(session: Session, step: SequenceStep, row: StepRow, *, now: datetime) -> bool:
    """Bring a known step in line with its file (back from removal too); True if it changed."""
    wanted = {
        "position": row.position,
        "after_seconds": row.after_seconds,
        "backfill": row.backfill,
        "subject": row.subject,
        "source_path": row.source_path,
        "source_hash": row.source_hash,
        "removed_at": None,
    }
    changed = {key: value for key, value in wanted.items() if getattr(step, key) != value}
    for key, value in changed.items():
        setattr(step, key, value)
    if changed:
        step.updated_at = now
    return bool(changed)


def remove_step(session: Session, step: SequenceStep, *, now: datetime) -> int:
    """The step's file is gone (or a draft): nobody new gets it; rows waiting are skipped."""
    step.removed_at = now
    step.updated_at = now
    result = session.execute(
        update(Delivery)
        .where(Delivery.send_id == step.send_id, Delivery.status == DeliveryStatus.PENDING)
        .values(status=DeliveryStatus.SKIPPED, error="step removed", updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def create_step_send(
    session: Session, *, slug: str, newsletter_id: str, subject: str, backend: str, now: datetime
) -> int:
    """The step's send in the ledger, created idle (``sent``: nothing to send yet).

    Never left ``queued``: a queued send with no rows would be fanned out to the whole
    audience by a takeover (the engine skips the fan-out for step sends anyway).
    """
    existing = delivery_store.send_for_issue(session, slug)
    if existing is None:
        delivery_store.insert_send(
            session,
            slug=slug,
            newsletter_id=newsletter_id,
            subject=subject,
            backend=backend,
            now=now,
        )
        existing = delivery_store.send_for_issue(session, slug)
        assert existing is not None
        delivery_store.set_send_status(
            session, existing.id, SendStatus.SENT, now=now, only_from=[SendStatus.QUEUED]
        )
    return existing.id


def cancelled_step_sends(session: Session) -> set[int]:
    """The send ids of steps whose send an operator cancelled (``sends cancel``)."""
    query = (
        select(SequenceStep.send_id)
        .join(Send, Send.id == SequenceStep.send_id)
        .where(Send.status == SendStatus.CANCELLED)
    )
    return set(session.scalars(query))


def replacing_welcome(session: Session, newsletter_ids: Sequence[str]) -> set[str]:
    """Of these newsletters, those whose sequence has a live step with ``after: 0``."""
    if not newsletter_ids:
        return set()
    query = select(SequenceStep.newsletter_id).where(
        SequenceStep.newsletter_id.in_(list(newsletter_ids)),
        SequenceStep.removed_at.is_(None),
        SequenceStep.after_seconds == 0,
    )
    return set(session.scalars(query))


# --- who is due --------------------------------------------------------------------------


def _applies(step: SequenceStep) -> ColumnElement[bool]:
    """The reader (their subscription row) is one the step is for."""
    if step.backfill:
        return literal(True)
    return Subscription.confirmed_at >= step.first_seen_at


def _done(step: SequenceStep) -> ColumnElement[bool]:
    return exists().where(
        Delivery.send_id == step.send_id,
        Delivery.subscriber_id == Subscriber.id,
        Delivery.status.in_([s.value for s in DONE]),
    )


def _due_readers(
    step: SequenceStep, earlier: Sequence[SequenceStep], now: datetime
) -> ColumnElement[bool]:
    conditions = [
        eligible_clause(step.newsletter_id, now),
        Subscription.confirmed_at.is_not(None),
        Subscription.confirmed_at <= now - timedelta(seconds=step.after_seconds),
        _applies(step),
        ~exists().where(Delivery.send_id == step.send_id, Delivery.subscriber_id == Subscriber.id),
    ]
    # In order: every earlier step that is for this reader is behind them.
    conditions += [or_(~_applies(before), _done(before)) for before in earlier]
    return and_(*conditions)


def enqueue_due(
    session: Session, step: SequenceStep, *, earlier: Sequence[SequenceStep], now: datetime
) -> int:
    """Add a pending ledger row for every reader the step fell due for; returns how many.

    One ``INSERT … SELECT`` (idempotent on the ledger's unique pair); the send's ``total``
    follows. Eligibility is checked again when each batch is claimed, as for issues.
    """
    audience = (
        select(
            literal(step.send_id), Subscriber.id, literal(DeliveryStatus.PENDING.value), literal(0)
        )
        .select_from(Subscription)
        .join(Subscriber, Subscriber.id == Subscription.subscriber_id)
        .where(_due_readers(step, earlier, now))
        .order_by(Subscriber.id)
    )
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(Delivery).from_select(
        ["send_id", "subscriber_id", "status", "attempts"], audience
    )
    # RETURNING counts the rows on both databases (psycopg reports no rowcount here).
    inserted = session.execute(
        statement.on_conflict_do_nothing(index_elements=["send_id", "subscriber_id"]).returning(
            Delivery.id
        )
    )
    added = len(inserted.all())
    if added:
        total = select(func.count()).where(Delivery.send_id == step.send_id).scalar_subquery()
        session.execute(
            update(Send)
            .where(Send.id == step.send_id)
            .values(total=total)
            .execution_options(synchronize_session=False)
        )
    return added


def any_due(
    session: Session, step: SequenceStep, *, earlier: Sequence[SequenceStep], now: datetime
) -> bool:
    """Whether :func:`enqueue_due` would add a row now (a read, before claiming the send)."""
    query = (
        select(Subscriber.id)
        .select_from(Subscription)
        .join(Subscriber, Subscriber.id == Subscription.subscriber_id)
        .where(_due_readers(step, earlier, now))
        .limit(1)
    )
    return session.scalar(query) is not None


# --- the dashboard -----------------------------------------------------------------------


def furthest_steps(session: Session, newsletter_id: str) -> dict[int, int]:
    """Readers subscribed now, counted by the furthest step they have a row on (send id)."""
    furthest = (
        select(Delivery.subscriber_id, func.max(SequenceStep.position).label("position"))
        .join(SequenceStep, SequenceStep.send_id == Delivery.send_id)
        .where(SequenceStep.newsletter_id == newsletter_id)
        .group_by(Delivery.subscriber_id)
        .subquery()
    )
    query = (
        select(furthest.c.position, func.count())
        .join(
            Subscription,
            and_(
                Subscription.subscriber_id == furthest.c.subscriber_id,
                Subscription.newsletter_id == newsletter_id,
                Subscription.status == SubscriptionStatus.ACTIVE,
            ),
        )
        .group_by(furthest.c.position)
    )
    return {int(position): int(count) for position, count in session.execute(query)}


def not_started(session: Session, newsletter_id: str) -> int:
    """Readers subscribed now with no row on any step of the newsletter's sequence."""
    on_a_step = exists().where(
        Delivery.subscriber_id == Subscription.subscriber_id,
        Delivery.send_id.in_(
            select(SequenceStep.send_id).where(SequenceStep.newsletter_id == newsletter_id)
        ),
    )
    query = select(func.count()).where(
        Subscription.newsletter_id == newsletter_id,
        Subscription.status == SubscriptionStatus.ACTIVE,
        ~on_a_step,
    )
    return int(session.scalar(query) or 0)


def left_after(session: Session, step: SequenceStep) -> int:
    """Readers who unsubscribed with this step as the last one they received."""
    later = select(SequenceStep.send_id).where(
        SequenceStep.newsletter_id == step.newsletter_id, SequenceStep.position > step.position
    )
    other = aliased(Delivery)
    query = (
        select(func.count())
        .select_from(Delivery)
        .join(
            Subscription,
            and_(
                Subscription.subscriber_id == Delivery.subscriber_id,
                Subscription.newsletter_id == step.newsletter_id,
            ),
        )
        .where(
            Delivery.send_id == step.send_id,
            Delivery.status == DeliveryStatus.ACCEPTED,
            Subscription.status == SubscriptionStatus.UNSUBSCRIBED,
            ~exists().where(
                other.subscriber_id == Delivery.subscriber_id,
                other.send_id.in_(later),
                other.status == DeliveryStatus.ACCEPTED,
            ),
        )
    )
    return int(session.scalar(query) or 0)


def human_clickers(session: Session, send_id: int) -> int:
    """Readers with at least one click on the step's links that was a person's."""
    query = select(func.count(func.distinct(Hit.reader))).where(
        Hit.send_id == send_id, Hit.kind == LinkKind.LINK, Hit.reason == ""
    )
    return int(session.scalar(query) or 0)
