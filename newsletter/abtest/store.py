"""All A/B SQL: a send's test, drawing the sample, the one-time decision, each group's figures.

Functions take a ``Session`` first and do not commit: the caller owns the transaction.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import CursorResult, and_, case, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from newsletter.abtest.models import AbTestRow
from newsletter.abtest.spec import AbTest
from newsletter.delivery.models import Delivery, DeliveryStatus
from newsletter.tracking.models import Hit

PENDING = DeliveryStatus.PENDING.value


def insert_test(session: Session, send_id: int, test: AbTest) -> None:
    """Record the send's test as the issue file says it now (once: a second call is a no-op)."""
    dialect = session.get_bind().dialect.name
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(AbTestRow)
    statement = insert.values(
        send_id=send_id,
        subjects=json.dumps(list(test.subjects), ensure_ascii=False),
        sample=test.sample.label,
        wait_seconds=int(test.wait.total_seconds()),
        sample_size=0,
        reason="",
        figures="",
    )
    session.execute(statement.on_conflict_do_nothing(index_elements=["send_id"]))


def get_test(session: Session, send_id: int) -> AbTestRow | None:
    """The send's A/B test, or None for a send with one subject."""
    return session.get(AbTestRow, send_id)


def subjects_of(row: AbTestRow) -> tuple[str, ...]:
    """The test's subjects, variant n at index n."""
    return tuple(str(subject) for subject in json.loads(row.subjects))


def pending_ids(session: Session, send_id: int) -> list[int]:
    """The ids of the send's pending ledger rows (the audience, right after the fan-out)."""
    query = select(Delivery.id).where(Delivery.send_id == send_id, Delivery.status == PENDING)
    return [int(delivery_id) for delivery_id in session.scalars(query)]


def assign_sample(session: Session, assignments: Sequence[tuple[int, int]]) -> None:
    """Put each (delivery id, variant) in the sample with its variant: one UPDATE per
    variant and 1,000 rows (a 20,000-reader sample is 20 statements, not 20,000)."""
    by_variant: dict[int, list[int]] = {}
    for delivery_id, variant in assignments:
        by_variant.setdefault(variant, []).append(delivery_id)
    for variant, ids in sorted(by_variant.items()):
        ids.sort()
        for start in range(0, len(ids), 1000):
            session.execute(
                update(Delivery)
                .where(Delivery.id.in_(ids[start : start + 1000]))
                .values(variant=variant, in_sample=True)
                .execution_options(synchronize_session=False)
            )


def set_variant_for_rest(session: Session, send_id: int, variant: int) -> int:
    """Every pending row without a variant gets ``variant`` (the rest gets the winner)."""
    result = session.execute(
        update(Delivery)
        .where(
            Delivery.send_id == send_id,
            Delivery.status == PENDING,
            Delivery.variant.is_(None),
        )
        .values(variant=variant)
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result)


def lock_test(session: Session, send_id: int) -> None:
    """Lock the send's test row for this transaction (an UPDATE that changes nothing)."""
    session.execute(
        update(AbTestRow)
        .where(AbTestRow.send_id == send_id)
        .values(sample_size=AbTestRow.sample_size)
        .execution_options(synchronize_session=False)
    )


def start_test(
    session: Session, send_id: int, *, sample_size: int, decide_at: datetime | None
) -> None:
    """Record the drawn sample's size and when the winner is due."""
    session.execute(
        update(AbTestRow)
        .where(AbTestRow.send_id == send_id)
        .values(sample_size=sample_size, decide_at=decide_at)
        .execution_options(synchronize_session=False)
    )


def record_winner(
    session: Session,
    send_id: int,
    *,
    winner: int,
    reason: str,
    now: datetime,
    figures: list[dict[str, Any]],
) -> bool:
    """Record the winner unless one is recorded already: True if this call decided.

    One UPDATE … WHERE winner IS NULL: two runners deciding at once record one winner,
    and the loser reads the first one back (:func:`get_test`).
    """
    result = session.execute(
        update(AbTestRow)
        .where(AbTestRow.send_id == send_id, AbTestRow.winner.is_(None))
        .values(
            winner=winner,
            reason=reason,
            decided_at=now,
            figures=json.dumps(figures, ensure_ascii=False),
        )
        .execution_options(synchronize_session=False)
    )
    return bool(_rowcount(result))


@dataclass(frozen=True)
class GroupCounts:
    """Ledger rows of one group (a sample variant, or the rest) and those accepted."""

    recipients: int = 0
    delivered: int = 0


#: A group of an A/B send's ledger: ``("sample", n)`` for variant n's sample, or ``REST``.
Group = tuple[str, int | None]
REST: Group = ("rest", None)


def group_counts(session: Session, send_id: int) -> dict[Group, GroupCounts]:
    """Each group's ledger rows and accepted rows."""
    accepted = func.sum(case((Delivery.status == DeliveryStatus.ACCEPTED.value, 1), else_=0))
    rows = session.execute(
        select(Delivery.in_sample, Delivery.variant, func.count(), accepted)
        .where(Delivery.send_id == send_id)
        .group_by(Delivery.in_sample, Delivery.variant)
    ).all()
    found: dict[Group, GroupCounts] = {}
    for in_sample, variant, n, ok in rows:
        key = ("sample", int(variant)) if in_sample and variant is not None else REST
        before = found.get(key, GroupCounts())
        found[key] = GroupCounts(before.recipients + int(n), before.delivered + int(ok or 0))
    return found


def people(session: Session, send_id: int, kind: str) -> dict[Group, int]:
    """Each group's unique people with a ``kind`` hit (``link``: clickers, ``open``: openers).

    ``per_reader`` hits name their ledger row; ``aggregate`` ones name no one, and carry
    the group in the last hex digit of their random reader number instead
    (:func:`newsletter.abtest.service.reader_group`): 0 for the rest, n + 1 for variant
    n's sample. Machines' hits (a non-empty ``reason``) never count.
    """
    found: dict[Group, int] = {}
    per_reader = (
        select(Delivery.in_sample, Delivery.variant, func.count(func.distinct(Hit.reader)))
        .select_from(Hit)
        .join(Delivery, Delivery.id == Hit.delivery_id)
        .where(Hit.send_id == send_id, Hit.kind == kind, Hit.reason == "")
        .group_by(Delivery.in_sample, Delivery.variant)
    )
    for in_sample, variant, n in session.execute(per_reader):
        key = ("sample", int(variant)) if in_sample and variant is not None else REST
        found[key] = found.get(key, 0) + int(n)
    digit = func.substr(Hit.reader, func.length(Hit.reader), 1)
    aggregate = (
        select(digit, func.count(func.distinct(Hit.reader)))
        .where(
            and_(Hit.send_id == send_id, Hit.kind == kind, Hit.reason == ""),
            Hit.delivery_id.is_(None),
            Hit.reader.like("a%"),
        )
        .group_by(digit)
    )
    for last, n in session.execute(aggregate):
        number = int(str(last), 16)
        key = ("sample", number - 1) if number else REST
        found[key] = found.get(key, 0) + int(n)
    return found


def _rowcount(result: object) -> int:
    assert isinstance(result, CursorResult)
    return int(result.rowcount)
