"""A runner killed mid-send is taken over at once when its death is proved (issue 11, point 11).

SQLite: a real ``newsletter serve`` sends an issue to a few thousand readers through the
real ``sendgrid`` client into the emulator (which counts every recipient), is SIGKILLed
mid-send and restarted. The restarted serve proves the dead runner gone (its ``flock``
on the lock file beside the database is free) and continues the send at once, long before
the 10-minute stale interval: nobody twice, nobody left pending, the rows that were in
flight at the kill reported ``unknown``. The engine tests below cover the rule itself:
a live runner is never taken over, an unprovable one only after the stale interval.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from newsletter import db
from newsletter.delivery import engine, liveness, store
from newsletter.delivery.emulator import Emulator, Fault
from newsletter.delivery.models import Delivery, Send
from newsletter.scheduler.runner import IssueScheduler
from newsletter.services import Services
from subscribers.db import utcnow
from subscribers.models import Subscriber
from tests.conftest import REPO
from tests.fixtures.delivery import add_audience, stand_in_renderer
from tests.scheduler_helpers import Serve, iso, wait_for, write_issue

AUDIENCE = 3000
BATCH = 100


@pytest.fixture
def serves() -> Iterator[list[Serve]]:
    started: list[Serve] = []
    yield started
    for serve in started:
        serve.stop()


def _env(emulator: Emulator) -> dict[str, str]:
    return {
        **os.environ,
        "NEWSLETTER_SECRET_KEY": "test-secret-key-0123456789abcdef",
        "NEWSLETTER_DELIVERY__BACKEND": "sendgrid",
        "NEWSLETTER_DELIVERY__BATCH_SIZE": str(BATCH),
        "NEWSLETTER_DELIVERY__SENDGRID__HOST": emulator.url,
        "SENDGRID_API_KEY": "test-key",
        "NEWSLETTER_SCHEDULER__SYNC_INTERVAL": "1s",
        "PYTHONUNBUFFERED": "1",
    }


def _ledger(services: Services, send_id: int) -> dict[int, str]:
    with services.sessions() as session:
        rows = session.execute(
            select(Delivery.subscriber_id, Delivery.status).where(Delivery.send_id == send_id)
        ).all()
    return {sid: status for sid, status in rows}


def _send(services: Services, slug: str) -> Send | None:
    with services.sessions() as session:
        return store.send_for_issue(session, slug)


@pytest.mark.slow
def test_serve_killed_mid_send_restarts_and_finishes_the_send_at_once(
    services: Services, emulator: Emulator, config_path: Path, serves: list[Serve]
) -> None:
    add_audience(services, AUDIENCE)
    write_issue(services, "crash", iso(utcnow() - timedelta(minutes=1)))  # due: sent at start
    # Every request takes a while, so the kill lands with batches in flight.
    emulator.queue(*[Fault("slow", delay=0.25) for _ in range(AUDIENCE // BATCH)])
    first = Serve(config_path, _env(emulator))
    serves.append(first)
    assert wait_for(lambda: emulator.state.stats()["accepted_requests"] >= 3, timeout=60), first.log
    time.sleep(random.uniform(0.0, 0.3))
    first.process.send_signal(signal.SIGKILL)
    first.process.wait()

    send = _send(services, "crash")
    assert send is not None and send.status == "sending"
    at_kill = _ledger(services, send.id)
    in_flight = {sid for sid, status in at_kill.items() if status == "sending"}
    pending = sum(status == "pending" for status in at_kill.values())
    assert pending > 0, "the send finished before the kill"

    restarted_at = time.monotonic()
    second = Serve(config_path, _env(emulator))
    serves.append(second)
    # Well before the 10-minute stale interval: the dead runner's lock proves it gone.
    assert wait_for(
        lambda: (s := _send(services, "crash")) is not None and s.status == "sent", timeout=60
    ), second.log
    took = time.monotonic() - restarted_at
    assert "taking it over" in second.log

    ledger = _ledger(services, send.id)
    counts = Counter(ledger.values())
    print(
        f"\nkilled with {len(in_flight)} in flight and {pending} pending; restarted serve "
        f"finished in {took:.1f} s: {dict(counts)}"
    )
    assert len(ledger) == AUDIENCE
    assert set(counts) <= {"accepted", "unknown"}, counts  # nobody pending, failed or lost
    assert {sid for sid, status in ledger.items() if status == "unknown"} == in_flight
    received = Counter(r for request in emulator.state.accepted for r in request.recipients)
    assert max(received.values()) == 1, "a reader got the issue twice"
    with services.sessions() as session:
        emails = dict(session.execute(select(Subscriber.id, Subscriber.email)).all())
    accepted = {emails[sid] for sid, status in ledger.items() if status == "accepted"}
    unknown = {emails[sid] for sid in in_flight}
    assert accepted <= set(received), "a row settled accepted that SendGrid never got"
    assert set(received) <= accepted | unknown  # nobody sent without a row saying so


# --- the rule, in one process ------------------------------------------------------------

HOLDER = """
import sys, time
from newsletter.delivery import liveness
from newsletter.scheduler.runner import IssueScheduler
from newsletter.services import Services
from newsletter.settings import load_settings
services = Services.open(load_settings(sys.argv[1]), migrate=False)
with liveness.hold(services, sys.argv[2]):
    print("holding", flush=True)
    time.sleep(120)
