"""Per-delivery due instants: rows due later wait in the ledger, the send waits without a
thread, and whoever polls (the scheduler, a new process after a restart) sends each wave
once when it comes; a wave reached later than ``scheduler.max_lateness`` is skipped."""

from __future__ import annotations

import mailbox
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from newsletter import db
from newsletter.delivery import RunOptions, engine, start_send
from newsletter.delivery.models import Delivery, Send
from newsletter.services import Services
from newsletter.timing import waves
from newsletter.timing.store import ReachedWave
from tests.fixtures.delivery import add_audience, stand_in_renderer, with_delivery
from tests.timing_support import hooks_cleared, patch_clock

T0 = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
LATER = T0 + timedelta(hours=4)


@pytest.fixture(autouse=True)
def _clean_hooks() -> Iterator[None]:
    yield from hooks_cleared()


def _options() -> RunOptions:
    return RunOptions(renderer=stand_in_renderer)


def _outbox_recipients(services: Services) -> list[str]:
    box = mailbox.Maildir(services.settings.path(services.settings.delivery.outbox_dir))
    return sorted(str(box[key]["To"]) for key in box.iterkeys())


def _defer_from(subscriber_id: int, due_at: datetime) -> waves.FanOutHook:
    def hook(session: object, send_id: int, now: datetime) -> None:
        waves.defer(
            session,  # type: ignore[arg-type]
            send_id,
            due_at=due_at,
            where=Delivery.subscriber_id >= subscriber_id,
        )

    return hook


def _send(services: Services, send_id: int) -> Send:
    with services.sessions() as session:
        send = session.get(Send, send_id)
        assert send is not None
        return send


