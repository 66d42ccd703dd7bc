from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from subscribers.errors import SubscriberNotFound, Suppressed, UnknownNewsletter
from subscribers.models import ConsentRecord, Event, Subscription, Suppression
from subscribers.privacy import erase, mark_bounced, mark_complained
from subscribers.queries import active_recipients, counts_by_status, find_subscriber
from subscribers.service import (
    Source,
    confirm,
    resubscribe,
    subscribe,
    unsubscribe,
    update_preferences,
)


def _statuses(session: Session, subscriber_id: int) -> dict[str, str]:
    rows = session.scalars(select(Subscription).where(Subscription.subscriber_id == subscriber_id))
    return {row.newsletter_id: row.status for row in rows}


def _kinds(session: Session, subscriber_id: int) -> list[str]:
    query = select(Event.kind).where(Event.subscriber_id == subscriber_id).order_by(Event.id)
    return list(session.scalars(query))


def _recipients(session: Session, newsletter_id: str = "weekly") -> list[str]:
    return [r.email for r in active_recipients(session, newsletter_id, after_id=0, limit=100)]


def test_form_sign_up_is_pending_and_records_consent_first(session: Session) -> None:
    result = subscribe(
        session,
        email="Kim@Example.org",
        newsletters=["weekly", "letters"],
        name="김민수",
        ip="203.0.113.9",
        user_agent="Firefox",
        wording_version="v2",
    )
    assert result.needs_confirmation and set(result.pending) == {"weekly", "letters"}
    consent = session.get(ConsentRecord, result.consent_id)
    assert consent is not None
    assert (consent.source, consent.ip, consent.wording_version) == ("form", "203.0.113.9", "v2")
    assert consent.newsletters == ["weekly", "letters"] and consent.confirmed_at is None
    assert _recipients(session) == []  # never mailed before confirming
    assert _kinds(session, result.subscriber_id) == ["subscribed", "subscribed"]


def test_confirm_activates_and_stamps_the_consent(session: Session) -> None:
    result = subscribe(session, email="a@example.org", newsletters=["weekly"])
    assert confirm(session, subscriber_id=result.subscriber_id, ip="198.51.100.1") == ["weekly"]
    consent = session.get(ConsentRecord, result.consent_id)
    assert consent is not None and consent.confirmed_ip == "198.51.100.1"
    assert consent.confirmed_at is not None
    assert _recipients(session) == ["a@example.org"]


def test_confirm_twice_changes_nothing(session: Session) -> None:
    result = subscribe(session, email="a@example.org", newsletters=["weekly"])
    confirm(session, subscriber_id=result.subscriber_id)
    events = _kinds(session, result.subscriber_id)
    assert confirm(session, subscriber_id=result.subscriber_id) == []
    assert _kinds(session, result.subscriber_id) == events


def test_form_sign_ups_cannot_be_single_opt_in(session: Session) -> None:
    with pytest.raises(ValueError):
        subscribe(session, email="a@example.org", newsletters=["weekly"], confirmed=True)


def test_admin_single_opt_in_is_recorded(session: Session) -> None:
    result = subscribe(
        session, email="a@example.org", newsletters=["weekly"], source=Source.ADMIN, confirmed=True
    )
    consent = session.get(ConsentRecord, result.consent_id)
    assert consent is not None and consent.source == "admin" and consent.confirmed_at
    assert result.active == ("weekly",) and _recipients(session) == ["a@example.org"]


def test_unknown_newsletter_is_refused(session: Session) -> None:
    with pytest.raises(UnknownNewsletter):
        subscribe(session, email="a@example.org", newsletters=["nope"])


def test_unsubscribe_one_then_twice(session: Session, add_active: Callable[..., int]) -> None:
    person = add_active("a@example.org", newsletters=("weekly", "letters"))
    assert unsubscribe(session, subscriber_id=person, newsletter_id="weekly", how="one-click") == [
        "weekly"
    ]
    assert unsubscribe(session, subscriber_id=person, newsletter_id="weekly") == []
    assert _statuses(session, person) == {"weekly": "unsubscribed", "letters": "active"}
    event = session.scalars(select(Event).where(Event.kind == "unsubscribed")).one()
    assert event.how == "one-click"


def test_unsubscribe_from_all(session: Session, add_active: Callable[..., int]) -> None:
    person = add_active("a@example.org", newsletters=("weekly", "letters"))
    assert sorted(unsubscribe(session, subscriber_id=person)) == ["letters", "weekly"]
    assert _recipients(session, "letters") == []


