"""The subscriber store's tables: newsletters, subscribers, subscriptions, consent, events.

States:
- ``Subscription.status``: ``pending`` → ``active`` → ``unsubscribed`` (and back to ``active``
  only through the person's own re-subscription).
- ``Subscriber.status``: ``active``, or the subscriber-wide ``bounced``, ``complained``,
  ``erased``; any of the three stops all mail.
- ``Suppression``: hashed addresses never mailed again unless the person opts in again.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from subscribers.db import Base, utcnow


class SubscriptionStatus(StrEnum):
    """Where a person stands with one newsletter."""

    PENDING = "pending"
    ACTIVE = "active"
    UNSUBSCRIBED = "unsubscribed"


class SubscriberStatus(StrEnum):
    """Subscriber-wide state; anything but ``active`` stops all mail."""

    ACTIVE = "active"
    BOUNCED = "bounced"
    COMPLAINED = "complained"
    ERASED = "erased"


class Newsletter(Base):
    """A newsletter people can follow, synced from ``config.yaml``."""

    __tablename__ = "newsletters"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Subscriber(Base):
    """A person: the address as given and its normalized, unique form."""

    __tablename__ = "subscribers"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    email_normalized: Mapped[str] = mapped_column(String(320), unique=True)
    # SHA-256 of ``email_normalized`` (see ``addresses.address_hash``): lets SQL match the
    # suppression list without the address; NULL once the person is erased.
    email_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    name: Mapped[str] = mapped_column(String(200), default="")
    locale: Mapped[str] = mapped_column(String(16), default="")
    timezone: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(String(16), default=SubscriberStatus.ACTIVE)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Subscription(Base):
    """One person's standing with one newsletter."""

    __tablename__ = "subscriptions"
    __table_args__ = (
        UniqueConstraint("subscriber_id", "newsletter_id"),
        # The delivery engine walks active subscriptions of a newsletter by subscriber id.
        Index("ix_subscriptions_audience", "newsletter_id", "status", "subscriber_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    newsletter_id: Mapped[str] = mapped_column(ForeignKey("newsletters.id"))
    status: Mapped[str] = mapped_column(String(16), default=SubscriptionStatus.PENDING)
    source: Mapped[str] = mapped_column(String(16), default="")  # form, import, admin, api
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(default=None)
    unsubscribed_at: Mapped[datetime | None] = mapped_column(default=None)
    paused_until: Mapped[datetime | None] = mapped_column(default=None)


class ConsentRecord(Base):
    """What a person agreed to, when, from where: written before any confirmation email."""

    __tablename__ = "consent_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    source: Mapped[str] = mapped_column(String(16))  # form, import, admin, api
    ip: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(Text, default="")
    wording_version: Mapped[str] = mapped_column(String(32), default="")
    newsletters: Mapped[list[str]] = mapped_column(JSON, default=list)
    confirmed_at: Mapped[datetime | None] = mapped_column(default=None)
    confirmed_ip: Mapped[str] = mapped_column(String(64), default="")
    # What a form sign-up asked to change on an existing person (name, timezone, locale):
    # applied only when this record is confirmed through the link mailed to the address.
    changes: Mapped[dict[str, str] | None] = mapped_column(JSON, default=None)
    # Empty for a sign-up; why consent was withdrawn for a record of an unsubscribe the
    # person did not make themselves (``inactive``: the sunset, docs/automations.md).
    reason: Mapped[str] = mapped_column(String(32), default="", server_default="")


class Event(Base):
    """The append-only log of every change of state (and every admin action)."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_subscriber", "subscriber_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    # Kept after erasure as NULL: the event stays, the person does not.
    subscriber_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscribers.id", ondelete="SET NULL"), default=None
    )
    newsletter_id: Mapped[str | None] = mapped_column(String(64), default=None)
    kind: Mapped[str] = mapped_column(String(32))
    how: Mapped[str] = mapped_column(String(32), default="")
    actor: Mapped[str] = mapped_column(String(64), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Suppression(Base):
    """An address never to be mailed again: only its SHA-256 is kept."""

    __tablename__ = "suppressions"

    email_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    reason: Mapped[str] = mapped_column(String(16))  # erased, complained, bounced
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
