from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import update

from newsletter import db
from newsletter.delivery import RunOptions, resume_send, start_send, store
from newsletter.delivery.backends.smtp import SmtpBackend
from newsletter.delivery.emulator import Emulator, Fault
from newsletter.delivery.retry import RetryPolicy
from newsletter.errors import SendStateError
from newsletter.services import Services
from newsletter.settings import SmtpSettings
from subscribers.models import Subscriber
from tests.fixtures.delivery import (
    RecordingSleep,
    SmtpSink,
    add_audience,
    sendgrid_backend,
    stand_in_renderer,
    with_delivery,
)


def _policy(sleep: RecordingSleep, attempts: int = 4) -> RetryPolicy:
    return RetryPolicy(max_attempts=attempts, base_delay=1, max_delay=8, sleep=sleep)


def _seen(emulator: Emulator) -> Counter[str]:
    return Counter(r for request in emulator.state.accepted for r in request.recipients)


def test_a_storm_of_429s_and_5xx_finishes_without_duplicates(
    services: Services, emulator: Emulator
) -> None:
    add_audience(services, 30)
    emulator.queue(Fault("429", retry_after=2), Fault("500"), Fault("502"), Fault("503"))
    sleep = RecordingSleep()
    options = RunOptions(
        renderer=stand_in_renderer,
        backend=sendgrid_backend(emulator),
        policy=_policy(sleep, 5),
        concurrency=1,
    )
    result = start_send(with_delivery(services, batch_size=10), "hello", options=options)
    assert result.status == "sent" and result.counts["accepted"] == 30
    assert sleep.waits[0] == 2  # Retry-After obeyed
    seen = _seen(emulator)
    assert len(seen) == 30 and max(seen.values()) == 1


def test_a_provider_that_keeps_failing_pauses_the_send_and_resume_finishes_it(
    services: Services, emulator: Emulator
) -> None:
    add_audience(services, 20)
    emulator.queue(Fault("500"), Fault("500"), Fault("500"))
    sleep = RecordingSleep()
    small = with_delivery(services, batch_size=10)
    options = RunOptions(
        renderer=stand_in_renderer,
        backend=sendgrid_backend(emulator),
        policy=_policy(sleep, 3),
        concurrency=1,
    )
    paused = start_send(small, "hello", options=options)
    assert paused.status == "paused" and "kept failing" in paused.error
    assert paused.counts["pending"] == 20  # released: it surely did not go out
    done = resume_send(small, paused.send_id, options=options)
    assert done.status == "sent" and done.counts["accepted"] == 20
    assert max(_seen(emulator).values()) == 1


def test_a_4xx_is_recorded_not_retried(services: Services, emulator: Emulator) -> None:
    add_audience(services, 4)
    emulator.queue(Fault("400"))
    sleep = RecordingSleep()
    options = RunOptions(
        renderer=stand_in_renderer,
        backend=sendgrid_backend(emulator),
        policy=_policy(sleep),
        concurrency=1,
    )
    result = start_send(with_delivery(services, batch_size=2), "hello", options=options)
    assert result.counts["failed"] == 2 and result.counts["accepted"] == 2
    assert emulator.state.requests == 2 and sleep.waits == []
    with services.sessions() as session:
        ((reason, count),) = store.recent_errors(session, result.send_id)
    assert "400" in reason and count == 2


def test_smtp_refusals_are_settled_per_recipient_and_pause_after_n(
    services: Services, smtp_sink: SmtpSink
) -> None:
    add_audience(services, 3)
    add_audience(services, 6, start=50, domain="example.com")
    # Make three addresses refused for good and one deferred twice before it is taken.
    with db.transaction(services.sessions) as session:
        session.execute(
            update(Subscriber)
            .where(
                Subscriber.email.in_(
                    ["reader50@example.com", "reader51@example.com", "reader52@example.com"]
                )
            )
            .values(email="bad-" + Subscriber.email)
        )
    smtp_sink.defer_first["reader1@example.net"] = 2
    sleep = RecordingSleep()
    backend = SmtpBackend(SmtpSettings(host=smtp_sink.host, port=smtp_sink.port, connections=2))
    small = with_delivery(services, batch_size=3, pause_after_errors=3, backend="smtp")
    options = RunOptions(
        renderer=stand_in_renderer, backend=backend, policy=_policy(sleep), concurrency=1
    )
    result = start_send(small, "hello", options=options)
    backend.close()
    assert result.status == "paused" and "3 errors in a row" in result.error
    assert result.counts["failed"] == 3 and result.counts["accepted"] == 3
    assert smtp_sink.attempts["reader1@example.net"] == 3  # deferred twice, then accepted
    assert len(sleep.waits) == 2
    assert result.counts["pending"] == 3  # the rest waits for `sends resume`


