"""The ``newsletter`` package's tables; delivery tables live in ``newsletter.delivery.models``."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from subscribers.db import Base, utcnow


class IssueStatus(StrEnum):
    """Where an issue stands on its way to readers."""

    DRAFT = "draft"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    SENT = "sent"
    MISSED = "missed"
    CANCELLED = "cancelled"


class Issue(Base):
    """One issue file as last synced from ``issues/``; the file is the source of truth."""

    __tablename__ = "issues"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(200), unique=True)
    newsletter_id: Mapped[str] = mapped_column(String(64), index=True)
    title: Mapped[str] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(Text)
    preheader: Mapped[str] = mapped_column(Text, default="")
    publish_at: Mapped[datetime] = mapped_column(index=True)
    # An editor's `newsletter schedule SLUG --at` wins over the file's date.
    scheduled_at_override: Mapped[datetime | None] = mapped_column(default=None)
    # `deliver: local`: the wall time (ISO, no offset) each reader gets it at in their zone.
    deliver: Mapped[str] = mapped_column(String(16), default="", server_default="")
    local_wall: Mapped[str] = mapped_column(String(32), default="", server_default="")
    # The instant before quiet hours moved it (None: not moved).
    moved_from: Mapped[datetime | None] = mapped_column(default=None)
    source_path: Mapped[str] = mapped_column(Text)
    source_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default=IssueStatus.SCHEDULED)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
