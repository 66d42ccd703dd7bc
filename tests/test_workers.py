"""Several ``newsletter worker`` processes on PostgreSQL share one send; one is SIGKILLed.

Real processes, a real PostgreSQL database, the real ``sendgrid`` client against the local
emulator. What must hold whatever instant the kill lands: the two live workers prove the
dead one gone (its session's advisory lock is free), settle its rows in flight ``unknown``
and finish the send without waiting for the stale interval; nobody receives the issue
twice, every reader is either accepted or reported ``unknown``, and the work was shared.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import distinct, func, select

from newsletter.delivery import create_send
from newsletter.delivery.emulator import Emulator, Fault
from newsletter.delivery.models import Delivery, Send
from newsletter.services import Services
from newsletter.settings import load_settings
from subscribers.models import Subscriber
from tests.conftest import REPO, base_config, write_config
from tests.fixtures.delivery import add_audience

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

AUDIENCE = 1500
BATCH = 10
ISSUE = """---
title: "일꾼 셋: three workers"
date: 2025-01-06 08:00:00 +0900
---
안녕하세요 — one issue, three workers, one of them killed.
"""


@pytest.fixture
def project(
    tmp_path: Path, postgres_url: str, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Services]:
    """A PostgreSQL project sending through SendGrid (the emulator), with an issue file."""
    config = base_config(tmp_path)
    config["database"] = {"url": postgres_url}
    config["delivery"] = {
        "backend": "sendgrid",
        "batch_size": BATCH,
        "sendgrid": {"host": emulator.url, "timeout": "10s"},
    }
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", "test-secret-key-0123456789abcdef")
    monkeypatch.setenv("SENDGRID_API_KEY", "test-key")
    path = write_config(tmp_path, config)
    (tmp_path / "issues" / "2025-01-06-three-workers.md").write_text(ISSUE, encoding="utf-8")
    services = Services.open(load_settings(path))
    yield services
    services.close()


def _start_worker(config: Path, log: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "newsletter", "--config", str(config), "worker"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with log.open("wb") as out:
        return subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)


def _wait_for(what: str, condition: Callable[[], bool], *, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.05)


def _runners(services: Services, send_id: int) -> int:
    """How many distinct runners have claimed rows of the send so far."""
    with services.sessions() as session:
        query = select(func.count(distinct(Delivery.worker))).where(Delivery.send_id == send_id)
        return int(session.scalar(query) or 0)


def _ledger(services: Services, send_id: int) -> dict[str, int]:
    with services.sessions() as session:
        rows = session.execute(
            select(Delivery.status, func.count())
            .where(Delivery.send_id == send_id)
            .group_by(Delivery.status)
        ).all()
    return {status: int(n) for status, n in rows}


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            # SIGTERM: a process started in the background inherits SIGINT ignored.
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _in_flight(services: Services, send_id: int) -> dict[int, str]:
    """Rows in flight: delivery id → the runner that claimed it."""
    with services.sessions() as session:
        rows = session.execute(
            select(Delivery.id, Delivery.worker).where(
                Delivery.send_id == send_id, Delivery.status == "sending"
            )
        ).all()
    return {int(delivery_id): str(worker) for delivery_id, worker in rows}


def _status(services: Services, send_id: int) -> str | None:
    with services.sessions() as session:
        return session.scalar(select(Send.status).where(Send.id == send_id))


def test_three_workers_one_killed_mid_send_the_others_settle_it_and_finish(
    project: Services, emulator: Emulator, tmp_path: Path
) -> None:
    add_audience(project, AUDIENCE)
    # Every request takes a while, so each worker spends its time mid-request.
    emulator.queue(*[Fault("slow", delay=0.2) for _ in range(2 * AUDIENCE // BATCH)])
    config = tmp_path / "config.yaml"
    logs = [tmp_path / f"worker{n}.log" for n in range(3)]
    workers = [_start_worker(config, log) for log in logs]
    victim = workers[0]
    try:
        _wait_for("every worker is up", lambda: all("waiting" in p.read_text() for p in logs))
        send_id = create_send(project, "three-workers")
        _wait_for("all three workers send", lambda: _runners(project, send_id) >= 3)
        assert all(w.poll() is None for w in workers), "a worker exited early"
        time.sleep(random.uniform(0.0, 0.3))
        before = _in_flight(project, send_id)
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        killed_at = time.monotonic()
        at_kill = _in_flight(project, send_id)
        # The two live workers prove the dead one gone (its advisory lock is free) and
        # settle its rows themselves: no takeover, no 10-minute stale interval.
        _wait_for("the live workers finish the send", lambda: _status(project, send_id) == "sent")
        took = time.monotonic() - killed_at
        assert all(w.poll() is None for w in workers[1:]), "a live worker exited"
    finally:
        _stop(workers)
    output = "\n".join(log.read_text() for log in logs)

    with project.sessions() as session:
        sharing = session.scalar(
            select(func.count(distinct(Delivery.worker))).where(
                Delivery.send_id == send_id, Delivery.status == "accepted"
            )
        )
        unknown_rows = dict(
            session.execute(
                select(Delivery.id, Delivery.worker).where(
                    Delivery.send_id == send_id, Delivery.status == "unknown"
                )
            ).all()
        )
    ledger = _ledger(project, send_id)
    print(f"\nledger {took:.1f} s after the kill: {ledger}")  # -s: where the kill landed
    assert sum(ledger.values()) == AUDIENCE, ledger
    assert set(ledger) <= {"accepted", "unknown"}, ledger  # nothing pending, failed or lost
    assert (sharing or 0) >= 2, f"one worker did all the sending\n{output}"
    # Only the killed worker's rows are unknown, and all it had in flight at the kill.
    dead = set(unknown_rows.values())
    assert len(dead) <= 1, unknown_rows
    assert set(unknown_rows) == {d for d, w in at_kill.items() if w in dead}
    assert set(unknown_rows) <= set(before) | set(at_kill)

    received = Counter(r for request in emulator.state.accepted for r in request.recipients)
    assert max(received.values()) == 1, "a reader got the issue twice"
    with project.sessions() as session:
        by_status = dict(
            session.execute(
                select(Subscriber.email, Delivery.status)
                .join(Delivery, Delivery.subscriber_id == Subscriber.id)
                .where(Delivery.send_id == send_id)
            ).all()
        )
    accepted = {email for email, s in by_status.items() if s == "accepted"}
    unknown = {email for email, s in by_status.items() if s == "unknown"}
    assert accepted <= set(received), "a row settled accepted that SendGrid never got"
    assert set(received) <= accepted | unknown
    assert len(unknown) <= 4 * BATCH  # at most the killed worker's batches in flight
