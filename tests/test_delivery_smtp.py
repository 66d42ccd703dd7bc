from __future__ import annotations

from email import message_from_bytes
from email.policy import default

import pytest

from newsletter.delivery.backends.smtp import SmtpBackend
from newsletter.delivery.message import Batch, Content, Outcome
from newsletter.settings import SmtpSettings
from tests.fixtures.delivery import SmtpSink, korean_content, korean_recipient

HEADERS = (
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "Reply-To",
    "List-Id",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
)


def _content() -> Content:
    return korean_content(
        html="<p>안녕하세요 %%name%%님 <a href='%%unsub%%'>구독 해지</a></p>",
        text="안녕하세요 [[name]]님\n.점으로 시작하는 줄\n.\n구독 해지: [[unsub]]",
    )


def _backend(sink: SmtpSink, *, pipelining: bool | None = None) -> SmtpBackend:
    settings = SmtpSettings(host=sink.host, port=sink.port, connections=3)
    return SmtpBackend(settings, pipelining=pipelining)


@pytest.mark.parametrize("pipelining", [False, True])
def test_every_message_parses_without_defects_and_has_every_header(
    smtp_sink: SmtpSink, pipelining: bool
) -> None:
    backend = _backend(smtp_sink, pipelining=pipelining)
    recipients = [korean_recipient(f"reader{i}@example.net") for i in range(7)]
    results = backend.send(Batch(_content(), recipients))
    backend.close()
    assert [r.outcome for r in results] == [Outcome.ACCEPTED] * 7
    assert sorted(smtp_sink.recipients()) == sorted(r.email for r in recipients)
    for _, rcpts, raw in smtp_sink.messages:
        parsed = message_from_bytes(raw, policy=default)
        assert not parsed.defects
        for name in HEADERS:
            assert parsed[name], name
        assert parsed["To"].addresses[0].addr_spec == rcpts[0]
        assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        html = parsed.get_body(preferencelist=("html",))
        text = parsed.get_body(preferencelist=("plain",))
        assert html is not None and text is not None
        assert "김&lt;독자&gt;님" in html.get_content()  # escaped in HTML
        assert "김<독자>님" in text.get_content()  # raw in text
        assert f"tok-{rcpts[0]}" in text.get_content()
        assert "\r\n.점으로 시작하는 줄\r\n.\r\n" in text.get_content()  # dots survive


@pytest.mark.parametrize("pipelining", [False, True])
def test_4xx_is_deferred_and_5xx_failed_per_recipient(
    smtp_sink: SmtpSink, pipelining: bool
) -> None:
    backend = _backend(smtp_sink, pipelining=pipelining)
    batch = Batch(
        _content(),
        [
            korean_recipient("ok@example.net"),
            korean_recipient("temp-x@example.net"),
            korean_recipient("bad-y@x.net"),
        ],
    )
    results = backend.send(batch)
    backend.close()
    outcomes = {r.recipient.email: r.outcome for r in results}
    assert outcomes == {
        "ok@example.net": Outcome.ACCEPTED,
        "temp-x@example.net": Outcome.DEFERRED,
        "bad-y@x.net": Outcome.FAILED,
    }
    assert "550" in next(r.error for r in results if r.outcome is Outcome.FAILED)
    assert smtp_sink.recipients() == ["ok@example.net"]


def test_one_connection_pipelines_each_message_behind_the_previous_dot(
    smtp_sink: SmtpSink,
) -> None:
    # One connection, so every message's MAIL/RCPT/DATA rides with the previous message's
    # final dot: refusals at RCPT and after DATA must still land on the right recipient.
    settings = SmtpSettings(host=smtp_sink.host, port=smtp_sink.port, connections=1)
    backend = SmtpBackend(settings, pipelining=True)
    emails = ["a@x.net", "temp-b@x.net", "c@x.net", "bad-d@x.net", "nodata-e@x.net", "f@x.net"]
    results = backend.send(Batch(_content(), [korean_recipient(e) for e in emails]))
    assert [r.outcome for r in results] == [
        Outcome.ACCEPTED,
        Outcome.DEFERRED,
        Outcome.ACCEPTED,
        Outcome.FAILED,
        Outcome.FAILED,
        Outcome.ACCEPTED,
    ]
    assert "554" in results[4].error
    assert smtp_sink.recipients() == ["a@x.net", "c@x.net", "f@x.net"]
    for _, rcpts, raw in smtp_sink.messages:  # each body went with its own envelope
        parsed = message_from_bytes(raw, policy=default)
        assert parsed["To"].addresses[0].addr_spec == rcpts[0]
        text = parsed.get_body(preferencelist=("plain",))
        assert text is not None and f"tok-{rcpts[0]}" in text.get_content()
    # No reply is left owed on the connection: it serves the next batch as it is.
    (again,) = backend.send(Batch(_content(), [korean_recipient("g@x.net")]))
    assert again.outcome is Outcome.ACCEPTED and backend._idle.qsize() == 1
    backend.close()
    assert smtp_sink.recipients()[-1] == "g@x.net"


def test_connections_are_reused_across_batches(smtp_sink: SmtpSink) -> None:
    backend = SmtpBackend(SmtpSettings(host=smtp_sink.host, port=smtp_sink.port, connections=1))
    for i in range(3):
        backend.send(Batch(_content(), [korean_recipient(f"r{i}@example.net")]))
    assert backend._idle.qsize() == 1  # one connection served all three
    backend.close()
    assert len(smtp_sink.messages) == 3


def test_unreachable_server_defers_instead_of_raising() -> None:
    backend = SmtpBackend(SmtpSettings(host="127.0.0.1", port=1, connections=1))
    (result,) = backend.send(Batch(_content(), [korean_recipient("a@example.net")]))
    backend.close()
    assert result.outcome is Outcome.DEFERRED