"""


def _holder(config_path: Path, runner: str) -> subprocess.Popen[str]:
    """Another process holding ``runner``'s liveness lock until it is killed."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(config_path), runner],
        cwd=REPO,
        env={**os.environ, "NEWSLETTER_SECRET_KEY": "test-secret-key-0123456789abcdef"},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
    return holder


def _stranded_send(services: Services, *, runner: str, claimed: int) -> int:
    """A ``sending`` send of ``runner`` with ``claimed`` rows in flight and the rest pending."""
    add_audience(services, 10)
    send_id = engine.create_send(services, "stranded", renderer=stand_in_renderer)
    now = utcnow()
    with db.transaction(services.sessions) as session:
        assert store.claim_send(session, send_id, worker=runner, now=now)
        store.fan_out(session, send_id, newsletter_id="weekly", now=now)
        store.claim_batch(
            session,
            send_id,
            newsletter_id="weekly",
            batch="b" * 32,
            worker=runner,
            limit=claimed,
            now=now,
        )
    return send_id


def test_a_live_runner_is_never_taken_over_a_killed_one_at_once(
    services: Services, config_path: Path
) -> None:
    runner = "deadbeef00000001"
    holder = _holder(config_path, runner)
    try:
        send_id = _stranded_send(services, runner=runner, claimed=3)
        assert liveness.state(services, runner) is liveness.Liveness.ALIVE
        assert engine.abandoned_sends(services) == []
        assert engine.take_over(services, send_id) is None  # it runs: hands off
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        assert liveness.state(services, runner) is liveness.Liveness.DEAD
        assert engine.abandoned_sends(services) == [send_id]
        result = engine.take_over(
            services, send_id, options=engine.RunOptions(renderer=stand_in_renderer)
        )
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
    assert result is not None and result.status == "sent"
    assert result.counts["unknown"] == 3 and result.counts["accepted"] == 7
    lock_dir = liveness.lock_dir(services.engine)
    if services.engine.dialect.name == "sqlite":
        assert lock_dir is not None and not list(lock_dir.iterdir())  # nothing left behind


def test_a_runner_whose_death_cannot_be_proved_waits_for_the_stale_interval(
    services: Services,
) -> None:
    send_id = _stranded_send(services, runner="0123456789abcdef", claimed=2)  # never locked
    if services.engine.dialect.name == "postgresql":
        # An advisory lock nobody holds is proof: that runner does not run.
        assert liveness.state(services, "0123456789abcdef") is liveness.Liveness.DEAD
        assert engine.abandoned_sends(services) == [send_id]
    else:
        # No lock file (a runner of an older version, a deleted file): only time tells.
        assert liveness.state(services, "0123456789abcdef") is liveness.Liveness.UNKNOWN
        assert engine.abandoned_sends(services) == []
    with db.transaction(services.sessions) as session:
        session.execute(
            update(Send)
            .where(Send.id == send_id)
            .values(heartbeat_at=utcnow() - engine.STALE_AFTER - timedelta(seconds=1))
        )
    assert engine.abandoned_sends(services) == [send_id]
    result = engine.take_over(
        services, send_id, options=engine.RunOptions(renderer=stand_in_renderer)
    )
    assert result is not None and result.status == "sent"
    assert result.counts["unknown"] == 2 and result.counts["accepted"] == 8


