"""Seeding the webhook benchmark's project: subscribers and a send ledger to act upon."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import insert

from newsletter.delivery.models import Delivery, DeliveryStatus, Send, SendStatus
from newsletter.services import Services
from newsletter.settings import load_settings
from subscribers.addresses import address_hash
from subscribers.models import Subscriber, Subscription


def seed(config: Path, *, count: int) -> None:
    """``count`` active readers ``reader{n}@example.org`` and one send with a ledger row each
    (delivery id ``n + 1``), so every event finds its ledger row and its person."""
    services = Services.open(load_settings(config, environ={}))
    try:
        with services.sessions.begin() as session:
            session.add(
                Send(id=1, issue_slug="bench", newsletter_id="weekly", status=SendStatus.SENT)
            )
            for start in range(0, count, 10_000):
                people = [
                    {
                        "id": n + 1,
                        "email": f"reader{n}@example.org",
                        "email_normalized": f"reader{n}@example.org",
                        "email_hash": address_hash(f"reader{n}@example.org"),
                    }
                    for n in range(start, min(count, start + 10_000))
                ]
                session.execute(insert(Subscriber), people)
                session.execute(
                    insert(Subscription),
                    [
                        {"subscriber_id": p["id"], "newsletter_id": "weekly", "status": "active"}
                        for p in people
                    ],
                )
                session.execute(
                    insert(Delivery),
                    [
                        {
                            "id": p["id"],
                            "send_id": 1,
                            "subscriber_id": p["id"],
                            "status": DeliveryStatus.ACCEPTED,
                        }
                        for p in people
                    ],
                )
    finally:
        services.close()
