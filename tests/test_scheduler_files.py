"""The scheduler over real issue files: it syncs ``issues/`` and follows each edit."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from newsletter.catalog import sync_issues
from newsletter.models import IssueStatus
from newsletter.scheduler import IssueScheduler, build_scheduler
from newsletter.services import Services
from newsletter.settings import Settings
from subscribers.db import utcnow
from tests.scheduler_helpers import (
    RecordingSend,
    iso,
    soon,
    status_of,
    wait_for,
    with_scheduler_settings,
    write_issue,
)

FAST = timedelta(milliseconds=100)


@pytest.fixture
def fast(services: Services) -> Services:
    """The project with ``issues/`` synced every 200 ms."""
    return with_scheduler_settings(services, sync_interval=timedelta(milliseconds=200))


@pytest.fixture
def running(fast: Services) -> Iterator[tuple[IssueScheduler, RecordingSend]]:
    """A started scheduler over ``fast`` with the real catalog sync and a recording send."""
    send = RecordingSend()
    scheduler = build_scheduler(fast, send=send, sync=sync_issues, poll_interval=FAST)
    scheduler.start()
    yield scheduler, send
    scheduler.shutdown()


def test_a_file_dropped_into_issues_is_sent_at_its_date(
    fast: Services, running: tuple[IssueScheduler, RecordingSend]
) -> None:
    scheduler, send = running
    instant = soon(1.0)
    write_issue(fast, "dropped", iso(instant))
    assert wait_for(lambda: send.slugs() == ["dropped"])
    assert scheduler.firings[0].instant == instant


def test_editing_the_date_reschedules(
    fast: Services, running: tuple[IssueScheduler, RecordingSend]
) -> None:
    scheduler, send = running
    write_issue(fast, "moving", iso(soon(3600)))
    assert wait_for(lambda: "moving" in scheduler.planned())
    sooner = soon(0.8)
    write_issue(fast, "moving", iso(sooner))
    assert wait_for(lambda: send.slugs() == ["moving"])
    assert scheduler.firings[0].instant == sooner


def test_draft_or_deleting_the_file_cancels(
    fast: Services, running: tuple[IssueScheduler, RecordingSend]
) -> None:
    scheduler, send = running
    instant = soon(3.0)
    when = iso(instant)
    write_issue(fast, "drafted", when)
    deleted = write_issue(fast, "deleted", when)
    assert wait_for(lambda: set(scheduler.planned()) == {"drafted", "deleted"})
    write_issue(fast, "drafted", when, draft=True)
    deleted.unlink()
    assert wait_for(lambda: scheduler.planned() == {})
    wait_for(lambda: False, timeout=(instant - utcnow()).total_seconds() + 0.5)
    assert send.calls == []
    assert status_of(fast, "drafted") == IssueStatus.DRAFT
    assert status_of(fast, "deleted") == IssueStatus.CANCELLED


def test_editing_a_sent_issue_never_sends_it_again_and_is_reported(
    fast: Services, running: tuple[IssueScheduler, RecordingSend], caplog: pytest.LogCaptureFixture
) -> None:
    scheduler, send = running
    write_issue(fast, "once", iso(soon(0.5)))
    assert wait_for(lambda: send.slugs() == ["once"])
    write_issue(fast, "once", iso(soon(0.5)), body="고친 본문. Edited after sending.")
    assert wait_for(lambda: "once" in scheduler.last_sync_report.changed_after_send)
    wait_for(lambda: False, timeout=1.0)
    assert send.slugs() == ["once"]
    assert "once changed after it was sent" in caplog.text


@pytest.mark.parametrize(
    ("zone", "wall", "expected"),
    [
        # Spring gap: 02:30 does not exist in Berlin that night; it moves forward to 03:30 CEST.
        ("Europe/Berlin", "2099-03-29 02:30", datetime(2099, 3, 29, 1, 30, tzinfo=UTC)),
        # Autumn overlap: 02:30 happens twice; the first (CEST) is taken.
        ("Europe/Berlin", "2099-10-25 02:30", datetime(2099, 10, 25, 0, 30, tzinfo=UTC)),
        ("Asia/Seoul", "2099-03-29 02:30", datetime(2099, 3, 28, 17, 30, tzinfo=UTC)),
        ("Asia/Seoul", "2099-10-25 02:30", datetime(2099, 10, 24, 17, 30, tzinfo=UTC)),
    ],
)
def test_file_dates_without_offset_follow_the_site_timezone_across_dst(
    settings: Settings, zone: str, wall: str, expected: datetime
) -> None:
    site = settings.site.model_copy(update={"timezone": zone})
    local = Services.open(settings.model_copy(update={"site": site}))
    try:
        write_issue(local, "dst", wall)
        sync_issues(local)
        scheduler = build_scheduler(local, send=RecordingSend(), sync=sync_issues)
        scheduler.reconcile()
        assert scheduler.planned() == {"dst": expected}
        assert expected.astimezone(ZoneInfo(zone)).strftime("%H:%M") in {"02:30", "03:30"}
    finally:
        local.close()


def test_a_missed_issue_sent_by_hand_reads_sent(fast: Services) -> None:
    from newsletter.delivery.engine import start_send

    write_issue(fast, "by-hand", "2001-01-01 09:00")
    sync_issues(fast)
    scheduler = build_scheduler(fast, send=RecordingSend(), sync=sync_issues)
    scheduler.reconcile()
    assert status_of(fast, "by-hand") == IssueStatus.MISSED
    result = start_send(fast, "by-hand")  # what `newsletter send by-hand --now` does
    assert result.status == "sent"
    scheduler.reconcile()
    assert status_of(fast, "by-hand") == IssueStatus.SENT
    assert scheduler.planned() == {}


def test_the_web_app_runs_the_scheduler_in_its_lifespan_only_when_asked(
    services: Services,
) -> None:
    from fastapi.testclient import TestClient

    from newsletter.web import create_app

    write_issue(services, "web", iso(soon(3600)))
    with TestClient(create_app(services, scheduler=True)) as client:
        scheduler = client.app.state.scheduler  # type: ignore[attr-defined]
        assert scheduler.running
        assert set(scheduler.planned()) == {"web"}
    assert not scheduler.running
    with TestClient(create_app(services)) as client:
        assert not hasattr(client.app.state, "scheduler")  # type: ignore[attr-defined]
