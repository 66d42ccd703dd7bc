from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import Column, Integer, MetaData, Table, func, insert, select
from sqlalchemy.orm import Session

from subscribers.db import utcnow
from subscribers.models import Subscriber, Subscription, Suppression
from subscribers.privacy import mark_complained
from subscribers.queries import (
    active_recipients,
    count_eligible,
    counts_by_status,
    eligible_clause,
    list_subscriptions,
)
from subscribers.service import subscribe, unsubscribe, update_preferences


def test_keyset_batches_cover_everyone_once(
    session: Session, add_active: Callable[..., int]
) -> None:
    ids = [add_active(f"r{i}@example.org", name=f"R{i}") for i in range(25)]
    seen: list[int] = []
    after = 0
    while batch := active_recipients(session, "weekly", after_id=after, limit=7):
        assert len(batch) <= 7
        seen.extend(r.id for r in batch)
        after = batch[-1].id
    assert seen == ids
    assert active_recipients(session, "weekly", after_id=0, limit=1)[0].name == "R0"


def test_only_eligible_people_are_recipients(
    session: Session, add_active: Callable[..., int]
) -> None:
    keep = add_active("keep@example.org")
    left = add_active("left@example.org")
    paused = add_active("paused@example.org")
    add_active("complained@example.org")
    other = add_active("other@example.org", newsletters=("letters",))
    subscribe(session, email="pending@example.org", newsletters=["weekly"])
    unsubscribe(session, subscriber_id=left)
    update_preferences(session, subscriber_id=paused, pause_weeks=1)
    mark_complained(session, email="complained@example.org")
    assert [r.id for r in active_recipients(session, "weekly")] == [keep]
    assert [r.id for r in active_recipients(session, "letters")] == [other]
    later = utcnow() + timedelta(weeks=2)
    assert [r.id for r in active_recipients(session, "weekly", now=later)] == [keep, paused]
    assert count_eligible(session, "weekly") == 1


def test_a_suppressed_hash_excludes_even_an_active_row(
    session: Session, add_active: Callable[..., int]
) -> None:
    person = add_active("a@example.org")
    row = session.get(Subscriber, person)
    assert row is not None and row.email_hash
    session.add(Suppression(email_hash=row.email_hash, reason="bounced"))
    session.flush()
    assert active_recipients(session, "weekly") == []


def test_eligible_clause_works_in_insert_select(
    session: Session, add_active: Callable[..., int]
) -> None:
    first = add_active("a@example.org")
    gone = add_active("b@example.org")
    unsubscribe(session, subscriber_id=gone)
    ledger = Table(
        "ledger_probe", MetaData(), Column("subscriber_id", Integer), prefixes=["TEMPORARY"]
    )
    ledger.create(session.connection())
    session.execute(
        insert(ledger).from_select(
            ["subscriber_id"],
            select(Subscriber.id)
            .select_from(Subscriber, Subscription)
            .where(eligible_clause("weekly", utcnow())),
        )
    )
    assert list(session.scalars(select(ledger.c.subscriber_id))) == [first]
    assert session.scalar(select(func.count()).select_from(ledger)) == 1
    ledger.drop(session.connection())


def test_counts_by_status(session: Session, add_active: Callable[..., int]) -> None:
    add_active("a@example.org")
    gone = add_active("b@example.org")
    subscribe(session, email="c@example.org", newsletters=["weekly"])
    unsubscribe(session, subscriber_id=gone)
    add_active("d@example.org")
    mark_complained(session, email="d@example.org")
    counts = counts_by_status(session, "weekly")
    assert counts == {
        "pending": 1,
        "active": 1,
        "unsubscribed": 1,
        "bounced": 0,
        "complained": 1,
        "erased": 0,
    }


def test_listing_pages_by_person_and_newsletter(
    session: Session, add_active: Callable[..., int]
) -> None:
    add_active("a@example.org", newsletters=("weekly", "letters"))
    add_active("b@example.org", newsletters=("weekly", "letters"))
    rows, after = [], (0, "")
    while page := list_subscriptions(session, after=after, limit=3):
        rows.extend((r.email, r.newsletter_id) for r in page)
        after = (page[-1].id, page[-1].newsletter_id)
    assert rows == [
        ("a@example.org", "letters"),
        ("a@example.org", "weekly"),
        ("b@example.org", "letters"),
        ("b@example.org", "weekly"),
    ]
    only = list_subscriptions(session, newsletter_id="letters", statuses=["active"])
    assert [r.email for r in only] == ["a@example.org", "b@example.org"]
