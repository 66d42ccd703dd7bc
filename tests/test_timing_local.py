"""`deliver: local`: one send, one ledger, one wave per reader timezone at its own instant.

Real issue files synced by the catalog, the real renderer, the real engine and scheduler,
the outbox backend; a settable clock stands in for the passing hours."""

from __future__ import annotations

import json
import mailbox
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr
from pathlib import Path

import pytest
from sqlalchemy import select, update

from newsletter import db
from newsletter.catalog import sync_issues
from newsletter.check import check_issue
from newsletter.delivery import engine
from newsletter.delivery.models import Delivery, Send
from newsletter.issues import find_issue
from newsletter.scheduler.runner import IssueScheduler
from newsletter.services import Services
from newsletter.timing import waves
from newsletter.timing.plan import first_possible
from subscribers.models import Subscriber
from tests.fixtures.delivery import add_audience
from tests.scheduler_helpers import status_of, wait_for
from tests.timing_support import Clock, hooks_cleared, patch_clock

ZONES = ("Asia/Seoul", "Europe/Berlin", "America/New_York")


@pytest.fixture(autouse=True)
def _clean_hooks() -> Iterator[None]:
    yield from hooks_cleared()


def _write(services: Services, slug: str, date: str, *, deliver: str = "local") -> None:
    folder = services.settings.path(services.settings.issues_dir)
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["---", f'title: "아침 소식 {slug} / Morning {slug}"', f"date: {date}"]
    if deliver:
        lines.append(f"deliver: {deliver}")
    (folder / f"{slug}.md").write_text(
        "\n".join([*lines, "---", "본문입니다. A short body.", ""]), encoding="utf-8"
    )


def _readers(services: Services, per_zone: int = 2) -> dict[str, list[str]]:
    """``per_zone`` readers in each of :data:`ZONES` and one with no zone (the site's)."""
    by_zone: dict[str, list[str]] = {}
    start = 1
    for zone in (*ZONES, ""):
        ids = add_audience(services, per_zone if zone else 1, start=start)
        with db.transaction(services.sessions) as session:
            session.execute(update(Subscriber).where(Subscriber.id.in_(ids)).values(timezone=zone))
        by_zone[zone] = [f"reader{n}@example.net" for n in range(start, start + len(ids))]
        start += len(ids)
    return by_zone


def _outbox(services: Services) -> list[str]:
    box = mailbox.Maildir(services.settings.path(services.settings.delivery.outbox_dir))
    return sorted(parseaddr(str(box[key]["To"]))[1] for key in box.iterkeys())


def _due_by_zone(services: Services, send_id: int) -> dict[str, datetime | None]:
    with services.sessions() as session:
        rows = session.execute(
            select(Subscriber.timezone, Delivery.due_at)
            .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
            .where(Delivery.send_id == send_id)
        ).all()
    found: dict[str, set[datetime | None]] = {}
    for zone, due in rows:
        found.setdefault(zone, set()).add(due)
    assert all(len(dues) == 1 for dues in found.values()), found
    return {zone: dues.pop() for zone, dues in found.items()}


def _utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def _start(services: Services, slug: str, clock: Clock) -> int:
    """Sync, move the clock to the send's start (UTC+14's wall time) and start it."""
    sync_issues(services)
    issue = find_issue(services.settings, slug)
    assert issue.local_wall is not None
    clock.set(first_possible(issue.local_wall))
    result = engine.start_send(services, slug)
    assert result.ran
    return result.send_id


