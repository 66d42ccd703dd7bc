"""Newsletters: the ones configured in ``config.yaml`` mirrored into the database."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from sqlalchemy.orm import Session

from subscribers.models import Newsletter


class NewsletterInfo(Protocol):
    """What the store needs to know of a configured newsletter (``NewsletterSettings`` fits)."""

    @property
    def id(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def description(self) -> str: ...


def sync_newsletters(session: Session, newsletters: Iterable[NewsletterInfo]) -> None:
    """Insert or update the configured newsletters; ones removed from config are kept,
    because subscriptions and consent records still refer to them."""
    for info in newsletters:
        row = session.get(Newsletter, info.id)
        if row is None:
            session.add(Newsletter(id=info.id, name=info.name, description=info.description))
        elif (row.name, row.description) != (info.name, info.description):
            row.name, row.description = info.name, info.description
    session.flush()
