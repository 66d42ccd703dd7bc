"""The relay: outbox rows (written by triggers with each change) become messages, each
with a pending delivery to every endpoint that wants its type, in one transaction.

A message's id is derived from what caused it (``msg_evt_<events.id>``,
``msg_send_<id>_started``): relaying the same change twice makes no second message,
and a receiver deduplicates by ``webhook-id``. The payload is built here, from the state
at relay time: an erased person's address is never sent.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from newsletter.db import transaction
from newsletter.delivery import store as delivery_store
from newsletter.outgoing_webhooks import store
from newsletter.outgoing_webhooks.kinds import FROM_SUBSCRIBER_EVENT, SEND_FINISHED, SEND_STARTED
from newsletter.outgoing_webhooks.models import WebhookEndpoint, WebhookOutbox
from newsletter.services import Services
from subscribers.db import utcnow
from subscribers.models import SubscriberStatus

BATCH = 500


def relay(services: Services, *, limit: int = BATCH) -> int:
    """Relay up to ``limit`` outbox rows; how many were taken."""
    with transaction(services.sessions) as session:
        rows = store.take_outbox(session, limit=limit)
        if not rows:
            return 0
        endpoints = store.all_endpoints(session)
        now = utcnow()
        for row in rows:
            built = _message(session, row)
            if built is None:
                continue
            message_id, type_, data = built
            wanting = [e.id for e in endpoints if _wants(e, type_, row.created_at)]
            if wanting:
                body = _body(type_, row.created_at, data)
                store.add_message(
                    session,
                    message_id=message_id,
                    type_=type_,
                    body=body,
                    endpoint_ids=wanting,
                    now=now,
                )
        store.drop_outbox(session, [row.id for row in rows])
    return len(rows)


def _wants(endpoint: WebhookEndpoint, type_: str, at: datetime) -> bool:
    # An endpoint hears of changes from its creation on, never of older ones.
    return type_ in endpoint.event_types and endpoint.created_at <= at


def _body(type_: str, at: datetime, data: dict[str, Any]) -> str:
    stamp = at.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return json.dumps({"type": type_, "timestamp": stamp, "data": data}, ensure_ascii=False)


def _message(session: Session, row: WebhookOutbox) -> tuple[str, str, dict[str, Any]] | None:
    if row.source == "event":
        return _subscriber_message(session, row.source_id)
    if row.source in (SEND_STARTED, SEND_FINISHED):
        return _send_message(session, row.source_id, row.source)
    return None


def _subscriber_message(session: Session, event_id: int) -> tuple[str, str, dict[str, Any]] | None:
    event = store.event_row(session, event_id)
    if event is None or event.kind not in FROM_SUBSCRIBER_EVENT:
        return None
    who = store.person(session, event.subscriber_id)
    erased = who is None or who.status == SubscriberStatus.ERASED
    data: dict[str, Any] = {
        "subscriber": {
            "id": event.subscriber_id,
            "email": None if erased or who is None else who.email,
            "name": None if erased or who is None else who.name,
            "status": SubscriberStatus.ERASED.value if erased or who is None else who.status,
        },
        "newsletter": event.newsletter_id,
        "how": event.how,
    }
    if event.kind == "subscribed":  # single opt-in (admin, import, API) is active at once
        data["confirmed"] = bool(event.detail.get("confirmed", False))
    return f"msg_evt_{event.id}", FROM_SUBSCRIBER_EVENT[event.kind], data


def _send_message(session: Session, send_id: int, type_: str) -> tuple[str, str, dict[str, Any]]:
    send = store.send_row(session, send_id)
    data: dict[str, Any] = {"send": {"id": send_id}}
    if send is not None:
        data["send"] |= {
            "issue": send.issue_slug,
            "newsletter": send.newsletter_id,
            "subject": send.subject,
            "status": send.status,
            "total": send.total,
        }
        if type_ == SEND_FINISHED:
            data["send"]["counts"] = delivery_store.counts(session, send_id)
    suffix = "started" if type_ == SEND_STARTED else "finished"
    return f"msg_send_{send_id}_{suffix}", type_, data
