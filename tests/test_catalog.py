"""issues/ ⇄ database: what sync does to each status."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import update

from newsletter.catalog import get_issue, list_issues, sync_issues
from newsletter.errors import IssueNotFound
from newsletter.models import Issue, IssueStatus
from newsletter.services import Services
from tests.fixtures.issues import WriteIssue, issue_text


def _set_status(services: Services, slug: str, status: IssueStatus) -> None:
    with services.sessions() as session, session.begin():
        session.execute(update(Issue).where(Issue.slug == slug).values(status=status))


def test_new_files_become_scheduled_or_draft(services: Services, write_issue: WriteIssue) -> None:
    write_issue("2026-12-07-one.md")
    write_issue("two.md", draft="true")
    report = sync_issues(services)
    assert sorted(report.created) == ["one", "two"]
    assert get_issue(services, "one").status == IssueStatus.SCHEDULED
    assert get_issue(services, "two").status == IssueStatus.DRAFT
    row = get_issue(services, "one")
    assert row.publish_at == datetime(2026, 12, 7, 0, 0, tzinfo=UTC)
    assert row.title == "테스트 호" and len(row.source_hash) == 64
    assert [r.slug for r in list_issues(services, newsletter_id="weekly")] == ["one", "two"]


def test_second_sync_changes_nothing(services: Services, write_issue: WriteIssue) -> None:
    write_issue("a.md")
    sync_issues(services)
    report = sync_issues(services)
    assert report.unchanged == ["a"] and not report.updated and not report.created


def test_changed_date_reschedules(services: Services, write_issue: WriteIssue) -> None:
    write_issue("a.md")
    sync_issues(services)
    write_issue("a.md", date="2026-12-08 10:00 +0900")
    report = sync_issues(services)
    assert report.rescheduled == ["a"] and report.updated == ["a"]
    assert get_issue(services, "a").publish_at == datetime(2026, 12, 8, 1, 0, tzinfo=UTC)


def test_missed_issue_with_new_date_is_listed_but_keeps_status(
    services: Services, write_issue: WriteIssue
) -> None:
    write_issue("a.md")
    sync_issues(services)
    _set_status(services, "a", IssueStatus.MISSED)
    write_issue("a.md", date="2027-01-04 09:00 +0900")
    report = sync_issues(services)
    assert report.rescheduled == ["a"]
    row = get_issue(services, "a")
    assert row.status == IssueStatus.MISSED
    assert row.publish_at == datetime(2027, 1, 4, 0, 0, tzinfo=UTC)


def test_deleted_file_cancels_unsent_issues_only(
    services: Services, write_issue: WriteIssue
) -> None:
    paths = {slug: write_issue(f"{slug}.md") for slug in ("gone", "sent", "draft")}
    write_issue("draft.md", draft="true")
    sync_issues(services)
    _set_status(services, "sent", IssueStatus.SENT)
    for path in paths.values():
        path.unlink()
    report = sync_issues(services)
    assert sorted(report.cancelled) == ["draft", "gone"]
    assert get_issue(services, "sent").status == IssueStatus.SENT


def test_sent_issue_whose_file_changed_is_left_alone(
    services: Services, write_issue: WriteIssue
) -> None:
    write_issue("a.md")
    sync_issues(services)
    _set_status(services, "a", IssueStatus.SENDING)
    before = get_issue(services, "a")
    write_issue("a.md", title="바뀐 제목", date="2027-01-01")
    report = sync_issues(services)
    assert report.changed_after_send == ["a"]
    after = get_issue(services, "a")
    assert (after.title, after.publish_at, after.source_hash, after.status) == (
        before.title,
        before.publish_at,
        before.source_hash,
        IssueStatus.SENDING,
    )


def test_cancelled_issue_comes_back_when_its_file_changes(
    services: Services, write_issue: WriteIssue
) -> None:
    write_issue("a.md")
    sync_issues(services)
    _set_status(services, "a", IssueStatus.CANCELLED)
    assert sync_issues(services).unchanged == ["a"]
    write_issue("a.md", title="다시")
    sync_issues(services)
    assert get_issue(services, "a").status == IssueStatus.SCHEDULED


def test_unreadable_files_are_reported_and_the_rest_syncs(
    services: Services, write_issue: WriteIssue
) -> None:
    write_issue("good.md")
    write_issue("broken.md")
    sync_issues(services)
    write_issue("broken.md", "---\ntitle: 제목만\n---\n")
    write_issue("new.md", issue_text(title="새 호"))
    write_issue("dup.md", slug="good")
    report = sync_issues(services)
    assert report.created == ["new"]
    files = sorted(error.file for error in report.errors)
    assert files == ["issues/broken.md", "issues/dup.md"]
    assert all("\n" not in str(error) for error in report.errors)
    # A file that cannot be read is not a deleted file: its issue stays scheduled.
    assert get_issue(services, "broken").status == IssueStatus.SCHEDULED
    assert report.as_dict()["errors"][0].startswith("issues/broken.md:")


def test_get_issue_unknown(services: Services) -> None:
    with pytest.raises(IssueNotFound):
        get_issue(services, "nope")
