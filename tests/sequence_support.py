"""Helpers for the sequence tests: step files, readers confirmed at chosen instants, ledgers."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from pathlib import Path

from sqlalchemy import select, update

from newsletter.automations.sequences.models import SequenceStep
from newsletter.db import transaction
from newsletter.delivery.models import Delivery
from newsletter.services import Services
from newsletter.settings import Settings
from subscribers import service
from subscribers.models import Subscription
from tests.fixtures.web import Outbox


def write_step(
    settings: Settings,
    name: str,
    *,
    after: str,
    newsletter: str = "weekly",
    title: str = "",
    extra: str = "",
    body: str = "",
) -> Path:
    """Write ``sequences/NEWSLETTER/NAME.md`` with ``after:`` (and ``extra`` front matter)."""
    folder = settings.path(settings.sequences.dir) / newsletter
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.md"
    heading = title or f"Step {name}"
    text = body or f"안녕하세요, {name} 단계입니다.\n\n[사이트](https://example.org/{name})\n"
    path.write_text(
        f'---\ntitle: "{heading}"\nafter: {after}\n{extra}---\n{text}', encoding="utf-8"
    )
    return path


def confirmed_reader(
    services: Services, email: str, at: datetime, newsletters: tuple[str, ...] = ("weekly",)
) -> int:
    """A reader whose subscriptions were confirmed at ``at``; returns the subscriber id."""
    with transaction(services.sessions) as session:
        result = service.subscribe(
            session,
            email=email,
            newsletters=list(newsletters),
            source=service.Source.ADMIN,
            confirmed=True,
        )
        session.execute(
            update(Subscription)
            .where(Subscription.subscriber_id == result.subscriber_id)
            .values(confirmed_at=at)
        )
    return result.subscriber_id


def step_ledger(services: Services, newsletter: str = "weekly") -> dict[str, dict[int, str]]:
    """Step name → {subscriber id: delivery status} for the newsletter's sequence."""
    found: dict[str, dict[int, str]] = defaultdict(dict)
    with services.sessions() as session:
        rows = session.execute(
            select(SequenceStep.name, Delivery.subscriber_id, Delivery.status)
            .join(Delivery, Delivery.send_id == SequenceStep.send_id)
            .where(SequenceStep.newsletter_id == newsletter)
        ).all()
    for name, subscriber_id, status in rows:
        found[name][subscriber_id] = status
    return dict(found)


def received(outbox: Outbox) -> dict[str, list[str]]:
    """Address → the subjects it received, in the order the outbox got them."""
    found: dict[str, list[str]] = defaultdict(list)
    for message in outbox.messages():
        found[str(message["To"]).split("<")[-1].rstrip(">").strip()].append(str(message["Subject"]))
    return dict(found)
