"""The feeds tables: each feed polled for ``issues/``, and each entry imported from it.

``feeds`` keeps what a conditional GET needs (``etag``, ``last_modified``), when the feed is
next due and how it failed (``failures`` in a row and ``last_error``: the back-off).
``lease_until`` is a poller's claim, so two processes never poll one feed at once.
``feed_entries`` has one row per entry id (``entry_key``: guid / Atom id, else the link;
unique per feed through its sha256, ``key_hash``), the issue file it became, a fingerprint
of what the entry said (``fingerprint``) and a hash of the bytes written (``file_hash``): a
file whose bytes differ was edited by hand and is never rewritten.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from subscribers.db import Base, utcnow


class FeedMode(StrEnum):
    """What a new entry becomes."""

    DRAFT = "draft"  # an issue file with ``draft: true``: an editor schedules it
    SCHEDULE = "schedule"  # an issue file scheduled at the entry's date (or soon after)


class Feed(Base):
    """One RSS or Atom feed whose new entries become issue files of one newsletter."""

    __tablename__ = "feeds"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(2000), unique=True)
    newsletter_id: Mapped[str] = mapped_column(String(64))
    mode: Mapped[str] = mapped_column(String(16), default=FeedMode.DRAFT)
    title: Mapped[str] = mapped_column(Text, default="")
    etag: Mapped[str] = mapped_column(Text, default="")
    last_modified: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_polled_at: Mapped[datetime | None] = mapped_column(default=None)
    last_success_at: Mapped[datetime | None] = mapped_column(default=None)
    next_poll_at: Mapped[datetime] = mapped_column(default=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column(default=None)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")


class FeedEntry(Base):
    """One entry of a feed, imported once: the issue file it became."""

    __tablename__ = "feed_entries"
    __table_args__ = (UniqueConstraint("feed_id", "key_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    feed_id: Mapped[int] = mapped_column(ForeignKey("feeds.id", ondelete="CASCADE"), index=True)
    entry_key: Mapped[str] = mapped_column(Text)
    key_hash: Mapped[str] = mapped_column(String(64))
    slug: Mapped[str] = mapped_column(String(200))
    filename: Mapped[str] = mapped_column(Text)
    fingerprint: Mapped[str] = mapped_column(String(64))
    file_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