def test_the_rate_limit_is_shared_through_the_database(services: Services) -> None:
    with db.transaction(services.sessions) as session:
        first = store.reserve_slots(session, "smtp", cost=2.0, now=100.0)
    with db.transaction(services.sessions) as session:
        second = store.reserve_slots(session, "smtp", cost=2.0, now=100.5)
    with db.transaction(services.sessions) as session:
        later = store.reserve_slots(session, "smtp", cost=1.0, now=500.0)
    assert (first, second, later) == (100.0, 102.0, 500.0)


def test_a_rate_limited_send_waits_for_its_slots(services: Services, emulator: Emulator) -> None:
    add_audience(services, 12)
    sleep = RecordingSleep()
    limited = with_delivery(services, rate_limit_per_second=4)
    options = RunOptions(
        renderer=stand_in_renderer,
        backend=sendgrid_backend(emulator),
        policy=_policy(sleep),
        concurrency=1,
    )
    result = start_send(limited, "hello", options=options)
    assert result.counts["accepted"] == 12
    assert len(emulator.state.accepted) == 3  # batches of one second's budget
    assert sum(sleep.waits) >= 1.5  # the later batches waited for their slots


def test_a_lost_answer_leaves_its_batch_unknown_and_the_send_goes_on(
    services: Services, emulator: Emulator
) -> None:
    add_audience(services, 30)
    # The second batch reaches SendGrid but its answer never comes back.
    emulator.queue(Fault("none"), Fault("lost"))
    sleep = RecordingSleep()
    small = with_delivery(services, batch_size=10)
    options = RunOptions(
        renderer=stand_in_renderer,
        backend=sendgrid_backend(emulator),
        policy=_policy(sleep, 5),
        concurrency=1,
    )
    result = start_send(small, "hello", options=options)
    assert result.status == "sent"
    assert result.counts["accepted"] == 20 and result.counts["unknown"] == 10
    seen = _seen(emulator)
    assert len(seen) == 30 and max(seen.values()) == 1  # the lost batch did arrive, once
    with pytest.raises(SendStateError, match="retry-unknown"):
        resume_send(small, result.send_id, options=options)
    assert max(_seen(emulator).values()) == 1
    forced = resume_send(small, result.send_id, retry_unknown=True, options=options)
    assert forced.counts["unknown"] == 0 and forced.counts["accepted"] == 30
    assert max(_seen(emulator).values()) == 2  # only by the editor's explicit choice


def test_each_lost_answer_is_one_error_event_and_the_send_goes_on(
    services: Services, emulator: Emulator
) -> None:
    # Issue 11 point 13: a lost answer used to count once per recipient of its batch, so one
    # batch of 10 crossed pause_after_errors=3 on its own. Now it is one error event.
    add_audience(services, 300)
    emulator.queue(*[fault for _ in range(14) for fault in (Fault("lost"), Fault("none"))])
    sleep = RecordingSleep()
    small = with_delivery(services, batch_size=10, pause_after_errors=3)
    options = RunOptions(
        renderer=stand_in_renderer,
        backend=sendgrid_backend(emulator),
        policy=_policy(sleep, 5),
        concurrency=1,
    )
    result = start_send(small, "hello", options=options)
    assert result.status == "sent", result.error  # 14 lost answers, no resume needed
    assert result.counts["unknown"] == 140 and result.counts["accepted"] == 160
    seen = _seen(emulator)
    assert len(seen) == 300 and max(seen.values()) == 1  # the lost batches arrived, once


def test_lost_answers_in_a_row_still_pause_the_send(services: Services, emulator: Emulator) -> None:
    add_audience(services, 60)
    emulator.queue(Fault("none"), Fault("lost"), Fault("lost"), Fault("lost"))
    sleep = RecordingSleep()
    small = with_delivery(services, batch_size=10, pause_after_errors=3)
    options = RunOptions(
        renderer=stand_in_renderer,
        backend=sendgrid_backend(emulator),
        policy=_policy(sleep, 5),
        concurrency=1,
    )
    result = start_send(small, "hello", options=options)
    assert result.status == "paused" and "3 errors in a row" in result.error
    assert result.counts["accepted"] == 10 and result.counts["unknown"] == 30
    assert result.counts["pending"] == 20  # the rest waits for `sends resume`
