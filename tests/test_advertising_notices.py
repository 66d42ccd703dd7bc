"""The advertising notices: two years after a consent (and every two years), and results."""

from __future__ import annotations

import json
import mailbox
import threading
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default

import pytest
from typer.testing import CliRunner

from newsletter import db
from newsletter.advertising import notices
from newsletter.advertising.notices import (
    NoticeEmail,
    NoticeRun,
    due_notices,
    send_due_notices,
)
from newsletter.cli import app as cli_app
from newsletter.services import Services
from subscribers import ad_consent, ad_notices
from subscribers.ad_consent import anniversary
from tests.fixtures.delivery import add_audience

T0 = datetime(2024, 3, 10, 1, 30, tzinfo=UTC)  # 2024-03-10 10:30 in Seoul


def _outbox(services: Services) -> list[EmailMessage]:
    box = mailbox.Maildir(services.settings.path(services.settings.delivery.outbox_dir))
    found = [
        message_from_bytes(box.get_bytes(key), policy=default)  # type: ignore[misc]
        for key in sorted(box.iterkeys())
    ]
    return found  # type: ignore[return-value]


def _text(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def _consent_at(services: Services, at: datetime, newsletter_id: str = "weekly") -> int:
    (sid,) = add_audience(services, 1, newsletter_id=newsletter_id)
    with db.transaction(services.sessions) as session:
        ad_consent.give(
            session,
            subscriber_id=sid,
            newsletter_ids=[newsletter_id],
            source="form",
            notify=False,
            at=at,
        )
    return sid


def test_the_two_year_notice_is_due_at_two_years_not_a_day_before(ad_services: Services) -> None:
    _consent_at(ad_services, T0)
    day_before = anniversary(T0, 1) - timedelta(days=1)  # 1 year 364 days after
    assert due_notices(ad_services, now=day_before) == []
    assert send_due_notices(ad_services, now=day_before).sent == []
    (due,) = due_notices(ad_services, now=anniversary(T0, 1))
    assert (due.kind, due.period) == ("periodic", "2024-03-10/1")
    run = send_due_notices(ad_services, now=anniversary(T0, 1))
    assert len(run.sent) == 1
    (message,) = _outbox(ad_services)
    assert message["To"].addresses[0].addr_spec == "reader1@example.net"
    assert "수신동의" in message["Subject"]
    text = _text(message)
    assert "2024년 3월 10일에 Weekly의 광고성 정보 수신에 동의하셨습니다" in text
    assert "https://news.example.org/preferences/" in text
    assert "아무것도 하지 않으셔도 됩니다" in text and "철회" in text
    assert "보낸 곳: Test Letters" in text


def test_each_period_is_sent_once_and_again_at_four_years(ad_services: Services) -> None:
    _consent_at(ad_services, T0)
    assert len(send_due_notices(ad_services, now=anniversary(T0, 1)).sent) == 1
    for later in (timedelta(hours=1), timedelta(days=200), timedelta(days=700)):
        assert send_due_notices(ad_services, now=anniversary(T0, 1) + later).sent == []
    assert len(send_due_notices(ad_services, now=anniversary(T0, 2)).sent) == 1
    assert send_due_notices(ad_services, now=anniversary(T0, 2) + timedelta(days=1)).sent == []
    with ad_services.sessions() as session:
        periods = [n.period for n in ad_notices.notices_of(session)]
    assert periods == ["2024-03-10/1", "2024-03-10/2"]
    assert len(_outbox(ad_services)) == 2


def test_two_runners_at_once_send_one_notice(ad_services: Services) -> None:
    _consent_at(ad_services, T0)
    runs = []
    start = threading.Barrier(2)

    def run() -> None:
        start.wait()
        runs.append(send_due_notices(ad_services, now=anniversary(T0, 1)))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(len(r.sent) for r in runs) == 1
    assert len(_outbox(ad_services)) == 1


def test_a_claim_whose_runner_crashed_is_sent_by_a_later_run(ad_services: Services) -> None:
    _consent_at(ad_services, T0)
    due = anniversary(T0, 1)
    with db.transaction(ad_services.sessions) as session:  # claimed, then the runner died
        assert ad_notices.claim_periodic(session, now=due, worker="dead", limit=10)
    assert send_due_notices(ad_services, now=due + timedelta(minutes=1)).sent == []
    assert len(send_due_notices(ad_services, now=due + timedelta(minutes=11)).sent) == 1
    assert send_due_notices(ad_services, now=due + timedelta(minutes=30)).sent == []
    assert len(_outbox(ad_services)) == 1


def test_a_claim_taken_back_by_a_later_run_is_not_sent_by_the_first(
    ad_services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The first run claims two notices, then is slow: while it writes its first one a run
    # eleven minutes later takes both stale claims back and sends them. The first run,
    # still alive, must send neither.
    with db.transaction(ad_services.sessions) as session:
        for sid in add_audience(ad_services, 2):
            ad_consent.give(
                session,
                subscriber_id=sid,
                newsletter_ids=["weekly"],
                source="form",
                notify=False,
                at=T0,
            )
    due = anniversary(T0, 1)
    real_write = notices.write_notice
    later: list[NoticeRun] = []

    def slow_write(services: Services, notice: ad_notices.ClaimedNotice) -> NoticeEmail:
        if not later:
            later.append(NoticeRun())
            later[0] = send_due_notices(ad_services, now=due + timedelta(minutes=11))
        return real_write(services, notice)

    monkeypatch.setattr(notices, "write_notice", slow_write)
    first = send_due_notices(ad_services, now=due)
    assert first.sent == [] and sorted(first.taken) == sorted(later[0].sent)
    assert len(later[0].sent) == 2
    assert len(_outbox(ad_services)) == 2


def test_a_withdrawn_consent_gets_no_two_year_notice(ad_services: Services) -> None:
    sid = _consent_at(ad_services, T0)
    with db.transaction(ad_services.sessions) as session:
        ad_consent.withdraw(session, subscriber_id=sid, source="preferences", notify=False)
    assert send_due_notices(ad_services, now=anniversary(T0, 1)).sent == []


def test_result_notices_say_what_changed_and_when(ad_services: Services) -> None:
    (sid,) = add_audience(ad_services, 1)
    (en_sid,) = add_audience(ad_services, 1, newsletter_id="letters", start=50)
    with db.transaction(ad_services.sessions) as session:
        ad_consent.give(session, subscriber_id=sid, newsletter_ids=["weekly"], source="preferences")
        ad_consent.give(
            session, subscriber_id=en_sid, newsletter_ids=["letters"], source="preferences"
        )
    assert len(send_due_notices(ad_services).sent) == 2
    with db.transaction(ad_services.sessions) as session:
        ad_consent.withdraw(session, subscriber_id=sid, source="preferences")
    assert len(send_due_notices(ad_services).sent) == 1
    assert send_due_notices(ad_services).sent == []
    # The outbox has no order within a second: each notice is found by its subject.
    messages = _outbox(ad_services)
    by_subject = {str(message["Subject"]): message for message in messages}
    assert len(messages) == len(by_subject) == 3
    given_ko = by_subject.pop("[Test Letters] 광고성 정보 수신동의 처리 결과 안내")
    assert "광고성 정보 수신동의가 처리되었습니다" in _text(given_ko)
    assert given_ko["To"] == "reader1@example.net"
    given_en = by_subject.pop("[Test Letters] Your consent to advertising was recorded")
    assert "your consent to receive advertising from Letters was recorded" in _text(given_en)
    (withdrawn_ko,) = by_subject.values()
    assert "수신거부(동의 철회)" in withdrawn_ko["Subject"]
    assert withdrawn_ko["To"] == "reader1@example.net"
    with ad_services.sessions() as session:
        withdrawn_at = ad_consent.records_of(session, sid)[-1].created_at
    day = withdrawn_at.astimezone(ad_services.settings.site.tz).date()
    assert f"{day.year}년 {day.month}월 {day.day}일" in _text(withdrawn_ko)


def test_the_cli_lists_due_notices_on_a_dry_run_and_sends_them_otherwise(
    ad_services: Services,
) -> None:
    (sid,) = add_audience(ad_services, 1)
    with db.transaction(ad_services.sessions) as session:
        ad_consent.give(session, subscriber_id=sid, newsletter_ids=["weekly"], source="admin")
    config = str(ad_services.settings.base_dir / "config.yaml")
    dry = CliRunner().invoke(cli_app, ["--config", config, "ads", "notices", "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    (row,) = json.loads(dry.output)
    assert (row["kind"], row["email"], row["newsletter"]) == (
        "result",
        "reader1@example.net",
        "weekly",
    )
    assert _outbox(ad_services) == []
    sent = CliRunner().invoke(cli_app, ["--config", config, "ads", "notices"])
    assert sent.exit_code == 0 and "sent 1" in sent.output
    assert len(_outbox(ad_services)) == 1
