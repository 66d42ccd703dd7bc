"""``newsletter schedule SLUG [--at]`` and ``newsletter cancel SLUG`` over a real database."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from newsletter.catalog import sync_issues
from newsletter.cli import app
from newsletter.errors import IssueNotFound, SchedulerError
from newsletter.models import Issue, IssueStatus
from newsletter.scheduler import build_scheduler, store
from newsletter.services import Services
from subscribers.db import utcnow
from tests.scheduler_helpers import RecordingSend, add_issue, status_of, write_issue

runner = CliRunner()


def invoke(config_path: Path, *args: str) -> tuple[int, str, BaseException | None]:
    result = runner.invoke(app, ["--config", str(config_path), *args])
    return result.exit_code, result.stdout, result.exception


def schedule_view(services: Services, slug: str) -> store.ScheduledIssue:
    with services.sessions() as session:
        found = store.issue_by_slug(session, slug)
    assert found is not None
    return found


def test_schedule_at_records_an_override_with_who_and_shows_both_clocks(
    services: Services, config_path: Path
) -> None:
    add_issue(services, "weekly-1", utcnow() + timedelta(days=3))
    code, out, _ = invoke(config_path, "schedule", "weekly-1", "--at", "2099-03-02T09:00")
    assert code == 0, out
    assert "2099-03-02 09:00:00 KST (00:00:00 UTC)" in out
    view = schedule_view(services, "weekly-1")
    assert view.override_at == datetime(2099, 3, 2, 0, 0, tzinfo=UTC)
    assert view.instant == view.override_at
    assert "@" in view.override_by


def test_schedule_without_at_clears_the_override(services: Services, config_path: Path) -> None:
    file_date = (utcnow() + timedelta(days=3)).replace(microsecond=0)
    add_issue(services, "weekly-2", file_date)
    invoke(config_path, "schedule", "weekly-2", "--at", "2099-01-01T00:00+00:00")
    code, out, _ = invoke(config_path, "schedule", "weekly-2", "--json")
    assert code == 0, out
    data = json.loads(out)
    assert data["overridden"] is False
    assert data["send_at"] == file_date.isoformat()
    assert schedule_view(services, "weekly-2").override_at is None


def test_schedule_in_a_dst_gap_says_how_it_was_read(
    services: Services, config_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSLETTER_SITE__TIMEZONE", "Europe/Berlin")
    add_issue(services, "spring", utcnow() + timedelta(days=3))
    code, out, _ = invoke(config_path, "schedule", "spring", "--at", "2099-03-29T02:30")
    assert code == 0, out
    assert "does not exist" in out
    assert schedule_view(services, "spring").override_at == datetime(2099, 3, 29, 1, 30, tzinfo=UTC)


def test_cancel_then_schedule_again(services: Services, config_path: Path) -> None:
    add_issue(services, "weekly-3", utcnow() + timedelta(days=1))
    code, out, _ = invoke(config_path, "cancel", "weekly-3")
    assert code == 0, out
    assert status_of(services, "weekly-3") == IssueStatus.CANCELLED
    assert schedule_view(services, "weekly-3").note.startswith("by ")
    code, out, _ = invoke(config_path, "schedule", "weekly-3")
    assert code == 0, out
    assert status_of(services, "weekly-3") == IssueStatus.SCHEDULED


def test_a_missed_issue_can_be_given_a_new_instant(services: Services, config_path: Path) -> None:
    add_issue(services, "old", utcnow() - timedelta(days=1), status=IssueStatus.MISSED)
    _, _, error = invoke(config_path, "schedule", "old")
    assert isinstance(error, SchedulerError)
    assert "in the past" in str(error)
    code, out, _ = invoke(config_path, "schedule", "old", "--at", "2099-01-01T10:00")
    assert code == 0, out
    assert status_of(services, "old") == IssueStatus.SCHEDULED


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (IssueStatus.SENT, "already sent"),
        (IssueStatus.SENDING, "being sent"),
        (IssueStatus.DRAFT, "draft"),
    ],
)
def test_sent_sending_and_draft_issues_are_refused(
    services: Services, config_path: Path, status: str, message: str
) -> None:
    add_issue(services, "fixed", utcnow() - timedelta(days=1), status=status)
    for args in (["schedule", "fixed", "--at", "2099-01-01T00:00"], ["cancel", "fixed"]):
        code, _, error = invoke(config_path, *args)
        assert code != 0
        assert isinstance(error, SchedulerError)
        assert message in str(error)
    assert status_of(services, "fixed") == status


def test_unknown_slug_and_bad_instant_are_one_line_errors(
    services: Services, config_path: Path
) -> None:
    _, _, error = invoke(config_path, "cancel", "nope")
    assert isinstance(error, IssueNotFound)
    add_issue(services, "ok", utcnow() + timedelta(days=1))
    _, _, error = invoke(config_path, "schedule", "ok", "--at", "next friday")
    assert isinstance(error, SchedulerError)
    assert "\n" not in str(error)
    with services.sessions() as session:
        issue = session.scalars(select(Issue).where(Issue.slug == "ok")).one()
    assert issue.scheduled_at_override is None


def test_issues_list_shows_next_send_in_both_clocks_the_override_and_missed_notes(
    services: Services, config_path: Path
) -> None:
    write_issue(services, "overridden", "2099-05-01 10:00")
    write_issue(services, "late", "2000-01-01 10:00")
    sync_issues(services)
    build_scheduler(services, send=RecordingSend(), sync=None).reconcile()  # marks "late" missed
    invoke(config_path, "schedule", "overridden", "--at", "2099-06-01T08:00")
    code, out, _ = invoke(config_path, "issues", "list", "--json")
    assert code == 0, out
    rows = {row["slug"]: row for row in json.loads(out)}
    assert rows["overridden"]["next_send"] == "2099-06-01 08:00:00 KST (23:00:00 UTC)"
    assert "@" in rows["overridden"]["override_by"]
    assert rows["late"]["status"] == IssueStatus.MISSED
    assert "beyond scheduler.max_lateness" in rows["late"]["schedule_note"]
    code, out, _ = invoke(config_path, "issues", "list")  # the table renders too
    assert code == 0, out
