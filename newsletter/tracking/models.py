"""The tracking tables: each send's tracked links, and the hits on them.

``tracked_links`` is written once per send (before its first email goes out) and read
once per process into the redirect's cache. ``tracking_hits`` gets one row per request
on ``/l/`` or ``/o/``, written in batches; ``reason`` is empty for a person and says why
for a machine (docs/tracking.md). With ``aggregate`` tracking ``delivery_id`` and
``subscriber_id`` stay NULL and ``reader`` is a random number from the email, tied to no one.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from newsletter.delivery.models import LedgerId
from subscribers.db import Base


class LinkKind(StrEnum):
    """What a tracked index stands for."""

    LINK = "link"  # a link of the issue
    TRAP = "trap"  # the hidden link no person sees
    OPEN = "open"  # the open pixel


class TrackedLink(Base):
    """One tracked URL of a send, by its index in the token."""

    __tablename__ = "tracked_links"

    send_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    index: Mapped[int] = mapped_column("link_index", Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    url: Mapped[str] = mapped_column(Text)


class Hit(Base):
    """One request on a tracked link or pixel."""

    __tablename__ = "tracking_hits"
    __table_args__ = (
        Index("ix_tracking_hits_send_reader", "send_id", "reader", "at"),
        Index("ix_tracking_hits_subscriber", "subscriber_id"),
    )

    id: Mapped[int] = mapped_column(LedgerId, primary_key=True)
    send_id: Mapped[int] = mapped_column(Integer)
    link_index: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(8))
    reader: Mapped[str] = mapped_column(String(24))
    provider: Mapped[str] = mapped_column(String(16))
    delivery_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    subscriber_id: Mapped[int | None] = mapped_column(Integer, default=None)
    at: Mapped[datetime] = mapped_column()
    method: Mapped[str] = mapped_column(String(8))
    #: Why this request alone is a machine's (HEAD, prefetch, a scanner's agent), or "".
    hit_reason: Mapped[str] = mapped_column(String(64), default="")
    #: The final verdict: hit_reason, or a rule over the reader's hits (burst, trap), or "".
    reason: Mapped[str] = mapped_column(String(64), default="")


class SendDomain(Base):
    """The provider a send counted a domain under, when its MX decided it (written at send
    time, so the report's delivered-per-provider agrees with the clicks' provider codes)."""

    __tablename__ = "tracking_send_domains"

    send_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    domain: Mapped[str] = mapped_column(String(255), primary_key=True)
    provider: Mapped[str] = mapped_column(String(16))


class TrackedSend(Base):
    """How a send was tracked (``aggregate`` or ``per_reader``), written when its first
    runner rewrote its links: the newsletter's setting may change later, a send's does not.
    The sunset counts only ``per_reader`` sends as evidence (docs/automations.md)."""

    __tablename__ = "tracking_sends"

    send_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    mode: Mapped[str] = mapped_column(String(16))