def test_a_send_left_queued_by_a_dead_creator_is_started_by_the_scheduler(
    services: Services,
) -> None:
    # The process died between creating the send and claiming it: the issue reads
    # `sending`, the send `queued`, and on SQLite no worker will ever claim it.
    add_audience(services, 5)
    send_id = engine.create_send(services, "orphan", renderer=stand_in_renderer)
    assert engine.abandoned_sends(services) == []  # its creator claims it any moment
    with db.transaction(services.sessions) as session:
        send = session.get(Send, send_id)
        assert send is not None
        send.created_at = utcnow() - engine.QUEUED_GRACE - timedelta(seconds=1)
    assert engine.abandoned_sends(services) == [send_id]
    options = engine.RunOptions(renderer=stand_in_renderer)
    scheduler = IssueScheduler(
        services,
        send=lambda _services, _slug: None,
        sync=None,
        abandoned=engine.abandoned_sends,
        take_over=lambda running, found: engine.take_over(running, found, options=options),
    )
    scheduler.start()
    try:
        assert wait_for(lambda: engine.send_result(services, send_id).status == "sent", 30)
    finally:
        scheduler.shutdown()
    assert engine.send_result(services, send_id).counts["accepted"] == 5


def test_a_send_whose_creator_died_before_claiming_it_is_taken_over_at_once(
    services: Services, config_path: Path
) -> None:
    # Killed during the fan-out (the claim's transaction): the send stays `queued`, named
    # after its creator; once that creator is proved dead nobody waits for the grace.
    add_audience(services, 4)
    creator = "deadbeef00000003"
    holder = _holder(config_path, creator)
    try:
        send_id = engine.create_send(
            services, "fan-out", renderer=stand_in_renderer, creator=creator
        )
        assert engine.abandoned_sends(services) == []  # its creator is about to claim it
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        assert engine.abandoned_sends(services) == [send_id]
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
    result = engine.take_over(
        services, send_id, options=engine.RunOptions(renderer=stand_in_renderer)
    )
    assert result is not None and result.status == "sent" and result.counts["accepted"] == 4


MAIN_WITH_HELPER = """
import sys
from newsletter.delivery import RunOptions, start_send
from newsletter.services import Services
from newsletter.settings import load_settings
from tests.fixtures.delivery import stand_in_renderer
services = Services.open(load_settings(sys.argv[1]))
options = RunOptions(renderer=stand_in_renderer, concurrency=2, helper_processes=1)
start_send(services, "hello", options=options)
"""


@pytest.mark.slow
def test_send_with_a_helper_whose_main_process_is_killed_is_finished_by_the_helper(
    services: Services, emulator: Emulator, config_path: Path
) -> None:
    # `send --now --processes 2`, the main process SIGKILLed: the helper proves it dead,
    # settles its batches `unknown` and sends the rest; nobody has to resume anything.
    add_audience(services, AUDIENCE)
    # Slow answers: the main process alone would need 15 s, so the helper (a fresh
    # interpreter, slow to start on a loaded machine) is sending before the kill.
    emulator.queue(*[Fault("slow", delay=1.0) for _ in range(AUDIENCE // BATCH)])
    main = subprocess.Popen(
        [sys.executable, "-c", MAIN_WITH_HELPER, str(config_path)], cwd=REPO, env=_env(emulator)
    )
    try:
        assert wait_for(lambda: _send(services, "hello") is not None, timeout=60)
        send = _send(services, "hello")
        assert send is not None
        main_runner = send.worker
        assert wait_for(
            lambda: any(w != main_runner for w in _in_flight_runners(services, send.id)),
            timeout=60,
        ), "the helper never sent"
        assert main.poll() is None, "the main process finished before it could be killed"
        time.sleep(random.uniform(0.0, 0.2))
        main.send_signal(signal.SIGKILL)
        main.wait()
        with services.sessions() as session:
            at_kill = dict(
                session.execute(
                    select(Delivery.subscriber_id, Delivery.worker).where(
                        Delivery.send_id == send.id, Delivery.status == "sending"
                    )
                ).all()
            )
        assert wait_for(
            lambda: (s := _send(services, "hello")) is not None and s.status == "sent", timeout=60
        )
    finally:
        if main.poll() is None:
            main.kill()
            main.wait()
    ledger = _ledger(services, send.id)
    counts = Counter(ledger.values())
    unknown = {sid for sid, status in ledger.items() if status == "unknown"}
    print(f"\nmain killed with {len(at_kill)} rows in flight; the helper finished: {dict(counts)}")
    assert len(ledger) == AUDIENCE and set(counts) <= {"accepted", "unknown"}, counts
    assert unknown == {sid for sid, worker in at_kill.items() if worker == main_runner}
    received = Counter(r for request in emulator.state.accepted for r in request.recipients)
    assert max(received.values()) == 1, "a reader got the issue twice"
    assert len(received) >= counts["accepted"]


def _in_flight_runners(services: Services, send_id: int) -> set[str]:
    with services.sessions() as session:
        return set(store.runners_in_flight(session, send_id))
