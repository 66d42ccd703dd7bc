from __future__ import annotations

import mailbox
import os
import threading
from email import message_from_bytes
from email.policy import default

import pytest
from sqlalchemy import func, select

from newsletter import db
from newsletter.delivery import RunOptions, resume_send, start_send
from newsletter.delivery.backends.outbox import OutboxBackend
from newsletter.delivery.models import Delivery
from newsletter.errors import SendStateError
from newsletter.render import RenderedIssue
from newsletter.services import Services
from subscribers.service import unsubscribe
from tests.fixtures.delivery import add_audience, stand_in_renderer, with_delivery

REQUIRED = (
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "List-Id",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
)


def _outbox(services: Services) -> list[bytes]:
    box = mailbox.Maildir(services.settings.path(services.settings.delivery.outbox_dir))
    return [box.get_bytes(key) for key in box.iterkeys()]


def _options() -> RunOptions:
    return RunOptions(renderer=stand_in_renderer)


def test_a_send_reaches_every_subscriber_once_with_every_header(services: Services) -> None:
    ids = add_audience(services, 5)
    add_audience(services, 2, newsletter_id="letters", start=100)
    result = start_send(services, "hello", options=_options())
    assert result.ran and result.status == "sent"
    assert result.total == 5 and result.counts["accepted"] == 5
    messages = [message_from_bytes(raw, policy=default) for raw in _outbox(services)]
    assert sorted(m["To"].addresses[0].addr_spec for m in messages) == sorted(
        f"reader{n}@example.net" for n in range(1, 6)
    )
    tokens = set()
    for message in messages:
        assert not message.defects
        for name in REQUIRED:
            assert message[name], name
        unsubscribe_url = message["List-Unsubscribe"].split(",")[0].strip("<> ")
        assert unsubscribe_url.startswith("https://news.example.org/unsubscribe/")
        assert "mailto:" in message["List-Unsubscribe"]
        tokens.add(unsubscribe_url)
        text = message.get_body(preferencelist=("plain",))
        assert text is not None and unsubscribe_url in text.get_content()
        assert "https://news.example.org/archive/hello" in text.get_content()
    assert len(tokens) == len(ids)  # one personal token each


def test_starting_a_sent_issue_again_sends_nothing(services: Services) -> None:
    add_audience(services, 3)
    first = start_send(services, "hello", options=_options())
    again = start_send(services, "hello", options=_options())
    assert first.ran and not again.ran
    assert again.send_id == first.send_id and again.status == "sent"
    assert len(_outbox(services)) == 3


def test_two_concurrent_starts_make_one_send(services: Services) -> None:
    add_audience(services, 40)
    small = with_delivery(services, batch_size=5)
    results = []

    def start() -> None:
        results.append(start_send(small, "hello", options=_options()))

    threads = [threading.Thread(target=start) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.ran for r in results) == [False, True]
    assert {r.send_id for r in results} == {results[0].send_id}
    recipients = [message_from_bytes(raw)["To"] for raw in _outbox(services)]
    assert len(recipients) == 40 and len(set(recipients)) == 40


def test_an_unsubscribe_during_a_send_is_honoured_by_the_next_batch(services: Services) -> None:
    ids = add_audience(services, 6)
    small = with_delivery(services, batch_size=2)
    leaving = ids[-1]

    def after_first_batch(done: int, total: int) -> None:
        if done == 2:
            with db.transaction(services.sessions) as session:
                unsubscribe(session, subscriber_id=leaving, newsletter_id="weekly")

    result = start_send(
        small, "hello", options=RunOptions(renderer=stand_in_renderer, progress=after_first_batch)
    )
    assert result.counts["accepted"] == 5 and result.counts["skipped"] == 1
    with services.sessions() as session:
        status = session.scalar(select(Delivery.status).where(Delivery.subscriber_id == leaving))
    assert status == "skipped"
    assert "reader6@example.net" not in b"".join(_outbox(services)).decode()


def test_resuming_a_sent_send_without_unknowns_is_refused(services: Services) -> None:
    add_audience(services, 1)
    result = start_send(services, "hello", options=_options())
    with pytest.raises(SendStateError, match="already sent"):
        resume_send(services, result.send_id, options=_options())


def test_a_helper_process_shares_the_send_without_duplicates(services: Services) -> None:
    add_audience(services, 1500)
    small = with_delivery(services, batch_size=25)
    options = RunOptions(renderer=stand_in_renderer, helper_processes=1)
    result = start_send(small, "hello", options=options)
    assert result.status == "sent" and result.counts["accepted"] == 1500
    recipients = [message_from_bytes(raw)["To"] for raw in _outbox(services)]
    assert len(recipients) == 1500 and len(set(recipients)) == 1500
    with services.sessions() as session:
        runners = session.scalar(select(func.count(func.distinct(Delivery.worker))))
    print(f"{runners} runners took batches")  # 2 unless the helper started after the end


def crashing_in_helpers(services: Services, slug: str) -> RenderedIssue:
    """A renderer whose helper processes die right after their first batch went out."""
    if str(os.getpid()) != os.environ.get("NL_TEST_PARENT_PID"):
        original = OutboxBackend.post

        def post_then_die(self: OutboxBackend, payload: list[bytes]) -> list[str]:
            original(self, payload)
            os._exit(9)

        OutboxBackend.post = post_then_die  # type: ignore[method-assign]
    return stand_in_renderer(services, slug)


def test_a_helper_that_dies_leaves_its_batch_unknown_and_the_rest_sent(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NL_TEST_PARENT_PID", str(os.getpid()))
    add_audience(services, 1500)
    small = with_delivery(services, batch_size=25)
    options = RunOptions(renderer=crashing_in_helpers, helper_processes=1)
    result = start_send(small, "hello", options=options)
    assert result.status == "sent"
    assert result.unknown in (0, 25)  # 0 only if the helper started after the last batch
    assert result.counts["accepted"] + result.unknown == 1500
    recipients = [message_from_bytes(raw)["To"] for raw in _outbox(services)]
    assert len(recipients) == len(set(recipients)) == 1500  # unknown ones went out once
    print(f"{result.unknown} unknown from the dead helper")
