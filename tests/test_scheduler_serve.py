"""End to end: real ``newsletter serve`` processes on ephemeral ports, a real SQLite file, the
outbox backend and confirmed subscribers. The slow tests of the scheduler: kept to three.

Lateness (send start minus the issue's instant) is printed, not asserted: timing belongs to
``benchmarks/scheduler.py``. What is asserted: each subscriber gets the issue exactly once.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from newsletter.db import transaction
from newsletter.models import IssueStatus
from newsletter.services import Services
from newsletter.settings import Settings
from subscribers.db import utcnow
from subscribers.service import Source, subscribe
from tests.scheduler_helpers import Serve as ServeProcess
from tests.scheduler_helpers import iso, status_of, wait_for, write_issue

pytestmark = pytest.mark.slow

READERS = ["reader1@example.org", "독자2@example.org"]
LATE = re.compile(r"starting send of (\S+) due \S+ \(late by ([0-9.]+) s\)")


class Serve(ServeProcess):
    """``newsletter serve``, with when each send started against its instant."""

    def lateness(self) -> dict[str, float]:
        return {m[1]: float(m[2]) for m in LATE.finditer(self.log)}


@pytest.fixture
def project(settings: Settings, tmp_path: Path) -> Iterator[Services]:
    """The test project with two confirmed subscribers of ``weekly``."""
    services = Services.open(settings)
    with transaction(services.sessions) as session:
        for email in READERS:
            subscribe(
                session, email=email, newsletters=["weekly"], source=Source.IMPORT, confirmed=True
            )
    yield services
    services.close()


@pytest.fixture
def serves(tmp_path: Path) -> Iterator[list[Serve]]:
    started: list[Serve] = []
    yield started
    for serve in started:
        serve.stop()


def start_serve(
    tmp_path: Path, serves: list[Serve], *, max_lateness: str = "6h", wait: bool = True
) -> Serve:
    env = dict(os.environ)
    env.update(
        NEWSLETTER_SECRET_KEY="test-secret-key-0123456789abcdef",
        NEWSLETTER_SCHEDULER__MAX_LATENESS=max_lateness,
        NEWSLETTER_SCHEDULER__SYNC_INTERVAL="1s",
        PYTHONUNBUFFERED="1",
    )
    serve = Serve(tmp_path / "config.yaml", env)
    serves.append(serve)
    if wait:
        serve.wait_started()
    return serve


def outbox_files(settings: Settings) -> list[Path]:
    folder = settings.path(settings.delivery.outbox_dir)
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def seconds_until(instant: datetime) -> float:
    return (instant - utcnow()).total_seconds()


def test_issue_due_ahead_is_sent_by_serve_at_its_instant_once(
    project: Services, tmp_path: Path, serves: list[Serve]
) -> None:
    serve = start_serve(tmp_path, serves)
    instant = utcnow() + timedelta(seconds=3)
    write_issue(project, "due-soon", iso(instant))  # dropped in while serve runs
    assert wait_for(lambda: len(outbox_files(project.settings)) >= len(READERS), timeout=20), (
        serve.log
    )
    time.sleep(1.5)  # would a second send show up?
    files = outbox_files(project.settings)
    assert len(files) == len(READERS)
    first_written = min(f.stat().st_mtime for f in files)
    assert first_written >= instant.timestamp()
    late = serve.lateness()
    assert set(late) == {"due-soon"}
    print(
        f"\nscheduler lateness: send started {late['due-soon'] * 1000:.1f} ms after the instant; "
        f"first outbox file {(first_written - instant.timestamp()) * 1000:.1f} ms after"
    )
    assert wait_for(lambda: status_of(project, "due-soon") == IssueStatus.SENT)


def test_two_serve_processes_on_one_database_send_once(
    project: Services, tmp_path: Path, serves: list[Serve]
) -> None:
    first = start_serve(tmp_path, serves, wait=False)
    second = start_serve(tmp_path, serves, wait=False)
    first.wait_started()
    second.wait_started()
    write_issue(project, "shared", iso(utcnow() + timedelta(seconds=2.5)))
    assert wait_for(lambda: len(outbox_files(project.settings)) >= len(READERS), timeout=20)
    time.sleep(2)
    assert len(outbox_files(project.settings)) == len(READERS), first.log + second.log
    started = [*first.lateness(), *second.lateness()]
    assert started == ["shared"]  # one scheduler started it; the other lost the claim


def test_restart_across_the_instant_within_and_beyond_max_lateness(
    project: Services, tmp_path: Path, serves: list[Serve]
) -> None:
    # Wide margins: a loaded machine may take seconds to start a serve; the rule is what counts.
    serve = start_serve(tmp_path, serves, max_lateness="20s")
    now = utcnow()
    beyond, within = now + timedelta(seconds=6), now + timedelta(seconds=24)
    write_issue(project, "beyond", iso(beyond))
    write_issue(project, "within", iso(within))
    assert wait_for(lambda: "within planned" in serve.log and "beyond planned" in serve.log)
    serve.stop()  # down before either instant
    assert seconds_until(beyond) > 0, "serve took too long to plan and stop"
    time.sleep(max(0.0, seconds_until(beyond)) + 21.5)
    # On restart "within" is 3.5 s late plus start-up (< 20 s); "beyond" 21.5 s plus start-up.
    restarted = start_serve(tmp_path, serves, max_lateness="20s")
    assert wait_for(lambda: len(outbox_files(project.settings)) >= len(READERS), timeout=40)
    assert wait_for(lambda: status_of(project, "beyond") == IssueStatus.MISSED), restarted.log
    time.sleep(1)
    assert len(outbox_files(project.settings)) == len(READERS)
    assert wait_for(lambda: status_of(project, "within") == IssueStatus.SENT)
    assert "beyond missed" in restarted.log
    print(f"\nrestart: 'within' started {restarted.lateness()['within']:.2f} s after its instant")
