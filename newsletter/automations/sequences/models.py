"""The ``sequence_steps`` table: every step file as first seen, tied to its send.

A step's emails go through the delivery ledger like an issue's: each step has one ``sends``
row (``issue_slug`` = :func:`step_slug`), and each reader who reaches the step gets one
``deliveries`` row on it (unique per send and subscriber), so nobody gets a step twice.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from newsletter.delivery.content import STEP_PREFIX
from subscribers.db import Base, utcnow

#: A step's send is named ``sequence/NEWSLETTER/STEM``: an issue slug never holds ``/``.
SLUG_PREFIX = STEP_PREFIX


def step_slug(newsletter_id: str, name: str) -> str:
    """The ``sends.issue_slug`` of a step (``sequence/weekly/01-welcome``)."""
    return f"{SLUG_PREFIX}{newsletter_id}/{name}"


class SequenceStep(Base):
    """One step file of a newsletter's sequence, as last synced."""

    __tablename__ = "sequence_steps"
    __table_args__ = (UniqueConstraint("newsletter_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    newsletter_id: Mapped[str] = mapped_column(String(64))
    #: The file name without extension (``01-welcome``): the step's identity.
    name: Mapped[str] = mapped_column(String(160))
    position: Mapped[int] = mapped_column(Integer)
    after_seconds: Mapped[float] = mapped_column(Float)
    backfill: Mapped[bool] = mapped_column(Boolean, default=False)
    subject: Mapped[str] = mapped_column(Text, default="")
    source_path: Mapped[str] = mapped_column(Text, default="")
    source_hash: Mapped[str] = mapped_column(String(64), default="")
    send_id: Mapped[int] = mapped_column(Integer, unique=True)
    #: When a sync first saw the file: readers confirmed before it get the step only with
    #: ``backfill: true``.
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: Set while the file is gone (a step removed is sent to nobody new; it comes back
    #: with its first_seen_at when the file does).
    removed_at: Mapped[datetime | None] = mapped_column(default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
