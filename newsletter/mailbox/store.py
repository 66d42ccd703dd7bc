"""The mailbox reader's one query: whose email a ledger row was."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.delivery.models import Delivery
from subscribers.models import Subscriber


@dataclass(frozen=True, slots=True)
class DeliveryOwner:
    """A ledger row's send and the address it went to (normalized)."""

    delivery_id: int
    send_id: int
    email: str


def delivery_owner(session: Session, delivery_id: int) -> DeliveryOwner | None:
    """The send and subscriber address of ``deliveries.id = delivery_id``, or ``None``
    (an erased subscriber, a row that never existed)."""
    row = session.execute(
        select(Delivery.send_id, Subscriber.email_normalized)
        .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .where(Delivery.id == delivery_id)
    ).first()
    return None if row is None else DeliveryOwner(delivery_id, row[0], row[1])
