"""A reader's clicks (``per_reader`` sends only): shown to them and the admin, erased with them.

``aggregate`` hits carry no subscriber id and no delivery id: there is nothing to show or
erase for a person. Every path that erases a person calls :func:`erase_clicks` in the same
transaction (admin, data page, API, CLI); every export adds :func:`export_clicks`.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from newsletter.tracking import store


def reader_clicks(session: Session, subscriber_id: int) -> list[dict[str, str]]:
    """A reader's clicks, oldest first: issue, link, when, and ``machine`` with the reason
    when the hit was judged a machine's (a scanner at their mail provider, say)."""
    return [
        {"issue": slug, "url": url, "at": at.isoformat(), "machine": reason}
        for slug, url, reason, at in store.subscriber_clicks(session, subscriber_id)
    ]


def export_clicks(session: Session, subscriber_id: int) -> list[dict[str, str]]:
    """What a data export carries about the person's clicks."""
    return reader_clicks(session, subscriber_id)


def erase_clicks(session: Session, subscriber_id: int) -> int:
    """Delete every hit tied to the person; how many."""
    return store.erase_subscriber_hits(session, subscriber_id)
