"""A real ``newsletter serve`` walks a sequence, is SIGKILLed mid-walk and restarted (issue 19).

Three steps a few seconds apart (``after: 0``, ``3s``, ``10s``), readers confirmed at
different instants, every request to the SendGrid emulator slowed so the kill lands with
batches in flight, one reader unsubscribing after the welcome. The restarted serve finishes
the walk: every reader has every step once, in order, in the ledger; the emulator (which
records each personalization's send id) got no step twice for anyone; a step in flight at
the kill is ``unknown``, never resent, and the reader's next steps still come.
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from newsletter.automations.sequences.models import SequenceStep
from newsletter.db import transaction
from newsletter.delivery.emulator import Emulator, Fault
from newsletter.delivery.models import Delivery
from newsletter.services import Services
from subscribers import service as subscriber_service
from subscribers.db import utcnow
from tests.scheduler_helpers import Serve, wait_for
from tests.sequence_support import confirmed_reader, step_ledger, write_step

STEPS = ("01-welcome", "02-tips", "03-more")


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
        "NEWSLETTER_DELIVERY__BATCH_SIZE": "2",
        "NEWSLETTER_DELIVERY__SENDGRID__HOST": emulator.url,
        "SENDGRID_API_KEY": "test-key",
        "NEWSLETTER_SEQUENCES__INTERVAL": "1s",
        "PYTHONUNBUFFERED": "1",
    }


def _received(emulator: Emulator) -> Counter[tuple[str, int]]:
    """(address, send id) → how many times the emulator accepted it."""
    got: Counter[tuple[str, int]] = Counter()
    for request in list(emulator.state.accepted):
        assert request.body is not None
        for personalization in request.body["personalizations"]:
            send_id = int(personalization["custom_args"]["send_id"])
            for to in personalization["to"]:
                got[(to["email"], send_id)] += 1
    return got


def _walked(services: Services, readers: list[int]) -> bool:
    ledger = step_ledger(services)
    return all(
        set(ledger.get(step, {})) >= set(readers)
        and not {"pending", "sending"} & set(ledger.get(step, {}).values())
        for step in STEPS
    )


@pytest.mark.slow
def test_serve_killed_mid_walk_restarts_and_every_reader_gets_each_step_once_in_order(
    services: Services, emulator: Emulator, config_path: Path, serves: list[Serve]
) -> None:
    settings = services.settings
    write_step(settings, "01-welcome", after="0", title="환영")
    write_step(settings, "02-tips", after="3s", title="팁")
    write_step(settings, "03-more", after="10s", title="더")
    emulator.queue(*[Fault("slow", delay=0.3) for _ in range(200)])
    first = Serve(config_path, _env(emulator))
    serves.append(first)
    assert wait_for(lambda: len(step_ledger(services)) == 0 and _steps(services) == 3, 60), (
        first.log
    )

    # The leaver first: welcomed, then gone before the second step falls due.
    leaver = confirmed_reader(services, "leaver@example.net", utcnow())
    assert wait_for(lambda: _status(services, "01-welcome", leaver) == "accepted", 30), first.log
    with transaction(services.sessions) as session:
        subscriber_service.unsubscribe(session, subscriber_id=leaver, newsletter_id="weekly")
    readers: list[int] = []
    for wave in range(3):  # confirmed at three instants, a second apart
        readers += [
            confirmed_reader(services, f"w{wave}r{n}@example.net", utcnow()) for n in range(4)
        ]
        time.sleep(1.0)

    # Kill it mid-walk: after some second steps went out, before the third step is done.
    assert wait_for(lambda: bool(step_ledger(services).get("02-tips")), 30), first.log
    time.sleep(random.uniform(0.0, 0.6))
    first.process.send_signal(signal.SIGKILL)
    first.process.wait()
    at_kill = step_ledger(services)
    assert not all(set(at_kill.get(step, {})) >= set(readers) for step in STEPS), "walk done"
    in_flight = {
        (step, sid) for step, rows in at_kill.items() for sid, s in rows.items() if s == "sending"
    }

    second = Serve(config_path, _env(emulator))
    serves.append(second)
    assert wait_for(lambda: _walked(services, readers), 60), second.log

    ledger = step_ledger(services)
    left = {step: rows.pop(leaver) for step, rows in ledger.items() if leaver in rows}
    statuses = Counter(status for rows in ledger.values() for status in rows.values())
    print(f"\nkilled with {len(in_flight)} row(s) in flight; ledger after: {dict(statuses)}")
    assert set(statuses) <= {"accepted", "unknown"}, statuses
    unknown = {
        (step, sid) for step, rows in ledger.items() for sid, s in rows.items() if s == "unknown"
    }
    assert unknown <= in_flight  # only what was in flight at the kill is in doubt
    _assert_each_step_once(services, emulator, readers, unknown)
    _assert_in_order(services, [*readers, leaver])
    # The leaver got the welcome and nothing after it (a row added just before the
    # unsubscribe is skipped when its batch is claimed).
    assert left["01-welcome"] == "accepted"
    assert left.get("02-tips", "skipped") == "skipped" and left.get("03-more") is None
    assert not [key for key in _received(emulator) if key[0] == "leaver@example.net"][1:]


def _status(services: Services, step: str, subscriber_id: int) -> str | None:
    return step_ledger(services).get(step, {}).get(subscriber_id)


def _steps(services: Services) -> int:
    with services.sessions() as session:
        return len(list(session.scalars(select(SequenceStep.id))))


def _assert_each_step_once(
    services: Services, emulator: Emulator, readers: list[int], unknown: set[tuple[str, int]]
) -> None:
    from subscribers.models import Subscriber

    with services.sessions() as session:
        emails = dict(session.execute(select(Subscriber.id, Subscriber.email)).all())
        sends = dict(session.execute(select(SequenceStep.name, SequenceStep.send_id)).all())
    got = _received(emulator)
    assert max(got.values()) == 1, "a reader got a step twice"
    for sid in readers:
        for step in STEPS:
            times = got[(emails[sid], sends[step])]
            # Received exactly once, or reported unknown (a batch in flight at the kill that
            # SendGrid may or may not have taken: never resent by itself).
            assert times == 1 or (step, sid) in unknown, (emails[sid], step)


def _assert_in_order(services: Services, readers: list[int]) -> None:
    with services.sessions() as session:
        rows = session.execute(
            select(Delivery.subscriber_id, SequenceStep.position, Delivery.id).join(
                SequenceStep, SequenceStep.send_id == Delivery.send_id
            )
        ).all()
    for sid in readers:
        walked = sorted((position, delivery_id) for s, position, delivery_id in rows if s == sid)
        assert [p for p, _d in walked] == list(range(1, len(walked) + 1)), "a step skipped"
        ids = [d for _p, d in walked]
        assert ids == sorted(ids), "a step before the one it follows"
