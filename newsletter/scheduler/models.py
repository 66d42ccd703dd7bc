"""The scheduler's table: per issue, who overrode its date and which instant was fired.

The issues table (``newsletter.models``) belongs to the catalog; the scheduler keeps its own
bookkeeping beside it, one row per issue, removed with the issue.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from subscribers.db import Base, utcnow


class IssueSchedule(Base):
    """The scheduler's record of one issue: its override, its last firing, why it stopped."""

    __tablename__ = "issue_schedules"

    issue_id: Mapped[int] = mapped_column(
        ForeignKey("issues.id", ondelete="CASCADE"), primary_key=True
    )
    # Who ran `newsletter schedule SLUG --at` and when; the instant itself is
    # issues.scheduled_at_override.
    override_by: Mapped[str] = mapped_column(String(200), default="")
    override_set_at: Mapped[datetime | None] = mapped_column(default=None)
    # The instant a scheduler claimed to send, when, and which process: the claim that keeps
    # two schedulers (or a job and a restart) from starting the same issue twice.
    fired_for: Mapped[datetime | None] = mapped_column(default=None)
    fired_at: Mapped[datetime | None] = mapped_column(default=None)
    fired_by: Mapped[str] = mapped_column(String(200), default="")
    # Why the issue is missed or cancelled, in one line for `issues list` and the admin.
    note: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
