"""The scheduler in-process, with an injected send: planning, firing, restart, two schedulers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from types import SimpleNamespace

import pytest

from newsletter.db import transaction
from newsletter.models import IssueStatus
from newsletter.scheduler import IssueScheduler, build_scheduler, store
from newsletter.services import Services
from subscribers.db import utcnow
from tests.scheduler_helpers import (
    RecordingSend,
    add_issue,
    set_issue,
    soon,
    status_of,
    wait_for,
    with_scheduler_settings,
)

FAST = timedelta(milliseconds=100)


def no_sync(_services: Services) -> None:
    """Issues are inserted as rows here; there are no files to sync."""


@pytest.fixture
def started() -> Iterator[list[IssueScheduler]]:
    """Schedulers started by a test, shut down after it."""
    schedulers: list[IssueScheduler] = []
    yield schedulers
    for scheduler in schedulers:
        scheduler.shutdown()


def start(services: Services, send: RecordingSend, started: list[IssueScheduler]) -> IssueScheduler:
    scheduler = build_scheduler(services, send=send, sync=no_sync, poll_interval=FAST)
    scheduler.start()
    started.append(scheduler)
    return scheduler


def test_issue_due_ahead_is_sent_once_at_its_instant(
    services: Services, started: list[IssueScheduler]
) -> None:
    send = RecordingSend()
    instant = soon(2.0)
    add_issue(services, "hello", instant)
    scheduler = start(services, send, started)
    assert scheduler.planned() == {"hello": instant}
    assert wait_for(lambda: send.slugs() == ["hello"])
    wait_for(lambda: False, timeout=0.5)  # polls keep running: still no second send
    assert send.slugs() == ["hello"]
    assert send.calls[0][1] >= instant.timestamp()
    firing = scheduler.firings[0]
    print(f"lateness: {firing.lateness.total_seconds() * 1000:.1f} ms")
    assert status_of(services, "hello") == IssueStatus.SENT
    assert scheduler.planned() == {}


def test_drafts_cancelled_and_sent_issues_get_no_job(
    services: Services, started: list[IssueScheduler]
) -> None:
    for slug, status in [
        ("draft", IssueStatus.DRAFT),
        ("cancelled", IssueStatus.CANCELLED),
        ("sent", IssueStatus.SENT),
        ("sending", IssueStatus.SENDING),
    ]:
        add_issue(services, slug, soon(60), status=status)
    add_issue(services, "future", soon(60))
    scheduler = start(services, RecordingSend(), started)
    assert set(scheduler.planned()) == {"future"}


def test_a_new_date_moves_the_job(services: Services, started: list[IssueScheduler]) -> None:
    send = RecordingSend()
    add_issue(services, "moved", soon(60))
    scheduler = start(services, send, started)
    later = soon(0.6)
    set_issue(services, "moved", publish_at=later)
    assert wait_for(lambda: scheduler.planned().get("moved") == later or bool(send.calls))
    assert wait_for(lambda: send.slugs() == ["moved"])
    assert scheduler.firings[0].instant == later


def test_setting_draft_or_removing_the_row_drops_the_job(
    services: Services, started: list[IssueScheduler]
) -> None:
    send = RecordingSend()
    instant = soon(2.5)
    add_issue(services, "to-draft", instant)
    add_issue(services, "to-cancel", instant)
    scheduler = start(services, send, started)
    assert set(scheduler.planned()) == {"to-draft", "to-cancel"}
    set_issue(services, "to-draft", status=IssueStatus.DRAFT)
    set_issue(services, "to-cancel", status=IssueStatus.CANCELLED)
    assert wait_for(lambda: scheduler.planned() == {})
    wait_for(lambda: False, timeout=(instant - utcnow()).total_seconds() + 0.5)
    assert send.calls == []


def test_restart_within_max_lateness_sends_at_once(
    services: Services, started: list[IssueScheduler]
) -> None:
    send = RecordingSend()
    add_issue(services, "late", utcnow() - timedelta(hours=5, minutes=59))
    scheduler = start(services, send, started)
    assert wait_for(lambda: send.slugs() == ["late"])
    assert scheduler.firings[0].lateness > timedelta(hours=5)


def test_restart_beyond_max_lateness_marks_missed_and_never_sends(
    services: Services, started: list[IssueScheduler]
) -> None:
    send = RecordingSend()
    add_issue(services, "too-late", utcnow() - timedelta(hours=6, minutes=1))
    start(services, send, started)
    assert wait_for(lambda: status_of(services, "too-late") == IssueStatus.MISSED)
    wait_for(lambda: False, timeout=0.5)
    assert send.calls == []


def test_a_missed_issue_given_a_future_date_is_scheduled_again(
    services: Services, started: list[IssueScheduler]
) -> None:
    send = RecordingSend()
    add_issue(services, "again", utcnow() - timedelta(days=2), status=IssueStatus.MISSED)
    scheduler = start(services, send, started)
    assert scheduler.planned() == {}
    ahead = soon(0.5)
    set_issue(services, "again", publish_at=ahead)
    assert wait_for(lambda: send.slugs() == ["again"])


def test_short_max_lateness_from_settings(
    services: Services, started: list[IssueScheduler]
) -> None:
    strict = with_scheduler_settings(services, max_lateness=timedelta(seconds=2))
    send = RecordingSend()
    add_issue(strict, "within", utcnow() - timedelta(seconds=1))
    add_issue(strict, "beyond", utcnow() - timedelta(seconds=30))
    start(strict, send, started)
    assert wait_for(lambda: status_of(strict, "beyond") == IssueStatus.MISSED)
    assert wait_for(lambda: send.slugs() == ["within"])


def test_two_schedulers_on_one_database_send_once(
    services: Services, started: list[IssueScheduler]
) -> None:
    # The send does not change the issue's status, so only the scheduler's own claim
    # (not the delivery engine's) keeps the second scheduler from sending.
    first, second = RecordingSend(mark_sent=False), RecordingSend(mark_sent=False)
    other = Services.open(services.settings)
    try:
        add_issue(services, "shared", soon(0.8))
        add_issue(services, "shared-late", utcnow() - timedelta(minutes=1))
        start(services, first, started)
        start(other, second, started)
        assert wait_for(lambda: len(first.calls) + len(second.calls) == 2)
        wait_for(lambda: False, timeout=1.0)
        assert sorted(first.slugs() + second.slugs()) == ["shared", "shared-late"]
    finally:
        for scheduler in started:
            scheduler.shutdown()
        other.close()


def test_a_failing_send_is_logged_and_the_scheduler_keeps_running(
    services: Services, started: list[IssueScheduler]
) -> None:
    calls: list[str] = []

    def broken(_services: Services, slug: str) -> None:
        calls.append(slug)
        raise RuntimeError("backend down")

    add_issue(services, "broken", soon(0.3))
    add_issue(services, "after", soon(0.6))
    scheduler = build_scheduler(services, send=broken, sync=no_sync, poll_interval=FAST)
    scheduler.start()
    started.append(scheduler)
    assert wait_for(lambda: sorted(calls) == ["after", "broken"])
    assert scheduler.running


def test_the_issue_takes_the_status_of_its_finished_send(
    services: Services, started: list[IssueScheduler]
) -> None:
    def send(_services: Services, _slug: str) -> SimpleNamespace:
        return SimpleNamespace(status="sent")  # what the delivery engine's SendResult says

    add_issue(services, "mirrored", soon(0.3))
    scheduler = build_scheduler(services, send=send, sync=no_sync, poll_interval=FAST)
    scheduler.start()
    started.append(scheduler)
    assert wait_for(lambda: status_of(services, "mirrored") == IssueStatus.SENT)


def test_a_send_that_could_not_start_is_retried_after_the_lease(
    services: Services, started: list[IssueScheduler]
) -> None:
    calls: list[str] = []
    recording = RecordingSend()

    def flaky(services_: Services, slug: str) -> None:
        calls.append(slug)
        if len(calls) == 1:
            raise RuntimeError("template missing")
        recording(services_, slug)

    add_issue(services, "flaky", soon(0.2))
    scheduler = IssueScheduler(
        services, send=flaky, sync=None, poll_interval=FAST, lease=timedelta(seconds=2)
    )
    scheduler.start()
    started.append(scheduler)
    assert wait_for(lambda: len(calls) == 1)
    wait_for(lambda: False, timeout=0.5)
    assert len(calls) == 1  # not retried in a tight loop
    assert status_of(services, "flaky") == IssueStatus.SCHEDULED
    assert wait_for(lambda: status_of(services, "flaky") == IssueStatus.SENT)
    assert calls == ["flaky", "flaky"]


def test_a_claim_whose_process_died_before_the_send_is_taken_over(
    services: Services, started: list[IssueScheduler]
) -> None:
    instant = utcnow() - timedelta(seconds=30)
    add_issue(services, "orphan", instant)
    with transaction(services.sessions) as session:
        issue = store.issue_by_slug(session, "orphan")
        assert issue is not None
        earlier = utcnow() - timedelta(minutes=5)
        assert store.claim_firing(session, issue.id, instant=instant, now=earlier, owner="dead")
    send = RecordingSend()
    scheduler = IssueScheduler(services, send=send, sync=None, poll_interval=FAST)
    scheduler.start()
    started.append(scheduler)
    assert wait_for(lambda: send.slugs() == ["orphan"])


def test_an_issue_put_in_sending_by_someone_else_is_left_alone(
    services: Services, started: list[IssueScheduler]
) -> None:
    add_issue(services, "manual", utcnow() - timedelta(minutes=1), status=IssueStatus.SENDING)
    send = RecordingSend()
    start(services, send, started)
    wait_for(lambda: False, timeout=0.5)
    assert status_of(services, "manual") == IssueStatus.SENDING
    assert send.calls == []
