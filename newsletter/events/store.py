"""The ``provider_events`` table and its queries: set-based, idempotent inserts.

SendGrid delivers each event at least once and may give a redelivered event a new
``sg_event_id``, so a duplicate is recognised by either of two unique keys: the provider's
event id, or the natural key (message id, event, timestamp, email). One
``INSERT … ON CONFLICT DO NOTHING RETURNING`` per batch stores the new events and tells
which ones were new, so effects are applied exactly once.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from newsletter.delivery.models import DeliveryStatus, Send
from newsletter.events.sendgrid import PROVIDER_SENDGRID
from newsletter.events.types import ProviderEvent
from subscribers.db import Base, utcnow


class ProviderEventRecord(Base):
    """One stored provider event; ``raw`` is the provider's event exactly as received."""

    __tablename__ = "provider_events"
    __table_args__ = (
        UniqueConstraint(
            "message_id", "event", "timestamp", "email", name="uq_provider_events_natural_key"
        ),
        UniqueConstraint("event_id", name="uq_provider_events_event_id"),
        Index("ix_provider_events_send", "send_id", "kind"),
        Index("ix_provider_events_delivery", "delivery_id"),
        Index("ix_provider_events_email", "email"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(16), default=PROVIDER_SENDGRID)
    kind: Mapped[str] = mapped_column(String(32))
    event: Mapped[str] = mapped_column(String(32))
    email: Mapped[str] = mapped_column(String(320))
    message_id: Mapped[str] = mapped_column(String(256))
    timestamp: Mapped[int] = mapped_column(BigInteger)
    # NULL when the provider gave none: NULLs never collide in a unique key.
    event_id: Mapped[str | None] = mapped_column(String(128), default=None)
    send_id: Mapped[int | None] = mapped_column(Integer, default=None)
    # deliveries.id is 64-bit on PostgreSQL.
    delivery_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    reason: Mapped[str] = mapped_column(Text, default="")
    raw: Mapped[dict[str, Any]] = mapped_column(default=dict)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


_TABLE = cast(Table, ProviderEventRecord.__table__)


def _natural_key(
    message_id: str, event: str, timestamp: int, email: str
) -> tuple[str, str, int, str]:
    return (message_id, event, timestamp, email)


_COLUMNS = (
    "provider",
    "kind",
    "event",
    "email",
    "message_id",
    "timestamp",
    "event_id",
    "send_id",
    "delivery_id",
    "reason",
    "raw",
    "received_at",
)
#: One encoder for every row (``json.dumps`` with options builds a new one per call).
_encode_raw = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_CHUNK = 500  # rows per SQLite statement: well under its parameter limit


def insert_new_events(
    session: Session, events: Sequence[ProviderEvent], *, provider: str = PROVIDER_SENDGRID
) -> list[ProviderEvent]:
    """Store ``events``, skipping duplicates; return the ones that were new, in order.

    One multi-row ``INSERT … ON CONFLICT DO NOTHING RETURNING`` per chunk, written as plain
    SQL: building 1,000 rows through the ORM or Core costs more than the database work.
    """
    if not events:
        return []
    connection = session.connection()
    postgres = connection.dialect.name == "postgresql"
    received_at = _db_timestamp(utcnow(), postgres=postgres)
    inserted: set[tuple[str, str, int, str]] = set()
    rows = [_row(event, provider=provider, received_at=received_at) for event in events]
    if postgres:
        # One statement of eleven arrays, sent in binary (%b): a query with thousands of
        # placeholders, or text arrays, cost psycopg more than PostgreSQL takes to run it.
        arrays = [list(column) for column in zip(*rows, strict=True)][:-1]
        params = (received_at, *arrays)  # received_at is one value, not an array
        result = connection.exec_driver_sql(_PG_INSERT, params)
        inserted.update(_natural_key(*row) for row in result)
    for start in range(0, 0 if postgres else len(rows), _CHUNK):
        chunk = rows[start : start + _CHUNK]
        params = tuple(value for row in chunk for value in row)
        result = connection.exec_driver_sql(_insert_sql(len(chunk)), params)
        inserted.update(_natural_key(*row) for row in result)
    new: list[ProviderEvent] = []
    for event in events:
        key = _natural_key(event.message_id, event.event, event.timestamp, event.email)
        if key in inserted:
            inserted.discard(key)  # a duplicate within the same post counts once
            new.append(event)
    return new


_RETURNING = " ON CONFLICT DO NOTHING RETURNING message_id, event, timestamp, email"
_PG_INSERT = (
    f"INSERT INTO provider_events ({','.join(_COLUMNS)})"
    " SELECT provider, kind, event, email, message_id, ts, event_id, send_id, delivery_id,"
    " reason, raw::json, %s::timestamp FROM unnest(%b::text[], %b::text[], %b::text[],"
    " %b::text[], %b::text[], %b::bigint[], %b::text[], %b::int[], %b::bigint[], %b::text[],"
    " %b::text[]) AS t(provider, kind, event, email, message_id, ts, event_id, send_id,"
    " delivery_id, reason, raw)" + _RETURNING
)


def _insert_sql(rows: int) -> str:
    one = "(" + ",".join("?" * len(_COLUMNS)) + ")"
    return (
        f"INSERT INTO provider_events ({','.join(_COLUMNS)}) VALUES "
        + ",".join([one] * rows)
        + _RETURNING
    )


def _db_timestamp(value: datetime, *, postgres: bool) -> Any:
    # What UTCDateTime would bind: naive UTC (SQLite keeps it as SQLAlchemy's text form).
    naive = value.astimezone(UTC).replace(tzinfo=None)
    return naive if postgres else naive.isoformat(sep=" ", timespec="microseconds")


def _row(event: ProviderEvent, *, provider: str, received_at: Any) -> tuple[Any, ...]:
    return (
        provider,
        event.kind.value,
        event.event,
        event.email,
        event.message_id,
        event.timestamp,
        event.event_id,
        event.send_id,
        event.delivery_id,
        event.reason,
        _encode_raw(event.raw),
        received_at,
    )


def count_events(session: Session, *, send_id: int | None = None) -> dict[str, int]:
    """How many stored events of each kind (for one send, or overall)."""
    stmt = select(_TABLE.c.kind, func.count()).group_by(_TABLE.c.kind)
    if send_id is not None:
        stmt = stmt.where(_TABLE.c.send_id == send_id)
    return {str(kind): int(count) for kind, count in session.execute(stmt)}


def events_for_email(
    session: Session, email: str, *, limit: int = 100
) -> list[ProviderEventRecord]:
    """The latest stored events for one address, newest first."""
    stmt = (
        select(ProviderEventRecord)
        .where(ProviderEventRecord.email == email.strip().lower())
        .order_by(ProviderEventRecord.id.desc())
        .limit(limit)
    )
    return list(session.scalars(stmt))


class DeliveryOutcome(Base):
    """What the provider finally reported for one ledger row (deliveries.id).

    Kept beside the ledger rather than in ``deliveries.status``: the ledger's states say
    whether the provider *accepted* the email (what resends depend on); this says what
    became of it afterwards. A more telling outcome replaces a weaker one, never the reverse.
    """

    __tablename__ = "delivery_outcomes"
    __table_args__ = (Index("ix_delivery_outcomes_send", "send_id", "outcome"),)

    delivery_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True
    )
    send_id: Mapped[int | None] = mapped_column(Integer, default=None)
    outcome: Mapped[str] = mapped_column(String(32))
    severity: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


