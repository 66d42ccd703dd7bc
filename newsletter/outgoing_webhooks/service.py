"""Endpoints, as owners manage them (CLI ``newsletter webhooks …``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from newsletter.api.errors import ApiError
from newsletter.outgoing_webhooks import signing, store
from newsletter.outgoing_webhooks.kinds import EVENT_TYPES
from newsletter.outgoing_webhooks.models import WebhookEndpoint
from subscribers.db import utcnow


class WebhookError(ApiError):
    """An endpoint cannot be added or found; the message says why."""

    exit_code = 65


@dataclass(frozen=True)
class NewEndpoint:
    """An endpoint just added: ``secret`` is shown once."""

    id: int
    url: str
    secret: str
    event_types: tuple[str, ...]


def parse_events(values: Iterable[str]) -> tuple[str, ...]:
    """Event types from ``a,b`` strings; ``WebhookError`` naming an unknown one."""
    wanted = [e.strip() for value in values for e in value.split(",") if e.strip()]
    unknown = [e for e in wanted if e not in EVENT_TYPES]
    if unknown:
        raise WebhookError(f"unknown event {unknown[0]!r}; known: {', '.join(EVENT_TYPES)}")
    if not wanted:
        raise WebhookError(f"give at least one event: {', '.join(EVENT_TYPES)}")
    return tuple(dict.fromkeys(wanted))


def check_url(url: str) -> str:
    """``url`` if it is an absolute http(s) URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > 2000:
        raise WebhookError(f"{url!r} is not an absolute http:// or https:// URL")
    return url


def add_endpoint(
    session: Session, url: str, *, events: Iterable[str], created_by: str = ""
) -> NewEndpoint:
    """Add an endpoint for ``events``; its signing secret is in the result only."""
    types = parse_events(events)
    secret = signing.new_secret()
    endpoint = store.add_endpoint(
        session,
        url=check_url(url),
        secret=secret,
        event_types=types,
        created_by=created_by,
        now=utcnow(),
    )
    return NewEndpoint(endpoint.id, endpoint.url, secret, types)


def require_endpoint(session: Session, endpoint_id: int) -> WebhookEndpoint:
    """The endpoint with this id, or ``WebhookError``."""
    endpoint = store.get_endpoint(session, endpoint_id)
    if endpoint is None:
        raise WebhookError(f"no webhook endpoint {endpoint_id} (see `newsletter webhooks list`)")
    return endpoint


def remove_endpoint(session: Session, endpoint_id: int) -> None:
    """Remove an endpoint and its delivery log."""
    require_endpoint(session, endpoint_id)
    store.delete_endpoint(session, endpoint_id)


def enable_endpoint(session: Session, endpoint_id: int) -> None:
    """Re-enable a disabled endpoint; deliveries that waited go out at once."""
    require_endpoint(session, endpoint_id)
    store.enable_endpoint(session, endpoint_id, now=utcnow())


def endpoint_dict(endpoint: WebhookEndpoint) -> dict[str, Any]:
    """A JSON-friendly view of an endpoint (never its secret)."""
    return {
        "id": endpoint.id,
        "url": endpoint.url,
        "events": list(endpoint.event_types),
        "created_at": endpoint.created_at.isoformat(),
        "enabled": endpoint.disabled_at is None,
        "disabled_at": endpoint.disabled_at.isoformat() if endpoint.disabled_at else None,
        "disabled_reason": endpoint.disabled_reason,
        "failure_streak": endpoint.failure_streak,
    }


def delivery_log(session: Session, endpoint_id: int, *, limit: int = 50) -> list[dict[str, Any]]:
    """The endpoint's latest deliveries, newest first, each with its attempts."""
    require_endpoint(session, endpoint_id)
    rows = store.deliveries_of(session, endpoint_id, limit=limit)
    attempts: dict[int, list[dict[str, Any]]] = {d.id: [] for d, _type in rows}
    for line in store.attempts_of(session, list(attempts)):
        attempts[line.delivery_id].append(
            {
                "at": line.attempted_at.isoformat(),
                "status_code": line.status_code,
                "error": line.error,
                "duration_ms": line.duration_ms,
            }
        )
    return [
        {
            "message_id": d.message_id,
            "type": type_,
            "status": d.status,
            "attempts": d.attempts,
            "next_attempt_at": d.next_attempt_at.isoformat() if d.status == "pending" else None,
            "last_status_code": d.last_status_code,
            "last_error": d.last_error,
            "log": attempts[d.id],
        }
        for d, type_ in rows
    ]
