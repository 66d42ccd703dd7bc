"""Advertising issues (ad: true) go only to advertising consenters, with (광고) and footer."""

from __future__ import annotations

import mailbox
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default

import pytest
from sqlalchemy import select

from newsletter import db
from newsletter.delivery import RunOptions, resume_send, start_send, store
from newsletter.delivery.emulator import Emulator
from newsletter.delivery.models import Delivery, Send, SendStatus
from newsletter.delivery.reports import plan_send, send_test
from newsletter.errors import SendStateError
from newsletter.services import Services
from newsletter.settings import SendgridSettings, SmtpSettings
from subscribers import ad_consent
from subscribers.db import utcnow
from tests.fixtures.advertising import PHONE
from tests.fixtures.delivery import SmtpSink, add_audience, with_delivery
from tests.fixtures.issues import WriteIssue


def _outbox(services: Services) -> list[EmailMessage]:
    box = mailbox.Maildir(services.settings.path(services.settings.delivery.outbox_dir))
    return [
        message_from_bytes(box.get_bytes(key), policy=default)  # type: ignore[misc]
        for key in box.iterkeys()
    ]


def _parts(message: EmailMessage) -> tuple[str, str]:
    html = message.get_body(("html",))
    text = message.get_body(("plain",))
    assert html is not None and text is not None
    return html.get_content(), text.get_content()


def _consent(services: Services, ids: list[int], newsletter_id: str = "weekly") -> None:
    with db.transaction(services.sessions) as session:
        for sid in ids:
            ad_consent.give(
                session, subscriber_id=sid, newsletter_ids=[newsletter_id], source="admin"
            )


def test_an_ad_issue_reaches_only_consenters_with_the_prefix_and_footer(
    ad_services: Services, write_issue: WriteIssue
) -> None:
    write_issue("2026-12-07-sale.md", title="연말 특가", ad="true")
    ids = add_audience(ad_services, 5)
    _consent(ad_services, ids[:2])
    assert plan_send(ad_services, "sale").audience == 2
    result = start_send(ad_services, "sale")
    assert result.status == "sent" and result.counts["accepted"] == 2
    messages = _outbox(ad_services)
    assert sorted(m["To"].addresses[0].addr_spec for m in messages) == [
        "reader1@example.net",
        "reader2@example.net",
    ]
    for message in messages:
        assert message["Subject"] == "(광고) 연말 특가"
        html, text = _parts(message)
        unsubscribe = message["List-Unsubscribe"].split(",")[0].strip("<> ")
        for part in (html, text):
            assert "수신거부 (Unsubscribe)" in part
            assert PHONE in part and "contact@example.org" in part
            assert "1 Test Street, Testville" in part and "Test Letters" in part
        assert f"수신거부 (Unsubscribe): {unsubscribe}" in text
        assert f'href="{unsubscribe}"' in html


def test_a_title_that_has_the_prefix_is_not_doubled_and_test_copies_keep_it_first(
    ad_services: Services, write_issue: WriteIssue
) -> None:
    write_issue("2026-12-07-sale.md", title="(광고)연말 특가", ad="true")
    send_test(ad_services, "sale", to=["editor@example.org"])
    (message,) = _outbox(ad_services)
    assert message["Subject"] == "(광고) [테스트] 연말 특가"


def test_a_withdrawal_between_batches_is_honoured_by_the_next_batch(
    ad_services: Services, write_issue: WriteIssue
) -> None:
    write_issue("2026-12-07-sale.md", title="연말 특가", ad="true")
    ids = add_audience(ad_services, 6)
    _consent(ad_services, ids)
    small = with_delivery(ad_services, batch_size=2)
    leaving = ids[-1]

    def after_first_batch(done: int, total: int) -> None:
        if done == 2:
            with db.transaction(ad_services.sessions) as session:
                ad_consent.withdraw(session, subscriber_id=leaving, source="preferences")

    result = start_send(small, "sale", options=RunOptions(progress=after_first_batch))
    assert result.counts["accepted"] == 5 and result.counts["skipped"] == 1
    with ad_services.sessions() as session:
        status = session.scalar(select(Delivery.status).where(Delivery.subscriber_id == leaving))
    assert status == "skipped"
    assert "reader6@example.net" not in {
        m["To"].addresses[0].addr_spec for m in _outbox(ad_services)
    }


