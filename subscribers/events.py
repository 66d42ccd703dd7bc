"""The append-only event log: one row for every change of state, written by the service."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy.orm import Session

from subscribers.db import utcnow
from subscribers.models import Event


class EventKind(StrEnum):
    """What happened."""

    SUBSCRIBED = "subscribed"
    CONFIRMED = "confirmed"
    UNSUBSCRIBED = "unsubscribed"
    RESUBSCRIBED = "resubscribed"
    PREFERENCES_CHANGED = "preferences_changed"
    PAUSED = "paused"
    RESUMED = "resumed"
    BOUNCED = "bounced"
    SOFT_BOUNCED = "soft_bounced"
    COMPLAINED = "complained"
    SUPPRESSION_LIFTED = "suppression_lifted"
    EXPORTED = "exported"
    ERASED = "erased"
    AD_CONSENT_GIVEN = "ad_consent_given"
    AD_CONSENT_WITHDRAWN = "ad_consent_withdrawn"


class How(StrEnum):
    """Through what a change came: the link in an email, RFC 8058, a provider, an admin."""

    FORM = "form"
    LINK = "link"
    ONE_CLICK = "one-click"
    WEBHOOK = "webhook"
    ADMIN = "admin"
    IMPORT = "import"
    API = "api"
    PREFERENCES = "preferences"
    SUNSET = "sunset"  # the re-engagement run (newsletter/automations/sunset)


def record_event(
    session: Session,
    kind: EventKind,
    *,
    subscriber_id: int | None,
    newsletter_id: str | None = None,
    how: str = "",
    actor: str = "",
    detail: dict[str, Any] | None = None,
) -> Event:
    """Append one event (flushed with the caller's transaction)."""
    event = Event(
        created_at=utcnow(),
        subscriber_id=subscriber_id,
        newsletter_id=newsletter_id,
        kind=kind.value,
        how=str(how),
        actor=actor,
        detail=detail or {},
    )
    session.add(event)
    return event
