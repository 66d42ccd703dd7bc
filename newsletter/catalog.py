"""The issue catalog: ``issues/`` ⇄ the ``issues`` table. The files are the source of truth.

:func:`sync_issues` upserts every file into the table in one transaction:

- a new file → ``scheduled`` (``draft`` when ``draft: true``);
- a changed ``draft``/``scheduled``/``missed`` issue → updated; a new date is listed in
  ``rescheduled`` (a ``missed`` issue keeps its status: the scheduler re-arms it when the
  new instant is ahead);
- an issue ``sending`` or ``sent`` whose file changed → left alone, listed in
  ``changed_after_send`` (it is never sent twice);
- a ``cancelled`` issue whose file changed comes back as ``scheduled``/``draft``;
- a deleted file → its ``draft``/``scheduled``/``missed`` issue is ``cancelled``;
- a file that cannot be read or parsed → listed in ``errors``; its issue is untouched.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.db import transaction
from newsletter.errors import IssueError, IssueNotFound
from newsletter.issues import (
    ParsedIssue,
    display_path,
    issue_files,
    parse_issue_file,
    slug_for,
)
from newsletter.models import Issue, IssueStatus
from newsletter.services import Services
from newsletter.timing.plan import LOCAL

log = logging.getLogger("newsletter.catalog")

#: Statuses a sync may change; the others belong to the sending side.
EDITABLE = (IssueStatus.DRAFT, IssueStatus.SCHEDULED, IssueStatus.MISSED)
SENT_OR_SENDING = (IssueStatus.SENDING, IssueStatus.SENT)


@dataclass(frozen=True)
class SyncError:
    """A file that could not be synced, and why (one line)."""

    file: str
    reason: str

    def __str__(self) -> str:
        return self.reason if self.reason.startswith(self.file) else f"{self.file}: {self.reason}"


@dataclass
class SyncReport:
    """What one :func:`sync_issues` did, by slug."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    rescheduled: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    changed_after_send: list[str] = field(default_factory=list)
    errors: list[SyncError] = field(default_factory=list)

    def as_dict(self) -> dict[str, list[str]]:
        """The report as JSON-able lists (errors as ``file: reason`` lines)."""
        return {
            "created": self.created,
            "updated": self.updated,
            "rescheduled": self.rescheduled,
            "cancelled": self.cancelled,
            "unchanged": self.unchanged,
            "changed_after_send": self.changed_after_send,
            "errors": [str(error) for error in self.errors],
        }


def read_all_issues(services: Services) -> tuple[list[ParsedIssue], list[SyncError], set[str]]:
    """Every parsable issue file, the errors of the others, and the slugs errors protect.

    Two files with one slug: the file whose name gives that slug wins over one that
    claims it with ``slug:``; the other is an error.
    """
    settings = services.settings
    by_slug: dict[str, list[ParsedIssue]] = {}
    errors: list[SyncError] = []
    protected: set[str] = set()
    for path in issue_files(settings):
        try:
            issue = parse_issue_file(settings, path)
        except IssueError as exc:
            errors.append(SyncError(display_path(settings, path), str(exc)))
            protected.add(slug_for(path, None))
            continue
        except Exception as exc:  # a value no check foresaw: refuse this file, not the sync
            log.exception("issues: reading %s failed", path)
            where = display_path(settings, path)
            errors.append(SyncError(where, f"{where}: cannot be read: {exc!r}"[:300]))
            protected.add(slug_for(path, None))
            continue
        by_slug.setdefault(issue.slug, []).append(issue)
    parsed: list[ParsedIssue] = []
    for slug, claims in by_slug.items():
        claims.sort(key=lambda i: (slug_for(i.source_path, None) != slug, i.source_path.name))
        parsed.append(claims[0])
        first = display_path(settings, claims[0].source_path)
        for loser in claims[1:]:
            where = display_path(settings, loser.source_path)
            errors.append(SyncError(where, f"slug {slug!r} is already used by {first}"))
    return parsed, errors, protected


