"""Provider events at the boundary: SendGrid's Event Webhook translated into our own types.

Everything SendGrid-specific about events lives here: the signature scheme, the event names
and the bounce types. The rest of the project sees only :class:`ProviderEvent` and
:class:`ProviderEventKind`; the raw event is kept on each one for debugging.

SendGrid signs ``timestamp + body`` (the raw bytes as sent) with ECDSA P-256 / SHA-256 and
sends the base64 DER signature and the timestamp in two headers. The verification key is
shown in SendGrid's settings as base64 DER (a SubjectPublicKeyInfo without PEM armour).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from newsletter.errors import ConfigError, NewsletterError
from newsletter.events.types import ProviderEvent, ProviderEventKind

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
PROVIDER_SENDGRID = "sendgrid"
#: The deepest nesting a post may have: the array (1), an event (2), a value such as
#: ``pool: {name, id}`` or ``category: [...]`` (3), with room to spare.
MAX_DEPTH = 8


class WebhookRejected(NewsletterError):
    """A webhook request that is not signed by the provider, or not a list of events."""

    def __init__(self, message: str, *, status: int = 403):
        super().__init__(message)
        self.status = status


#: SendGrid event name -> our kind. ``bounce`` is resolved by its ``type`` below.
_SENDGRID_KINDS: Mapping[str, ProviderEventKind] = {
    "delivered": ProviderEventKind.DELIVERED,
    "deferred": ProviderEventKind.DEFERRED,
    "dropped": ProviderEventKind.DROPPED,
    "spamreport": ProviderEventKind.COMPLAINED,
    "unsubscribe": ProviderEventKind.UNSUBSCRIBED,
    "group_unsubscribe": ProviderEventKind.GROUP_UNSUBSCRIBED,
    "open": ProviderEventKind.OPENED,
    "click": ProviderEventKind.CLICKED,
}

#: SendGrid bounce ``type`` -> our kind; a bounce without a type is a hard bounce.
_SENDGRID_BOUNCE_TYPES: Mapping[str, ProviderEventKind] = {
    "bounce": ProviderEventKind.BOUNCED,
    "blocked": ProviderEventKind.BLOCKED,
}


def load_public_key(value: str) -> ec.EllipticCurvePublicKey:
    """The verification key from SendGrid's base64 DER form (PEM is accepted too)."""
    text = value.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode("ascii"))
        else:
            key = serialization.load_der_public_key(base64.b64decode(text, validate=True))
    except (ValueError, binascii.Error, UnsupportedAlgorithm):
        raise ConfigError("SENDGRID_WEBHOOK_PUBLIC_KEY: not a base64 DER public key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ConfigError("SENDGRID_WEBHOOK_PUBLIC_KEY: not an elliptic-curve (ECDSA) key")
    return key


def verify_signature(
    key: ec.EllipticCurvePublicKey, *, signature: str | None, timestamp: str | None, body: bytes
) -> None:
    """Raise :class:`WebhookRejected` unless ``signature`` signs ``timestamp + body``."""
    if not signature or not timestamp:
        raise WebhookRejected("missing webhook signature headers")
    try:
        decoded = base64.b64decode(signature, validate=True)
        key.verify(decoded, timestamp.encode("ascii") + body, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, binascii.Error, ValueError, UnicodeEncodeError):
        raise WebhookRejected("webhook signature does not verify") from None


def check_timestamp(timestamp: str | None, *, now: float, max_age: float) -> None:
    """Refuse a timestamp that is not Unix seconds (400) or not within ``max_age`` of ``now``
    (403: a replayed or delayed post). Checked before the body is read."""
    text = (timestamp or "").strip()
    if not (text.isascii() and text.isdigit() and len(text) <= 12):
        raise WebhookRejected("webhook timestamp is not Unix seconds", status=400)
    if abs(int(text) - now) > max_age:
        raise WebhookRejected("webhook timestamp is too old or in the future (a replay?)")


def parse_sendgrid_events(body: bytes) -> list[dict[str, Any]]:
    """The JSON array SendGrid posts, or :class:`WebhookRejected` (400) when it is not one
    (not JSON, not an array of objects, or nested deeper than :data:`MAX_DEPTH`)."""
    try:
        payload = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        raise WebhookRejected("webhook body is not JSON", status=400) from None
    if not isinstance(payload, list) or not all(isinstance(item, dict) for item in payload):
        raise WebhookRejected("webhook body is not a JSON array of events", status=400)
    if any(_too_deep(item, 2) for item in payload):
        raise WebhookRejected(f"webhook body is nested deeper than {MAX_DEPTH}", status=400)
    return payload


def _too_deep(value: Any, depth: int) -> bool:
    # Events are flat: most values are scalars, so this is a type check per field.
    if depth > MAX_DEPTH:
        return True
    children = value.values() if type(value) is dict else value
    return any(type(child) in (dict, list) and _too_deep(child, depth + 1) for child in children)


def translate_sendgrid(raw_events: Iterable[Mapping[str, Any]]) -> list[ProviderEvent]:
    """Our events for SendGrid's; events we do not track (``processed``…) are left out."""
    translated = []
    for raw in raw_events:
        event = translate_sendgrid_event(raw)
        if event is not None:
            translated.append(event)
    return translated


def translate_sendgrid_event(raw: Mapping[str, Any]) -> ProviderEvent | None:
    """One SendGrid event as a :class:`ProviderEvent`, or ``None`` if it is not one we use."""
    # The hot path of the webhook (20,000+ events/s): plain type checks, no helper calls
    # for the common shapes, the general parsers only for odd values.
    name = raw.get("event")
    email = raw.get("email")
    if type(name) is not str or type(email) is not str or not email:
        return None
    kind = _sendgrid_kind(name, raw)
    if kind is None:
        return None
    stamp = raw.get("timestamp")
    event_id = raw.get("sg_event_id")
    reason = raw.get("reason") or raw.get("response") or ""
    return ProviderEvent(
        kind=kind,
        event=name,
        email=email.strip().lower(),
        message_id=str(raw.get("sg_message_id") or ""),
        timestamp=stamp if type(stamp) is int and 0 <= stamp < 2**53 else _timestamp(stamp),
        event_id=str(event_id) if event_id else None,
        send_id=_custom_id(raw.get("send_id")),
        delivery_id=_custom_id(raw.get("delivery_id")),
        reason=(reason if type(reason) is str else str(reason))[:1000],
        raw=raw,
    )


def _sendgrid_kind(name: str, raw: Mapping[str, Any]) -> ProviderEventKind | None:
    if name == "bounce":
        return _SENDGRID_BOUNCE_TYPES.get(str(raw.get("type") or "bounce"))
    return _SENDGRID_KINDS.get(name)


def _custom_id(value: Any) -> int | None:
    # custom_args arrive as strings of ASCII digits; anything else takes the general path.
    if value is None:
        return None
    if type(value) is str and value.isascii() and value.isdigit() and len(value) < 19:
        number: int | None = int(value)
    else:
        number = _int_or_none(value)
    # Ours are database ids: anything outside a 64-bit id is not one of ours.
    return number if number is not None and 0 < number < 2**63 else None


def _timestamp(value: Any) -> int:
    # Out-of-range values would not fit the column; 0 keeps the event (and its raw copy).
    stamp = _int_or_none(value)
    return stamp if stamp is not None and 0 <= stamp < 2**53 else 0


def _int_or_none(value: Any) -> int | None:
    # custom_args arrive as strings; timestamps as integers (or, rarely, floats).
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) else None
    if isinstance(value, str) and value.strip().isascii():
        try:
            return int(value)
        except ValueError:
            return None
    return None
