"""The web app's own tables: rate-limit hits and the welcome-email marker.

Kept in the database (not in memory) so that several ``serve`` processes share one limit
and one welcome email per subscription, whichever process handled the confirmation.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from subscribers.db import Base, utcnow


class RateLimitHit(Base):
    """One counted request against a rate-limit key (a hashed IP or address)."""

    __tablename__ = "web_rate_limit_hits"
    __table_args__ = (Index("ix_web_rate_limit_hits_key", "key", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # sha256 of "scope:value": the raw IP or address is never stored here.
    key: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WelcomeSent(Base):
    """A welcome email went out for this subscription; the primary key makes it once only."""

    __tablename__ = "web_welcomes_sent"

    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True
    )
    newsletter_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)
