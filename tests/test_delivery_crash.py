from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from newsletter.delivery import RunOptions, resume_send, start_send
from newsletter.delivery.backends.sendgrid import SendgridBackend
from newsletter.delivery.emulator import Emulator, Fault
from newsletter.delivery.models import Delivery
from newsletter.services import Services
from tests.fixtures.delivery import add_audience, sendgrid_backend, stand_in_renderer, with_delivery

REPO = Path(__file__).resolve().parents[1]


class SimulatedCrash(BaseException):
    """The process dying: nothing in the engine may catch it."""


class CrashAfterPost(SendgridBackend):
    """Posts for real, then dies on the ``crash_on``-th request (after SendGrid took it)."""

    def __init__(self, base: SendgridBackend, crash_on: int) -> None:
        self.__dict__.update(base.__dict__)
        self.calls = 0
        self.crash_on = crash_on

    def post(self, payload: dict[str, Any]) -> str:
        self.calls += 1
        message_id = super().post(payload)
        if self.calls == self.crash_on:
            raise SimulatedCrash
        return message_id


def _recipients(emulator: Emulator) -> Counter[str]:
    return Counter(r for request in emulator.state.accepted for r in request.recipients)


def test_a_crash_mid_request_leaves_unknown_and_resume_does_not_resend(
    services: Services, emulator: Emulator
) -> None:
    add_audience(services, 50)
    small = with_delivery(services, batch_size=10, backend="sendgrid")
    crashing = CrashAfterPost(sendgrid_backend(emulator), crash_on=3)
    options = RunOptions(renderer=stand_in_renderer, backend=crashing, concurrency=1)
    try:
        start_send(small, "hello", options=options)
    except SimulatedCrash:
        pass
    else:
        raise AssertionError("the simulated crash must escape the engine")
    with services.sessions() as session:
        send_id = session.scalar(select(func.max(Delivery.send_id)))
    assert send_id is not None
    resumed = resume_send(
        small,
        send_id,
        force=True,
        options=RunOptions(renderer=stand_in_renderer, backend=sendgrid_backend(emulator)),
    )
    assert resumed.status == "sent"
    assert resumed.unknown == 10 and resumed.counts["accepted"] == 40
    seen = _recipients(emulator)
    assert len(seen) == 50 and max(seen.values()) == 1  # nobody twice, nobody skipped

    again = resume_send(
        small,
        send_id,
        retry_unknown=True,
        options=RunOptions(renderer=stand_in_renderer, backend=sendgrid_backend(emulator)),
    )
    assert again.unknown == 0 and again.counts["accepted"] == 50
    assert sum(_recipients(emulator).values()) == 60  # the operator chose to resend 10


CHILD = """
import sys
from newsletter.delivery import RunOptions, start_send
from newsletter.services import Services
from newsletter.settings import load_settings
from tests.fixtures.delivery import stand_in_renderer
services = Services.open(load_settings(sys.argv[1]))
start_send(services, "hello", options=RunOptions(renderer=stand_in_renderer, concurrency=2))
"""


def test_sigkill_at_a_random_point_then_resume_sends_everyone_at_most_once(
    services: Services, emulator: Emulator, config_path: Path
) -> None:
    ids = add_audience(services, 3000)
    emulator.queue(*[Fault("slow", delay=0.03) for _ in range(40)])
    env = {
        **os.environ,
        "NEWSLETTER_DELIVERY__BACKEND": "sendgrid",
        "NEWSLETTER_DELIVERY__BATCH_SIZE": "100",
        "NEWSLETTER_DELIVERY__SENDGRID__HOST": emulator.url,
        "SENDGRID_API_KEY": "test-key",
    }
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(config_path)], cwd=REPO, env=env)
    deadline = time.monotonic() + 60
    while emulator.state.stats()["accepted_requests"] < 2 and time.monotonic() < deadline:
        assert child.poll() is None, "the child finished before it could be killed"
        time.sleep(0.01)
    time.sleep(random.uniform(0.0, 0.2))
    child.send_signal(signal.SIGKILL)
    child.wait()

    with services.sessions() as session:
        send_id = session.scalar(select(func.max(Delivery.send_id)))
    assert send_id is not None
    sending = with_delivery(services, backend="sendgrid", batch_size=100)
    result = resume_send(
        sending,
        send_id,
        force=True,
        options=RunOptions(renderer=stand_in_renderer, backend=sendgrid_backend(emulator)),
    )
    assert result.status == "sent"
    assert result.total == len(ids)
    print(f"killed with {result.unknown} unknown")  # seen with -s: where the kill landed
    assert result.counts["accepted"] + result.unknown == len(ids)
    seen = _recipients(emulator)
    assert max(seen.values()) == 1  # never twice
    # Every confirmed reader is either delivered or reported unknown, never silently lost.
    assert len(seen) >= result.counts["accepted"]
    assert len(seen) <= len(ids)