def test_admin_never_undoes_an_opt_out(session: Session, add_active: Callable[..., int]) -> None:
    person = add_active("a@example.org")
    unsubscribe(session, subscriber_id=person)
    again = subscribe(
        session, email="a@example.org", newsletters=["weekly"], source="admin", confirmed=True
    )
    assert again.unchanged == ("weekly",)
    assert _statuses(session, person) == {"weekly": "unsubscribed"}


def test_the_person_can_resubscribe(session: Session, add_active: Callable[..., int]) -> None:
    person = add_active("a@example.org")
    unsubscribe(session, subscriber_id=person)
    assert resubscribe(session, subscriber_id=person, newsletter_id="weekly") == "active"
    assert _recipients(session) == ["a@example.org"]
    assert _kinds(session, person)[-1] == "resubscribed"


def test_form_sign_up_after_unsubscribing_needs_confirmation(
    session: Session, add_active: Callable[..., int]
) -> None:
    person = add_active("a@example.org")
    unsubscribe(session, subscriber_id=person)
    assert subscribe(session, email="a@example.org", newsletters=["weekly"]).pending == ("weekly",)
    assert _recipients(session) == []
    confirm(session, subscriber_id=person)
    assert _recipients(session) == ["a@example.org"]


def test_preferences_choose_newsletters_and_name(
    session: Session, add_active: Callable[..., int]
) -> None:
    person = add_active("a@example.org", name="Old")
    update_preferences(session, subscriber_id=person, name=" 새 이름\r\n", newsletters=["letters"])
    found = find_subscriber(session, "a@example.org")
    assert found is not None and found.name == "새 이름"
    assert _statuses(session, person) == {"weekly": "unsubscribed", "letters": "active"}


def test_pause_hides_then_resume_shows(session: Session, add_active: Callable[..., int]) -> None:
    add_active("b@example.org")
    person = add_active("a@example.org")
    update_preferences(session, subscriber_id=person, pause_weeks=4)
    assert _recipients(session) == ["b@example.org"]
    assert counts_by_status(session, "weekly")["active"] == 2  # paused is still subscribed
    update_preferences(session, subscriber_id=person, pause_weeks=0)
    assert _recipients(session) == ["b@example.org", "a@example.org"]
    assert _kinds(session, person)[-2:] == ["paused", "resumed"]


def test_complaint_suppresses_and_admin_cannot_readd(
    session: Session, add_active: Callable[..., int]
) -> None:
    person = add_active("a@example.org", newsletters=("weekly", "letters"))
    assert mark_complained(session, email="A@example.org") == person
    assert _statuses(session, person) == {"weekly": "unsubscribed", "letters": "unsubscribed"}
    assert counts_by_status(session, "weekly")["complained"] == 1
    with pytest.raises(Suppressed):
        subscribe(session, email="a@example.org", newsletters=["weekly"], source="import")
    with pytest.raises(Suppressed):
        resubscribe(session, subscriber_id=person, newsletter_id="weekly")


def test_own_opt_in_lifts_a_suppression(session: Session, add_active: Callable[..., int]) -> None:
    person = add_active("a@example.org")
    mark_bounced(session, email="a@example.org")
    with pytest.raises(Suppressed):  # no confirmation email within 30 days of the bounce
        subscribe(session, email="a@example.org", newsletters=["weekly"])
    for row in session.scalars(select(Suppression)):
        row.created_at -= timedelta(days=31)
    result = subscribe(session, email="a@example.org", newsletters=["weekly"])
    assert result.pending == ("weekly",) and _recipients(session) == []
    confirm(session, subscriber_id=person)
    assert _recipients(session) == ["a@example.org"]
    assert session.scalars(select(Suppression)).all() == []
    assert "suppression_lifted" in _kinds(session, person)


def test_soft_bounce_is_only_noted(session: Session, add_active: Callable[..., int]) -> None:
    person = add_active("a@example.org")
    mark_bounced(session, email="a@example.org", hard=False)
    assert _recipients(session) == ["a@example.org"]
    assert _kinds(session, person)[-1] == "soft_bounced"


def test_bounce_of_an_unknown_address_still_suppresses(session: Session) -> None:
    assert mark_bounced(session, email="ghost@example.org") is None
    with pytest.raises(Suppressed):
        subscribe(session, email="ghost@example.org", newsletters=["weekly"], source="admin")


def test_resubscribe_after_erase_is_refused(
    session: Session, add_active: Callable[..., int]
) -> None:
    person = add_active("a@example.org")
    erase(session, subscriber_id=person)
    with pytest.raises(SubscriberNotFound):
        resubscribe(session, subscriber_id=person, newsletter_id="weekly")
    with pytest.raises(SubscriberNotFound):
        confirm(session, subscriber_id=person)
