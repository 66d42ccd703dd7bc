"""Ingesting a signed SendGrid Event Webhook post: verify, translate, store once, apply.

The whole post is one transaction: the new events are stored and their effects applied
together, so a crash mid-way leaves nothing half-applied and SendGrid's redelivery of the
post simply tries again.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec

from newsletter import db
from newsletter.events.effects import apply_effects
from newsletter.events.sendgrid import (
    WebhookRejected,
    check_timestamp,
    load_public_key,
    parse_sendgrid_events,
    translate_sendgrid,
    verify_signature,
)
from newsletter.events.store import insert_new_events
from newsletter.events.types import TRACKING_KINDS
from newsletter.services import Services


@dataclass(frozen=True)
class IngestResult:
    """What one post brought: events received, newly stored, duplicates, and ignored."""

    received: int
    stored: int
    duplicates: int
    ignored: int


class SendgridWebhook:
    """The SendGrid Event Webhook receiver; parses the verification key once."""

    def __init__(self, services: Services) -> None:
        self.services = services
        secret = services.settings.secrets.sendgrid_webhook_public_key
        self.key: ec.EllipticCurvePublicKey | None = load_public_key(secret) if secret else None

    def check_headers(self, *, signature: str | None, timestamp: str | None, now: float) -> None:
        """What can be refused before the body is read: no key configured, no signature,
        a timestamp that is not Unix seconds or not within ``web.webhook_max_age``."""
        if self.key is None:
            raise WebhookRejected("no SENDGRID_WEBHOOK_PUBLIC_KEY configured: cannot verify")
        if not signature or not timestamp:
            raise WebhookRejected("missing webhook signature headers")
        max_age = self.services.settings.web.webhook_max_age.total_seconds()
        check_timestamp(timestamp, now=now, max_age=max_age)

    def ingest(
        self, body: bytes, *, signature: str | None, timestamp: str | None, now: float
    ) -> IngestResult:
        """Check, verify and ingest one post; :class:`WebhookRejected` stores nothing."""
        self.check_headers(signature=signature, timestamp=timestamp, now=now)
        assert self.key is not None  # check_headers refused otherwise
        verify_signature(self.key, signature=signature, timestamp=timestamp, body=body)
        return ingest_verified(self.services, body)


def ingest_verified(services: Services, body: bytes) -> IngestResult:
    """Translate, store and apply the events of a post whose signature was verified."""
    raw_events = parse_sendgrid_events(body)
    events = translate_sendgrid(raw_events)
    if not services.settings.web.tracking:
        events = [event for event in events if event.kind not in TRACKING_KINDS]
    with db.transaction(services.sessions) as session:
        new = insert_new_events(session, events)
        apply_effects(session, new)
    return IngestResult(
        received=len(raw_events),
        stored=len(new),
        duplicates=len(events) - len(new),
        ignored=len(raw_events) - len(events),
    )
