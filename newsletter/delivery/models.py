"""The delivery engine's tables: sends and the per-recipient ledger of deliveries.

States:
- ``Send.status``: ``queued`` → ``sending`` → ``sent``; ``sending`` ⇄ ``waiting`` (every row
  due so far is settled and the rest is due later: nobody runs it until ``next_due_at``,
  then a scheduler or worker takes it again, see ``waves``); or ``paused`` (too many errors or
  the provider kept failing; ``sends resume`` continues), ``failed``, ``cancelled``.
- ``Delivery.status``: ``pending`` → ``sending`` (claimed in a batch, marked *before* the
  request) → ``accepted`` | ``failed`` | ``skipped`` (no longer eligible when claimed);
  ``unknown`` when a process died with the batch in flight.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from subscribers.db import Base, utcnow

#: 64-bit ids on PostgreSQL (a ledger grows by the audience on every send); SQLite's
#: rowid alias needs the plain INTEGER spelling to autoincrement.
LedgerId = BigInteger().with_variant(Integer(), "sqlite")


class SendStatus(StrEnum):
    """Where a send stands."""

    QUEUED = "queued"
    SENDING = "sending"
    #: Every row due so far is settled; the rest is due at ``next_due_at`` (waves).
    WAITING = "waiting"
    SENT = "sent"
    PAUSED = "paused"
    FAILED = "failed"
    CANCELLED = "cancelled"


class DeliveryStatus(StrEnum):
    """Where one recipient of a send stands."""

    PENDING = "pending"
    SENDING = "sending"
    ACCEPTED = "accepted"
    FAILED = "failed"
    SKIPPED = "skipped"
    UNKNOWN = "unknown"


class Send(Base):
    """One issue going out to its newsletter's audience; at most one per issue."""

    __tablename__ = "sends"

    id: Mapped[int] = mapped_column(primary_key=True)
    issue_slug: Mapped[str] = mapped_column(String(200), unique=True)
    newsletter_id: Mapped[str] = mapped_column(String(64), index=True)
    subject: Mapped[str] = mapped_column(Text, default="")
    backend: Mapped[str] = mapped_column(String(16), default="")
    status: Mapped[str] = mapped_column(String(16), default=SendStatus.QUEUED, index=True)
    total: Mapped[int] = mapped_column(default=0)
    # Consecutive recipient errors, shared by every worker: the pause-after-N rule.
    error_streak: Mapped[int] = mapped_column(default=0)
    error: Mapped[str] = mapped_column(Text, default="")
    worker: Mapped[str] = mapped_column(String(64), default="")
    heartbeat_at: Mapped[datetime | None] = mapped_column(default=None)
    # The earliest due instant of a pending row not reached yet (None: every row is
    # reached). Rows due before it are claimable; see ``newsletter.delivery.waves``.
    next_due_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    # An advertising issue (``ad: true``): only advertising consenters (docs/advertising.md).
    ad: Mapped[bool] = mapped_column(default=False, server_default=false())


class Delivery(Base):
    """One (send, subscriber) pair: the ledger row that makes every email exactly-once."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("send_id", "subscriber_id"),
        Index("ix_deliveries_claim", "send_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(LedgerId, primary_key=True)
    send_id: Mapped[int] = mapped_column(Integer)
    # No foreign key: erasing a person must not erase (or be blocked by) the ledger.
    subscriber_id: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.PENDING)
    batch: Mapped[str | None] = mapped_column(String(32), default=None)
    worker: Mapped[str | None] = mapped_column(String(64), default=None)
    attempts: Mapped[int] = mapped_column(default=0)
    provider_message_id: Mapped[str | None] = mapped_column(String(128), default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    updated_at: Mapped[datetime | None] = mapped_column(default=None)
    # When the row may be sent (a wave, an A/B remainder); None: at once.
    due_at: Mapped[datetime | None] = mapped_column(default=None)
    #: A/B sends (newsletter/abtest/): the index of the subject this row gets, written by
    #: the fan-out for the sample and by the due hook for the rest (before any claim).
    variant: Mapped[int | None] = mapped_column(SmallInteger, default=None)
    in_sample: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class RateLimit(Base):
    """A shared rate limit: the instant (epoch seconds) of the next free sending slot.

    Every worker reserves its slots with one atomic UPDATE, so the limit holds across
    processes and machines.
    """

    __tablename__ = "delivery_rate_limits"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    next_at: Mapped[float] = mapped_column(Float, default=0.0)


class SendBatch(Base):
    """One batch's time span, from its claim to its settlement.

    ``sends show`` computes a send's rate over the union of these spans: the time spent
    sending, without the wait before a scheduled start or the time a send stood paused.
    """

    __tablename__ = "send_batches"

    id: Mapped[int] = mapped_column(LedgerId, primary_key=True)
    send_id: Mapped[int] = mapped_column(Integer, index=True)
    worker: Mapped[str] = mapped_column(String(64), default="")
    started_at: Mapped[datetime] = mapped_column()
    finished_at: Mapped[datetime] = mapped_column()
    recipients: Mapped[int] = mapped_column(default=0)