_OUTCOMES = cast(Table, DeliveryOutcome.__table__)


def record_outcomes(
    session: Session, outcomes: Sequence[tuple[int, int | None, str, int, str]]
) -> None:
    """Upsert (delivery id, send id, outcome, severity, reason); a higher severity wins."""
    if not outcomes:
        return
    connection = session.connection()
    postgres = connection.dialect.name == "postgresql"
    now = _db_timestamp(utcnow(), postgres=postgres)
    if postgres:
        arrays = tuple(list(column) for column in zip(*outcomes, strict=True))
        connection.exec_driver_sql(
            "INSERT INTO delivery_outcomes"
            " (delivery_id, send_id, outcome, severity, reason, updated_at)"
            " SELECT d, s, o, v, r, %s::timestamp FROM unnest(%b::bigint[], %b::int[],"
            " %b::text[], %b::int[], %b::text[]) AS t(d, s, o, v, r)" + _OUTCOME_CONFLICT,
            (now, *arrays),
        )
        return
    for start in range(0, len(outcomes), _CHUNK):
        chunk = outcomes[start : start + _CHUNK]
        values = ",".join(["(?,?,?,?,?,?)"] * len(chunk))
        params = tuple(v for row in chunk for v in (*row, now))
        connection.exec_driver_sql(
            "INSERT INTO delivery_outcomes"
            " (delivery_id, send_id, outcome, severity, reason, updated_at)"
            f" VALUES {values}" + _OUTCOME_CONFLICT,
            params,
        )


_OUTCOME_CONFLICT = (
    " ON CONFLICT (delivery_id) DO UPDATE SET"
    " outcome = excluded.outcome, severity = excluded.severity,"
    " reason = excluded.reason, updated_at = excluded.updated_at"
    " WHERE excluded.severity > delivery_outcomes.severity"
)


def outcome_counts(session: Session, send_id: int) -> dict[str, int]:
    """How many ledger rows of a send ended in each provider outcome."""
    stmt = (
        select(_OUTCOMES.c.outcome, func.count())
        .where(_OUTCOMES.c.send_id == send_id)
        .group_by(_OUTCOMES.c.outcome)
    )
    return {str(outcome): int(count) for outcome, count in session.execute(stmt)}


def settle_unknown_deliveries(session: Session, delivery_ids: Sequence[int]) -> int:
    """Ledger rows left ``unknown`` by a crash that the provider evidently accepted."""
    if not delivery_ids:
        return 0
    connection = session.connection()
    postgres = connection.dialect.name == "postgresql"
    now = _db_timestamp(utcnow(), postgres=postgres)
    accepted, unknown = DeliveryStatus.ACCEPTED.value, DeliveryStatus.UNKNOWN.value
    if postgres:
        result = connection.exec_driver_sql(
            "UPDATE deliveries SET status = %s, updated_at = %s"
            " WHERE status = %s AND id = ANY(%b::bigint[])",
            (accepted, now, unknown, list(delivery_ids)),
        )
        return int(result.rowcount or 0)
    settled = 0
    for start in range(0, len(delivery_ids), _CHUNK):
        chunk = tuple(delivery_ids[start : start + _CHUNK])
        result = connection.exec_driver_sql(
            "UPDATE deliveries SET status = ?, updated_at = ?"
            f" WHERE status = ? AND id IN ({','.join('?' * len(chunk))})",
            (accepted, now, unknown, *chunk),
        )
        settled += int(result.rowcount or 0)
    return settled


def newsletters_of_sends(session: Session, send_ids: Sequence[int]) -> dict[int, str]:
    """The newsletter of each of these sends."""
    if not send_ids:
        return {}
    rows = session.execute(select(Send.id, Send.newsletter_id).where(Send.id.in_(send_ids)))
    return {int(send_id): str(newsletter_id) for send_id, newsletter_id in rows}
