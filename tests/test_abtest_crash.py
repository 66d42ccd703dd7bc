"""Nobody gets two subjects, whatever crashes: a runner SIGKILLed while it decides the winner
(the decision was written but not committed) and another SIGKILLed in the middle of the
rest (a batch handed to the backend, not settled) leave every reader with exactly one
email, of the one subject their ledger row records, and the send with one winner."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from newsletter.delivery import engine, start_send
from newsletter.services import Services
from tests.abtest_support import (
    BROWSER,
    SUBJECTS,
    ab_row,
    click,
    inbox,
    ledger,
    one_each,
    wait_until_due,
    write_ab_issue,
)
from tests.fixtures.delivery import add_audience
from tests.tracking_support import Tracked, app_client, flush

pytestmark = pytest.mark.db
REPO = Path(__file__).resolve().parents[1]

#: A runner taking the waiting send over that dies (SIGKILL) right after the A/B due hook
#: wrote the winner, before its transaction commits.
DIES_WHILE_DECIDING = """
import os, signal, sys
from newsletter.delivery import engine
from newsletter.services import Services
from newsletter.settings import load_settings
from newsletter.timing import waves

def die(session, send_id, wave, now):
    os.kill(os.getpid(), signal.SIGKILL)

waves.add_due_hook(die)  # runs after newsletter.abtest.service:on_wave
services = Services.open(load_settings(sys.argv[1]))
engine.take_over(services, int(sys.argv[2]))
"""

#: A runner taking the send over that dies (SIGKILL) after its second batch of the rest
#: reached the outbox, before the batch is settled in the ledger.
DIES_IN_THE_REST = """
import os, signal, sys
from newsletter.delivery import RunOptions, engine
from newsletter.delivery.backends.outbox import OutboxBackend
from newsletter.services import Services
from newsletter.settings import load_settings

class DiesAfterTwoBatches(OutboxBackend):
    calls = 0
    def post(self, payload):
        keys = super().post(payload)
        DiesAfterTwoBatches.calls += 1
        if DiesAfterTwoBatches.calls == 2:
            os.kill(os.getpid(), signal.SIGKILL)
        return keys

services = Services.open(load_settings(sys.argv[1]))
backend = DiesAfterTwoBatches(services.settings.path(services.settings.delivery.outbox_dir))
engine.take_over(services, int(sys.argv[2]), options=RunOptions(backend=backend))
"""


def _run_child(script: str, services: Services, send_id: int, **env: str) -> int:
    config = services.settings.base_dir / "config.yaml"
    child = subprocess.run(
        [sys.executable, "-c", script, str(config), str(send_id)],
        cwd=REPO,
        env={**os.environ, **env},
        timeout=120,
        check=False,
    )
    return child.returncode


def test_kills_while_deciding_and_during_the_rest_leave_one_email_of_one_subject_each(
    tracked: Tracked,
) -> None:
    services = tracked(tracking="per_reader")
    add_audience(services, 30, domain="gmail.com")
    write_ab_issue(services, sample="10", wait="5s")
    first = start_send(services, "hello")
    assert first.status == "waiting" and first.counts["accepted"] == 10
    sample = inbox(services)
    rows = ledger(services, first.send_id)
    a = [e for e, (v, s, _) in rows.items() if s and v == 0]
    b = [e for e, (v, s, _) in rows.items() if s and v == 1]
    with app_client(services) as client:
        click(client, sample[b[0]][0], headers=BROWSER)  # B leads when the first runner decides
        flush(client)
    wait_until_due(services, first.send_id)

    assert _run_child(DIES_WHILE_DECIDING, services, first.send_id) == -9
    # The killed runner's decision never committed: no winner, no variant on the rest,
    # nothing of the rest sent.
    assert ab_row(services, first.send_id).winner is None
    rows = ledger(services, first.send_id)
    assert all(v is None for v, s, _ in rows.values() if not s)
    assert len(inbox(services)) == 10

    # Meanwhile two people click on A: whoever decides next sees A ahead.
    with app_client(services) as client:
        click(client, sample[a[0]][0], headers=BROWSER)
        click(client, sample[a[1]][0], headers=BROWSER)
        flush(client)

    batches = {"NEWSLETTER_DELIVERY__BATCH_SIZE": "4"}
    assert _run_child(DIES_IN_THE_REST, services, first.send_id, **batches) == -9
    row = ab_row(services, first.send_id)
    assert (row.winner, row.reason) == (0, "clicks")  # decided once, by the second runner
    assert 10 < len(inbox(services)) < 30

    # This process takes the send over at once (the runner's lock proves it dead): the
    # batch it had in flight is `unknown`, never resent; the rest goes out with A.
    assert first.send_id in engine.abandoned_sends(services)
    done = engine.take_over(services, first.send_id)
    assert done is not None and done.status == "sent", done
    assert done.unknown == 4 and done.counts["accepted"] == 26
    received = one_each(services, first.send_id)
    assert len(received) == 30
    rest = [e for e, (_, s, _) in ledger(services, first.send_id).items() if not s]
    assert {received[e] for e in rest} == {SUBJECTS[0]}
    assert ab_row(services, first.send_id).decided_at == row.decided_at
