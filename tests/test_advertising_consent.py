"""The advertising consent store: dates, export, erasure, and the audience count."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from subscribers import ad_consent
from subscribers.ad_consent import (
    AdConsent,
    AdConsentRecord,
    AdNotice,
    anniversary,
    periods_elapsed,
)
from subscribers.privacy import erase, export_person
from subscribers.queries import count_eligible


def test_a_leap_day_consent_comes_due_on_the_28th() -> None:
    assert anniversary(datetime(2024, 2, 29, 3, tzinfo=UTC), 1) == datetime(
        2026, 2, 28, 3, tzinfo=UTC
    )


@given(
    given_at=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1)),
    later=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3700)),
)
def test_periods_elapsed_agrees_with_the_anniversaries(
    given_at: datetime, later: timedelta
) -> None:
    start = given_at.replace(tzinfo=UTC)
    now = start + later
    periods = periods_elapsed(start, now)
    assert anniversary(start, periods) <= now < anniversary(start, periods + 1)


def test_export_lists_and_erasure_forgets_the_advertising_consent(
    session: Session, add_active: Callable[..., int]
) -> None:
    sid = add_active("a@example.com")
    ad_consent.give(
        session, subscriber_id=sid, newsletter_ids=["weekly"], source="form", ip="192.0.2.1"
    )
    data = export_person(session, subscriber_id=sid)
    assert data["advertising_consents"][0]["status"] == "given"
    assert data["advertising_consent_records"][0]["ip"] == "192.0.2.1"
    erase(session, subscriber_id=sid)
    for table in (AdConsent, AdConsentRecord, AdNotice):
        assert session.query(table).filter_by(subscriber_id=sid).count() == 0


def test_only_consenters_count_for_an_advertising_issue(
    session: Session, add_active: Callable[..., int]
) -> None:
    first = add_active("a@example.com")
    add_active("b@example.com")
    ad_consent.give(session, subscriber_id=first, newsletter_ids=["weekly"], source="admin")
    assert count_eligible(session, "weekly") == 2
    assert count_eligible(session, "weekly", advertising=True) == 1
    ad_consent.give(session, subscriber_id=first, newsletter_ids=["letters"], source="admin")
    assert count_eligible(session, "letters", advertising=True) == 0  # follows only weekly
