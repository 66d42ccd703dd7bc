"""What provider events change: the send ledger and the subscriber store.

- Ledger: every event tied to a ledger row (``delivery_id`` in the custom args) proves the
  provider accepted that email, so a row left ``unknown`` by a crash is settled as
  ``accepted``; the most telling outcome so far (delivered, bounced, complained…) is kept
  per row in ``delivery_outcomes``.
- Subscribers, through the store's own service functions: a hard bounce marks the person
  ``bounced`` and suppresses the address; a spam report marks them ``complained``,
  unsubscribes them from everything and suppresses the address; SendGrid's global
  ``unsubscribe`` unsubscribes from every newsletter, ``group_unsubscribe`` from the
  newsletter of the send (every newsletter when the send is unknown). A soft bounce
  (``blocked``) changes no state: it stays in ``provider_events`` (and in the outcome).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.orm import Session

from newsletter.events.store import (
    newsletters_of_sends,
    record_outcomes,
    settle_unknown_deliveries,
)
from newsletter.events.types import ProviderEvent
from newsletter.events.types import ProviderEventKind as Kind
from subscribers.errors import SubscriberError
from subscribers.events import How
from subscribers.privacy import mark_bounced, mark_complained
from subscribers.queries import find_subscriber
from subscribers.service import unsubscribe

#: How telling each outcome is: a later event replaces the outcome only with a higher one
#: (a delivery after a deferral, a complaint after a delivery; never the reverse).
OUTCOME_SEVERITY: Mapping[Kind, int] = {
    Kind.DEFERRED: 1,
    Kind.DELIVERED: 2,
    Kind.BLOCKED: 3,
    Kind.DROPPED: 4,
    Kind.BOUNCED: 5,
    Kind.COMPLAINED: 6,
}


def apply_effects(session: Session, events: Sequence[ProviderEvent]) -> None:
    """Apply the effects of newly stored ``events`` (each exactly once)."""
    if not events:
        return
    tied = [e for e in events if e.delivery_id is not None]
    settle_unknown_deliveries(session, sorted({e.delivery_id for e in tied if e.delivery_id}))
    record_outcomes(session, _outcomes(tied))
    _apply_subscriber_effects(session, events)


def _outcomes(events: Sequence[ProviderEvent]) -> list[tuple[int, int | None, str, int, str]]:
    # One row per delivery (the most telling of this post): a multi-row upsert may not
    # touch the same row twice.
    best: dict[int, ProviderEvent] = {}
    for event in events:
        severity = OUTCOME_SEVERITY.get(event.kind)
        if severity is None or event.delivery_id is None:
            continue
        current = best.get(event.delivery_id)
        if current is None or OUTCOME_SEVERITY[current.kind] < severity:
            best[event.delivery_id] = event
    return [
        (delivery_id, e.send_id, e.kind.value, OUTCOME_SEVERITY[e.kind], e.reason)
        for delivery_id, e in best.items()
    ]


def _apply_subscriber_effects(session: Session, events: Sequence[ProviderEvent]) -> None:
    acting = [e for e in events if e.kind in _SUBSCRIBER_EFFECTS]
    if not acting:
        return
    newsletters = newsletters_of_sends(session, sorted({e.send_id for e in acting if e.send_id}))
    for event in acting:
        newsletter_id = newsletters.get(event.send_id) if event.send_id else None
        try:
            _SUBSCRIBER_EFFECTS[event.kind](session, event, newsletter_id)
        except SubscriberError:
            continue  # an address we do not know or cannot parse: the event stays stored


def _detail(event: ProviderEvent) -> dict[str, Any]:
    return {
        "provider_event": event.event,
        "send_id": event.send_id,
        "reason": event.reason,
        "sg_event_id": event.event_id,
    }


def _hard_bounce(session: Session, event: ProviderEvent, _newsletter_id: str | None) -> None:
    mark_bounced(session, email=event.email, hard=True, how=How.WEBHOOK, detail=_detail(event))


def _complaint(session: Session, event: ProviderEvent, _newsletter_id: str | None) -> None:
    mark_complained(session, email=event.email, how=How.WEBHOOK, detail=_detail(event))


def _unsubscribe_all(session: Session, event: ProviderEvent, _newsletter_id: str | None) -> None:
    _unsubscribe(session, event, None)


def _unsubscribe(session: Session, event: ProviderEvent, newsletter_id: str | None) -> None:
    person = find_subscriber(session, event.email)
    if person is not None:
        unsubscribe(
            session,
            subscriber_id=person.id,
            newsletter_id=newsletter_id,
            how=How.WEBHOOK,
            actor=event.source,
        )


_SUBSCRIBER_EFFECTS = {
    Kind.BOUNCED: _hard_bounce,
    Kind.COMPLAINED: _complaint,
    Kind.UNSUBSCRIBED: _unsubscribe_all,
    Kind.GROUP_UNSUBSCRIBED: _unsubscribe,
}
