"""A real `newsletter serve` sends an A/B issue's sample at its date; people click B
through that server's /l/ links over HTTP; the serve is SIGKILLed during the wait; a new
serve, started in its place, decides B and sends the rest with B, everyone once."""

from __future__ import annotations

import os
import re
import signal

import httpx
import pytest
from sqlalchemy import func, select

from newsletter.abtest.models import AbTestRow
from newsletter.catalog import sync_issues
from newsletter.services import Services
from newsletter.tracking.models import Hit
from tests.abtest_support import BROWSER, SUBJECTS, ab_row, inbox, ledger, one_each
from tests.fixtures.delivery import add_audience
from tests.fixtures.issues import issue_text
from tests.scheduler_helpers import Serve, iso, soon, wait_for
from tests.tracking_support import BODY, Tracked, tracked_links

pytestmark = pytest.mark.db


def _port(serve: Serve) -> int:
    found = re.search(r"Uvicorn running on http://[^:]+:(\d+)", serve.log)
    assert found, serve.log
    return int(found[1])


def test_a_serve_killed_during_the_wait_is_replaced_and_the_rest_gets_the_winner(
    tracked: Tracked,
) -> None:
    services = tracked(tracking="per_reader")
    add_audience(services, 12, domain="gmail.com")
    folder = services.settings.path(services.settings.issues_dir)
    text = issue_text(
        body=BODY,
        date=iso(soon(2)),
        slug="hello",
        subjects=f'["{SUBJECTS[0]}", "{SUBJECTS[1]}"]',
        ab_test="{sample: 50%, wait: 12s}",
    )
    (folder / "2026-12-07-hello.md").write_text(text, encoding="utf-8")
    sync_issues(services)
    config = services.settings.base_dir / "config.yaml"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}

    first = Serve(config, env)
    try:
        first.wait_started()
        assert wait_for(lambda: len(inbox(services)) == 6, timeout=60), first.log
        send_id = max(ab_row_ids(services))
        rows = ledger(services, send_id)
        b = sorted(e for e, (v, s, _) in rows.items() if s and v == 1)
        messages = inbox(services)
        # People on B click through this server's own redirect, over HTTP.
        base = f"http://127.0.0.1:{_port(first)}"
        for email in b[:2]:
            link = tracked_links(messages[email][0])[0].replace(services.settings.site.url, base)
            assert httpx.get(link, headers=BROWSER).status_code == 302
        assert wait_for(lambda: hits(services) >= 2, timeout=10), first.log
    finally:
        first.process.send_signal(signal.SIGKILL)
        first.stop()
    assert ab_row(services, send_id).winner is None
    assert len(inbox(services)) == 6

    second = Serve(config, env)
    try:
        second.wait_started()
        assert wait_for(lambda: len(inbox(services)) == 12, timeout=60), second.log
    finally:
        second.stop()
    row = ab_row(services, send_id)
    assert (row.winner, row.reason) == (1, "clicks")
    assert row.decided_at is not None and row.decide_at is not None
    assert row.decided_at >= row.decide_at
    received = one_each(services, send_id)
    rest = [e for e, (_, s, _) in ledger(services, send_id).items() if not s]
    assert {received[e] for e in rest} == {SUBJECTS[1]}


def ab_row_ids(services: Services) -> list[int]:
    """The sends that have an A/B test."""
    with services.sessions() as session:
        return list(session.scalars(select(AbTestRow.send_id)))


def hits(services: Services) -> int:
    """Hits the redirect has written so far."""
    with services.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(Hit)) or 0)