@pytest.mark.parametrize(
    ("date", "expected"),
    [
        # An ordinary day: Seoul first, then Berlin (CET), then New York (EDT since Mar 8).
        (
            "2026-03-10 09:00",
            {
                "Asia/Seoul": _utc(2026, 3, 10, 0, 0),
                "Europe/Berlin": _utc(2026, 3, 10, 8, 0),
                "America/New_York": _utc(2026, 3, 10, 13, 0),
                "": _utc(2026, 3, 10, 0, 0),
            },
        ),
        # US spring forward: 02:30 does not exist in New York; 03:30 EDT (07:30 UTC).
        (
            "2026-03-08 02:30",
            {
                "Asia/Seoul": _utc(2026, 3, 7, 17, 30),
                "Europe/Berlin": _utc(2026, 3, 8, 1, 30),
                "America/New_York": _utc(2026, 3, 8, 7, 30),
                "": _utc(2026, 3, 7, 17, 30),
            },
        ),
        # US fall back: 01:30 happens twice in New York; the first, still EDT (05:30 UTC).
        (
            "2026-11-01 01:30",
            {
                "Asia/Seoul": _utc(2026, 10, 31, 16, 30),
                "Europe/Berlin": _utc(2026, 11, 1, 0, 30),
                "America/New_York": _utc(2026, 11, 1, 5, 30),
                "": _utc(2026, 10, 31, 16, 30),
            },
        ),
        # Europe's spring forward: 02:30 does not exist in Berlin; 03:30 CEST (01:30 UTC).
        (
            "2026-03-29 02:30",
            {
                "Asia/Seoul": _utc(2026, 3, 28, 17, 30),
                "Europe/Berlin": _utc(2026, 3, 29, 1, 30),
                "America/New_York": _utc(2026, 3, 29, 6, 30),
                "": _utc(2026, 3, 28, 17, 30),
            },
        ),
    ],
)
def test_each_zone_gets_its_wave_at_its_own_instant(
    services: Services,
    monkeypatch: pytest.MonkeyPatch,
    date: str,
    expected: dict[str, datetime],
) -> None:
    clock = patch_clock(monkeypatch, _utc(2026, 1, 1))
    _readers(services)
    _write(services, "morning", date)
    send_id = _start(services, "morning", clock)
    assert _due_by_zone(services, send_id) == expected
    with services.sessions() as session:
        send = session.get(Send, send_id)
        assert send is not None and send.status == "waiting"
        assert send.next_due_at == min(expected.values())  # the UTC+14 side first
    assert _outbox(services) == []