def test_rows_due_later_wait_and_go_once_when_due(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = patch_clock(monkeypatch, T0)
    ids = add_audience(services, 6)
    waves.add_fan_out_hook(_defer_from(ids[3], LATER))
    reached: list[ReachedWave] = []
    waves.add_due_hook(lambda session, send_id, wave, now: reached.append(wave))
    small = with_delivery(services, batch_size=2)

    first = start_send(small, "hello", options=_options())
    assert first.status == "waiting"
    assert first.counts["accepted"] == 3 and first.counts["pending"] == 3
    assert _send(small, first.send_id).next_due_at == LATER
    assert len(_outbox_recipients(small)) == 3
    # Before the wave nobody takes the send; nothing runs meanwhile.
    clock.set(LATER - timedelta(seconds=1))
    assert engine.abandoned_sends(small) == []
    assert engine.take_over(small, first.send_id, options=_options()) is None
    assert reached == []

    clock.set(LATER)
    assert engine.abandoned_sends(small) == [first.send_id]
    second = engine.take_over(small, first.send_id, options=_options())
    assert second is not None and second.status == "sent"
    assert second.counts["accepted"] == 6
    assert reached == [ReachedWave(LATER, 3)]
    recipients = _outbox_recipients(small)
    assert len(recipients) == 6 and len(set(recipients)) == 6
    # Nothing is left to take: a second poller finds nothing.
    assert engine.abandoned_sends(small) == []


def test_a_new_process_after_a_restart_sends_the_later_wave_once(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = patch_clock(monkeypatch, T0)
    ids = add_audience(services, 4)
    waves.add_fan_out_hook(_defer_from(ids[2], LATER))
    first = start_send(services, "hello", options=_options())
    assert first.status == "waiting"
    services.close()  # the process stops between the waves

    clock.set(LATER + timedelta(minutes=3))
    again = Services.open(services.settings)
    try:
        found = engine.abandoned_sends(again)
        assert found == [first.send_id]
        # Two pollers (two serves on one database): one gets the send.
        results = [engine.take_over(again, send_id, options=_options()) for send_id in found * 2]
        assert [r is not None for r in results] == [True, False]
        assert results[0] is not None and results[0].status == "sent"
        recipients = _outbox_recipients(again)
        assert len(recipients) == 4 and len(set(recipients)) == 4
    finally:
        again.close()


def test_a_wave_reached_beyond_max_lateness_is_skipped_and_reported(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = patch_clock(monkeypatch, T0)
    ids = add_audience(services, 5)
    waves.add_fan_out_hook(_defer_from(ids[3], LATER))
    first = start_send(services, "hello", options=_options())
    assert first.status == "waiting"
    late = services.settings.scheduler.max_lateness + timedelta(minutes=1)
    clock.set(LATER + late)  # serve was down through the wave and much after
    result = engine.take_over(services, first.send_id, options=_options())
    assert result is not None and result.status == "sent"
    assert result.counts["accepted"] == 3 and result.counts["skipped"] == 2
    with services.sessions() as session:
        errors = set(session.scalars(select(Delivery.error).where(Delivery.status == "skipped")))
        progress = waves.progress(session, first.send_id)
    assert errors == {waves.missed_reason(late, services.settings.scheduler.max_lateness)}
    assert [(w.due_at, w.counts) for w in progress] == [
        (None, {"accepted": 3}),
        (LATER, {"missed": 2}),
    ]
    assert len(_outbox_recipients(services)) == 3


def test_a_wave_within_max_lateness_is_sent_late(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = patch_clock(monkeypatch, T0)
    ids = add_audience(services, 3)
    waves.add_fan_out_hook(_defer_from(ids[1], LATER))
    first = start_send(services, "hello", options=_options())
    clock.set(LATER + services.settings.scheduler.max_lateness)  # exactly at the limit
    result = engine.take_over(services, first.send_id, options=_options())
    assert result is not None and result.counts["accepted"] == 3


def test_a_waiting_send_can_be_cancelled_and_is_never_taken(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = patch_clock(monkeypatch, T0)
    ids = add_audience(services, 3)
    waves.add_fan_out_hook(_defer_from(ids[1], LATER))
    first = start_send(services, "hello", options=_options())
    assert engine.cancel_send(services, first.send_id).status == "cancelled"
    clock.set(LATER)
    assert engine.abandoned_sends(services) == []
    assert len(_outbox_recipients(services)) == 1


def test_rows_deferred_past_a_reached_wave_are_claimed_only_when_due(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A row made due later after the fan-out (``defer`` outside the fan-out) waits too."""
    patch_clock(monkeypatch, T0)
    add_audience(services, 2)
    send_id = engine.create_send(services, "hello", renderer=stand_in_renderer)
    with db.transaction(services.sessions) as session:
        worker = engine.new_worker_id()
        assert engine.store.claim_send(session, send_id, worker=worker, now=T0)
        engine.store.fan_out(session, send_id, newsletter_id="weekly", now=T0)
        assert waves.defer(session, send_id, due_at=LATER, where=Delivery.id > 0) == 2
    result = engine.run_send(services, send_id, worker=worker, options=_options())
    assert result.status == "waiting" and result.counts["pending"] == 2


def test_the_running_scheduler_takes_the_send_again_at_its_next_wave(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    from newsletter.scheduler.runner import IssueScheduler
    from tests.scheduler_helpers import wait_for

    clock = patch_clock(monkeypatch, T0)
    ids = add_audience(services, 4)
    waves.add_fan_out_hook(_defer_from(ids[2], LATER))
    first = start_send(services, "hello", options=_options())
    scheduler = IssueScheduler(
        services,
        send=lambda s, slug: None,
        sync=None,
        clock=clock,
        poll_interval=timedelta(milliseconds=50),
        abandoned=engine.abandoned_sends,
        take_over=lambda s, send_id: engine.take_over(s, send_id, options=_options()),
    )
    scheduler.start()
    try:
        assert not wait_for(lambda: _send(services, first.send_id).status != "waiting", 0.5)
        clock.set(LATER)
        assert wait_for(lambda: _send(services, first.send_id).status == "sent", 10)
    finally:
        scheduler.shutdown()
    recipients = _outbox_recipients(services)
    assert len(recipients) == 4 and len(set(recipients)) == 4


def test_a_worker_claims_a_waiting_send_only_when_due_and_never_joins_it_early(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``newsletter worker`` (PostgreSQL) finds waiting sends through the same list; a
    worker looking for a send to help with never picks one whose rows are all due later."""
    from newsletter.delivery import liveness, worker

    clock = patch_clock(monkeypatch, T0)
    ids = add_audience(services, 3)
    waves.add_fan_out_hook(_defer_from(ids[1], LATER))
    first = start_send(services, "hello", options=_options())
    assert first.status == "waiting"
    assert worker.join_next(services) is None
    # Even while another runner has it `sending`, rows of a later wave are nothing to join.
    with db.transaction(services.sessions) as session:
        session.execute(update(Send).values(status="sending"))
    assert worker.join_next(services) is None
    with db.transaction(services.sessions) as session:
        session.execute(update(Send).values(status="waiting"))
    runner = engine.new_worker_id()
    with liveness.hold(services, runner):
        assert worker.claim_next(services, worker=runner) is None
        clock.set(LATER)
        assert worker.claim_next(services, worker=runner) == first.send_id
        result = engine.run_send(services, first.send_id, worker=runner, options=_options())
    assert result.status == "sent" and result.counts["accepted"] == 3