def sync_issues(services: Services) -> SyncReport:
    """Upsert every file of ``issues_dir`` into the ``issues`` table (see the module doc)."""
    parsed, errors, protected = read_all_issues(services)
    report = SyncReport(errors=errors)
    with transaction(services.sessions) as session:
        rows = {row.slug: row for row in session.scalars(select(Issue))}
        for issue in parsed:
            _sync_one(session, rows.get(issue.slug), issue, report)
        present = {issue.slug for issue in parsed} | protected
        for slug, row in rows.items():
            if slug not in present and row.status in EDITABLE:
                row.status = IssueStatus.CANCELLED
                report.cancelled.append(slug)
    return report


def _sync_one(session: Session, row: Issue | None, issue: ParsedIssue, report: SyncReport) -> None:
    wanted = IssueStatus.DRAFT if issue.draft else IssueStatus.SCHEDULED
    if row is None:
        session.add(Issue(slug=issue.slug, status=wanted, **_fields(issue)))
        report.created.append(issue.slug)
        return
    changed = row.source_hash != issue.source_hash
    moved = row.source_path != str(issue.source_path)
    if row.status in SENT_OR_SENDING:
        (report.changed_after_send if changed else report.unchanged).append(issue.slug)
        return
    if row.status == IssueStatus.CANCELLED and not changed:
        report.unchanged.append(issue.slug)
        return
    # The same file planned anew (the newsletter's quiet hours changed in config.yaml).
    replanned = row.publish_at != issue.publish_at or row.moved_from != issue.moved_from
    if (
        not changed
        and not moved
        and not replanned
        and _status_after(row.status, wanted) == row.status
    ):
        report.unchanged.append(issue.slug)
        return
    if row.publish_at != issue.publish_at and wanted == IssueStatus.SCHEDULED:
        report.rescheduled.append(issue.slug)
    for name, value in _fields(issue).items():
        setattr(row, name, value)
    row.status = _status_after(row.status, wanted)
    report.updated.append(issue.slug)


def _status_after(current: str, wanted: IssueStatus) -> str:
    # A missed issue stays missed until the scheduler re-arms it; a draft is always a draft.
    if current == IssueStatus.MISSED and wanted == IssueStatus.SCHEDULED:
        return current
    return wanted


def _fields(issue: ParsedIssue) -> dict[str, object]:
    return {
        "newsletter_id": issue.newsletter_id,
        "title": issue.title,
        "subject": issue.subject,
        "preheader": issue.preheader,
        "publish_at": issue.publish_at,
        "deliver": LOCAL if issue.local_wall is not None else "",
        "local_wall": issue.local_wall.isoformat() if issue.local_wall is not None else "",
        "moved_from": issue.moved_from,
        "source_path": str(issue.source_path),
        "source_hash": issue.source_hash,
    }


def list_issues(services: Services, *, newsletter_id: str | None = None) -> Sequence[Issue]:
    """The synced issues, by publication instant (optionally of one newsletter)."""
    query = select(Issue).order_by(Issue.publish_at, Issue.slug)
    if newsletter_id is not None:
        query = query.where(Issue.newsletter_id == newsletter_id)
    with services.sessions() as session:
        return list(session.scalars(query))


def get_issue(services: Services, slug: str) -> Issue:
    """The synced issue with this slug; ``IssueNotFound`` when there is none."""
    with services.sessions() as session:
        row = session.scalar(select(Issue).where(Issue.slug == slug))
    if row is None:
        raise IssueNotFound(f"no issue {slug!r} in the database (run `newsletter issues sync`)")
    return row


def load_issue(services: Services, slug: str) -> ParsedIssue:
    """The synced issue with this slug, parsed from its file in ``issues_dir``.

    The slug is looked up in the database only (``IssueNotFound`` otherwise), and only the
    file recorded for it by :func:`sync_issues`, inside ``issues_dir``, is read: the web
    app resolves slugs through this function so that no slug ever names another file.
    """
    row = get_issue(services, slug)
    settings = services.settings
    folder = settings.path(settings.issues_dir).resolve()
    path = settings.path(Path(row.source_path))
    if not path.resolve().is_relative_to(folder):
        raise IssueNotFound(f"issue {slug!r} is recorded outside {settings.issues_dir}/")
    issue = parse_issue_file(settings, path)
    if issue.slug != slug:
        raise IssueError(
            f"{display_path(settings, path)} now has slug {issue.slug!r}, not {slug!r} "
            "(run `newsletter issues sync`)"
        )
    return issue
