"""The CSV import's ad_consent column: given, withdrawn, unchanged, bad values refused."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from subscribers import ad_consent
from subscribers.ad_consent import AdConsent, AdNotice
from subscribers.bulk import import_csv
from subscribers.errors import ImportRejected
from subscribers.queries import find_subscriber

WriteCsv = Callable[..., Path]


def _given(session: Session, email: str) -> list[str]:
    person = find_subscriber(session, email)
    assert person is not None
    return ad_consent.given_newsletters(session, person.id)


def test_the_column_gives_and_withdraws_with_records_and_no_result_notice(
    session: Session, write_csv: WriteCsv, add_active: Callable[..., int]
) -> None:
    kept = add_active("kept@example.com")
    leaving = add_active("leaving@example.com")
    ad_consent.give(session, subscriber_id=kept, newsletter_ids=["weekly"], source="admin")
    ad_consent.give(session, subscriber_id=leaving, newsletter_ids=["weekly"], source="admin")
    before = {n.id for n in session.query(AdNotice)}
    given_at = session.query(AdConsent).filter_by(subscriber_id=kept).one().given_at
    path = write_csv(
        "email,name,광고 수신 동의\n"
        "new@example.com,New,동의\n"
        "yes@example.com,Yes,TRUE\n"
        "blank@example.com,Blank,\n"
        "no@example.com,No,false\n"
        "kept@example.com,Kept,yes\n"
        "leaving@example.com,Leaving,0\n"
    )
    summary = import_csv(session, path, newsletter_id="weekly", confirmed=True)
    assert (summary.ad_given, summary.ad_withdrawn) == (2, 1)
    assert _given(session, "new@example.com") == ["weekly"]
    assert _given(session, "yes@example.com") == ["weekly"]
    assert _given(session, "blank@example.com") == []
    assert _given(session, "no@example.com") == []
    assert _given(session, "kept@example.com") == ["weekly"]
    assert _given(session, "leaving@example.com") == []
    # An existing consent keeps its date (the two-year notice counts from it).
    assert session.query(AdConsent).filter_by(subscriber_id=kept).one().given_at == given_at
    new = find_subscriber(session, "new@example.com")
    assert new is not None
    (record,) = ad_consent.records_of(session, new.id)
    assert (record.action, record.source) == ("given", "import")
    assert {n.id for n in session.query(AdNotice)} == before  # imports queue no result notice


@pytest.mark.parametrize("bad", ["maybe", "2", "동의함?"])
def test_a_bad_value_is_refused_for_its_row(
    session: Session, write_csv: WriteCsv, bad: str
) -> None:
    path = write_csv(f"email,ad_consent\nok@example.com,true\nbad@example.com,{bad}\n")
    with pytest.raises(ImportRejected, match=r"line 3: ad_consent: .* is not true/false"):
        import_csv(session, path, newsletter_id="weekly")
    summary = import_csv(session, path, newsletter_id="weekly", partial=True)
    assert summary.invalid == 1 and summary.ad_given == 1
    assert _given(session, "ok@example.com") == ["weekly"]
    assert find_subscriber(session, "bad@example.com") is None


def test_dry_run_counts_without_writing(session: Session, write_csv: WriteCsv) -> None:
    path = write_csv("email,ad_consent\na@example.com,y\n")
    summary = import_csv(session, path, newsletter_id="weekly", dry_run=True)
    assert summary.ad_given == 1
    assert find_subscriber(session, "a@example.com") is None


def test_an_import_never_gives_back_a_withdrawn_consent(
    session: Session, write_csv: WriteCsv, add_active: Callable[..., int]
) -> None:
    left = add_active("left@example.com")
    ad_consent.give(session, subscriber_id=left, newsletter_ids=["weekly"], source="form")
    ad_consent.withdraw(session, subscriber_id=left, source="preferences")
    records = len(ad_consent.records_of(session, left))
    path = write_csv("email,ad_consent\nleft@example.com,true\nfresh@example.com,true\n")
    dry = import_csv(session, path, newsletter_id="weekly", dry_run=True)
    assert (dry.ad_given, dry.ad_kept_withdrawn) == (1, 1)
    summary = import_csv(session, path, newsletter_id="weekly", confirmed=True)
    assert (summary.ad_given, summary.ad_withdrawn, summary.ad_kept_withdrawn) == (1, 0, 1)
    assert _given(session, "left@example.com") == []
    assert _given(session, "fresh@example.com") == ["weekly"]
    row = session.query(AdConsent).filter_by(subscriber_id=left).one()
    assert row.status == "withdrawn" and row.withdrawn_at is not None
    assert len(ad_consent.records_of(session, left)) == records
