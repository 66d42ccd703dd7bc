"""The sunset's ledger: one row per (subscriber, newsletter, episode of inactivity).

States of an episode (``SunsetEpisode.state``):

- ``asking``: claimed, the "still want this?" email is being sent (the row is committed
  *before* the email goes out, so a second runner or a crash never sends two; a row left
  ``asking`` by a dead process is never resent and never used to remove anyone);
- ``asked``: the email was accepted; the grace runs from ``asked_at``;
- closed (``closed_at`` set): ``kept`` (the reader answered yes), ``active`` (a human
  click after the ask), ``left`` (unsubscribed or stopped by other means meanwhile),
  ``removed`` (unsubscribed with the reason ``inactive`` after the grace), ``failed``
  (the backend refused or kept failing; not retried in that episode).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from subscribers.db import Base, utcnow


class EpisodeState(StrEnum):
    """Where one episode of inactivity stands."""

    ASKING = "asking"
    ASKED = "asked"
    KEPT = "kept"
    ACTIVE = "active"
    LEFT = "left"
    REMOVED = "removed"
    FAILED = "failed"


#: States in which an episode is still open.
OPEN_STATES = (EpisodeState.ASKING, EpisodeState.ASKED)


class SunsetEpisode(Base):
    """One episode of a reader's inactivity on one newsletter, and how it ended."""

    __tablename__ = "sunset_episodes"
    __table_args__ = (
        UniqueConstraint("subscriber_id", "newsletter_id", "episode"),
        Index("ix_sunset_episodes_newsletter_state", "newsletter_id", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # No foreign key, as the delivery ledger: erasure anonymizes the person, the row stays.
    subscriber_id: Mapped[int] = mapped_column(Integer)
    newsletter_id: Mapped[str] = mapped_column(String(64))
    episode: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), default=EpisodeState.ASKING)
    #: The oldest and newest send of the issues judged (the window of ``after_issues``).
    first_send_id: Mapped[int] = mapped_column(Integer)
    last_send_id: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    asked_at: Mapped[datetime | None] = mapped_column(default=None)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)
    error: Mapped[str] = mapped_column(Text, default="")