def test_ad_true_added_to_a_paused_send_reaches_only_consenters_on_resume(
    ad_services: Services, write_issue: WriteIssue
) -> None:
    # The send was created plain; the editor pauses it, adds ad: true, then resumes it.
    write_issue("2026-12-07-sale.md", title="연말 특가")
    ids = add_audience(ad_services, 6)
    _consent(ad_services, ids[4:])
    small = with_delivery(ad_services, batch_size=2, rate_limit_per_second=0)

    def pause_after_first_batch(done: int, total: int) -> None:
        if done == 2:
            with db.transaction(ad_services.sessions) as session:
                send_id = session.scalar(select(Send.id))
                assert send_id is not None
                store.set_send_status(
                    session, send_id, SendStatus.PAUSED, now=utcnow(), error="editor"
                )

    first = start_send(small, "sale", options=RunOptions(progress=pause_after_first_batch))
    assert first.status == "paused" and first.counts["accepted"] == 2
    write_issue("2026-12-07-sale.md", title="연말 특가", ad="true")
    result = resume_send(small, first.send_id)
    assert result.status == "sent"
    assert result.counts["accepted"] == 4 and result.counts["skipped"] == 2
    ads = sorted(
        m["To"].addresses[0].addr_spec
        for m in _outbox(ad_services)
        if m["Subject"].startswith("(광고)")
    )
    assert ads == ["reader5@example.net", "reader6@example.net"]
    with ad_services.sessions() as session:
        assert session.scalar(select(Send.ad).where(Send.id == first.send_id)) is True


def test_a_plain_issue_still_reaches_everyone_without_the_ad_footer(
    ad_services: Services, write_issue: WriteIssue
) -> None:
    write_issue("2026-12-07-news.md", title="이번 주 소식")
    add_audience(ad_services, 3)
    assert start_send(ad_services, "news").counts["accepted"] == 3
    for message in _outbox(ad_services):
        assert message["Subject"] == "이번 주 소식"
        assert "수신거부" not in _parts(message)[1]


def test_smtp_and_sendgrid_carry_the_exact_prefix_too(
    ad_services: Services, write_issue: WriteIssue, smtp_sink: SmtpSink, emulator: Emulator
) -> None:
    write_issue("2026-12-07-sale.md", title="연말 특가", ad="true")
    (reader,) = add_audience(ad_services, 1)
    _consent(ad_services, [reader])
    smtp = SmtpSettings(host=smtp_sink.host, port=smtp_sink.port)
    send_test(with_delivery(ad_services, backend="smtp", smtp=smtp), "sale", to=["ed@example.org"])
    (_, _, raw) = smtp_sink.messages[0]
    assert message_from_bytes(raw, policy=default)["Subject"] == "(광고) [테스트] 연말 특가"
    sendgrid = with_delivery(
        ad_services, backend="sendgrid", sendgrid=SendgridSettings(host=emulator.url)
    )
    sendgrid = Services(
        settings=sendgrid.settings.model_copy(
            update={
                "secrets": sendgrid.settings.secrets.model_copy(
                    update={"sendgrid_api_key": "test-key"}
                )
            }
        ),
        engine=ad_services.engine,
        sessions=ad_services.sessions,
    )
    assert start_send(sendgrid, "sale").counts["accepted"] == 1
    (request,) = emulator.state.accepted
    assert request.body is not None
    assert request.body["subject"] == "(광고) 연말 특가"
    html = next(c["value"] for c in request.body["content"] if c["type"] == "text/html")
    assert "수신거부 (Unsubscribe)" in html


def test_a_send_refuses_an_ad_issue_that_check_would_fail(
    services: Services, write_issue: WriteIssue
) -> None:
    write_issue("2026-12-07-sale.md", title="연말 특가", ad="true")  # no phone configured
    add_audience(services, 1)
    with pytest.raises(SendStateError, match="advertising issue: phone: empty"):
        start_send(services, "sale")
    assert _outbox(services) == []