def test_three_waves_one_send_each_reader_once_across_a_restart(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Seoul, then Berlin, then New York; the process stops between Berlin and New York
    and a new one (new Services, new scheduler) sends New York once."""
    clock = patch_clock(monkeypatch, _utc(2026, 1, 1))
    readers = _readers(services)
    _write(services, "morning", "2026-03-10 09:00")
    sync_issues(services)
    issue = find_issue(services.settings, "morning")
    assert issue.local_wall is not None
    clock.set(first_possible(issue.local_wall))

    def scheduler_for(svc: Services) -> IssueScheduler:
        return IssueScheduler(
            svc,
            send=lambda s, slug: engine.start_send(s, slug),
            sync=None,
            clock=clock,
            poll_interval=timedelta(milliseconds=50),
            abandoned=engine.abandoned_sends,
            take_over=engine.take_over,
        )

    first = scheduler_for(services)
    first.start()
    try:
        assert wait_for(lambda: status_of(services, "morning") == "sending", 10)
        assert wait_for(lambda: _send_status(services) == "waiting", 10)
        assert _outbox(services) == []
        clock.set(_utc(2026, 3, 10, 0, 0))  # 09:00 in Seoul
        seoul = sorted(readers["Asia/Seoul"] + readers[""])
        assert wait_for(lambda: _outbox(services) == seoul, 10)
        assert wait_for(lambda: _send_status(services) == "waiting", 10)
        clock.set(_utc(2026, 3, 10, 8, 0))  # 09:00 in Berlin
        berlin = sorted(seoul + readers["Europe/Berlin"])
        assert wait_for(lambda: _outbox(services) == berlin, 10)
        assert wait_for(lambda: _send_status(services) == "waiting", 10)
    finally:
        first.shutdown()
    services.close()

    clock.set(_utc(2026, 3, 10, 13, 0, 30))  # New York's 09:00, 30 s late
    again = Services.open(services.settings)
    second = scheduler_for(again)
    second.start()
    try:
        assert wait_for(lambda: _send_status(again) == "sent", 10)
        assert wait_for(lambda: status_of(again, "morning") == "sent", 10)
    finally:
        second.shutdown()
    everyone = sorted(r for group in readers.values() for r in group)
    assert _outbox(again) == everyone  # each once
    with again.sessions() as session:
        send = session.scalars(select(Send)).one()
        progress = waves.progress(session, send.id)
    assert [(w.due_at, w.counts) for w in progress] == [
        (_utc(2026, 3, 10, 0, 0), {"accepted": 3}),
        (_utc(2026, 3, 10, 8, 0), {"accepted": 2}),
        (_utc(2026, 3, 10, 13, 0), {"accepted": 2}),
    ]
    again.close()


def _send_status(services: Services) -> str | None:
    with services.sessions() as session:
        return session.scalar(select(Send.status))


def test_a_late_start_skips_only_the_waves_beyond_max_lateness(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """serve was down until 7 h after Seoul's 09:00: Seoul's wave is missed (beyond the
    6 h max_lateness), Berlin's and New York's go out at their instants."""
    clock = patch_clock(monkeypatch, _utc(2026, 1, 1))
    readers = _readers(services)
    _write(services, "morning", "2026-03-10 09:00")
    sync_issues(services)
    clock.set(_utc(2026, 3, 10, 7, 0))
    result = engine.start_send(services, "morning")
    assert result.status == "waiting"
    assert result.counts["skipped"] == 3 and result.counts["accepted"] == 0
    clock.set(_utc(2026, 3, 10, 13, 0))
    for send_id in engine.abandoned_sends(services):
        engine.take_over(services, send_id)  # Berlin and New York (both due by now)
    final = engine.send_result(services, result.send_id)
    assert final.status == "sent" and final.counts["accepted"] == 4
    assert _outbox(services) == sorted(readers["Europe/Berlin"] + readers["America/New_York"])


def test_the_scheduler_misses_a_local_issue_only_when_its_last_wave_is_too_late(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    from newsletter.scheduler.plan import Action, decide
    from newsletter.scheduler.store import issue_by_slug

    _write(services, "morning", "2026-03-10 09:00")
    sync_issues(services)
    with services.sessions() as session:
        issue = issue_by_slug(session, "morning")
    assert issue is not None
    assert issue.instant == _utc(2026, 3, 9, 19, 0)  # 09:00 at UTC+14
    lateness = services.settings.scheduler.max_lateness
    lease = timedelta(minutes=2)
    # 12 h after the first wall time anywhere, far beyond 6 h: still sent (waves ahead).
    late = decide(issue, now=_utc(2026, 3, 10, 7, 0), max_lateness=lateness, lease=lease)
    assert late.action == Action.FIRE
    # 09:00 at UTC-12 is 21:00 UTC; beyond that plus max_lateness nobody can get it in time.
    gone = _utc(2026, 3, 10, 21, 0) + lateness + timedelta(seconds=1)
    assert decide(issue, now=gone, max_lateness=lateness, lease=lease).action == Action.MISS


def test_check_errors_on_deliver_local_with_an_offset(services: Services) -> None:
    _write(services, "offset", "2026-03-10 09:00 +09:00")
    issue = find_issue(services.settings, "offset")
    assert issue.local_wall is None and issue.local_with_offset
    report = check_issue(services.settings, issue)
    assert [finding.code for finding in report.errors] == ["deliver_local_offset"]
    _write(services, "plain", "2026-03-10 09:00")
    assert check_issue(services.settings, find_issue(services.settings, "plain")).ok


def test_an_unknown_deliver_value_is_refused_with_file_and_line(services: Services) -> None:
    from newsletter.errors import IssueError

    _write(services, "odd", "2026-03-10 09:00", deliver="locl")
    with pytest.raises(IssueError, match=r"odd\.md:4: deliver: 'locl' is not known"):
        find_issue(services.settings, "odd")


def test_an_unknown_stored_zone_reads_as_the_site_zone(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = patch_clock(monkeypatch, _utc(2026, 1, 1))
    ids = add_audience(services, 1)
    with db.transaction(services.sessions) as session:
        session.execute(
            update(Subscriber).where(Subscriber.id.in_(ids)).values(timezone="Mars/Olympus")
        )
    _write(services, "morning", "2026-03-10 09:00")
    send_id = _start(services, "morning", clock)
    assert _due_by_zone(services, send_id) == {"Mars/Olympus": _utc(2026, 3, 10, 0, 0)}


def test_sends_show_reports_progress_per_wave(
    services: Services, config_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from newsletter.cli import app

    clock = patch_clock(monkeypatch, _utc(2026, 1, 1))
    _readers(services)
    _write(services, "morning", "2026-03-10 09:00")
    send_id = _start(services, "morning", clock)
    clock.set(_utc(2026, 3, 10, 0, 0))
    for found in engine.abandoned_sends(services):
        engine.take_over(services, found)
    runner = CliRunner()
    result = runner.invoke(
        app, ["--config", str(config_path), "sends", "show", str(send_id), "--json"]
    )
    assert result.exit_code == 0, result.stdout
    shown = json.loads(result.stdout)
    assert shown["status"] == "waiting"
    assert shown["next_due_at"] == "2026-03-10T08:00:00+00:00"
    assert shown["waves"] == [
        {
            "due_at": "2026-03-10T00:00:00+00:00",
            "total": 3,
            "counts": {"accepted": 3},
            "state": "done",
        },
        {
            "due_at": "2026-03-10T08:00:00+00:00",
            "total": 2,
            "counts": {"pending": 2},
            "state": "waiting",
        },
        {
            "due_at": "2026-03-10T13:00:00+00:00",
            "total": 2,
            "counts": {"pending": 2},
            "state": "waiting",
        },
    ]
    text = runner.invoke(app, ["--config", str(config_path), "sends", "show", str(send_id)])
    assert "waves: 3; next at 2026-03-10T08:00:00+00:00" in text.stdout
    assert "2026-03-10T00:00:00+00:00: done, 3 (accepted 3)" in text.stdout
