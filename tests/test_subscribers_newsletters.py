from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from subscribers.models import Newsletter
from subscribers.newsletters import sync_newsletters


@dataclass(frozen=True)
class Info:
    id: str
    name: str
    description: str = ""


def test_configured_newsletters_are_in_the_database(session: Session) -> None:
    names = dict(session.execute(select(Newsletter.id, Newsletter.name)).tuples().all())
    assert names == {"weekly": "Weekly", "letters": "Letters"}


def test_sync_updates_and_never_deletes(session: Session) -> None:
    sync_newsletters(session, [Info("weekly", "주간 소식", "월요일마다"), Info("new", "New")])
    rows = {n.id: (n.name, n.description) for n in session.scalars(select(Newsletter))}
    assert rows["weekly"] == ("주간 소식", "월요일마다")
    assert rows["new"] == ("New", "")
    assert "letters" in rows  # removed from config, still referenced by history
