"""Editors' scheduling actions: ``schedule SLUG [--at]`` and ``cancel SLUG``.

Both only write the database; a running scheduler picks the change up on its next poll
(``build_scheduler(..., poll_interval=...)``, one second by default).
"""

from __future__ import annotations

import getpass
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from newsletter.db import transaction
from newsletter.errors import IssueNotFound, SchedulerError
from newsletter.models import IssueStatus
from newsletter.scheduler import store
from newsletter.scheduler.instants import Instant, describe
from newsletter.services import Services
from newsletter.settings import Settings
from subscribers.db import utcnow

#: Statuses an editor may (re)schedule from.
SCHEDULABLE = (IssueStatus.SCHEDULED, IssueStatus.MISSED, IssueStatus.CANCELLED)


@dataclass(frozen=True)
class ScheduleResult:
    """The outcome of an editor's action, ready for the CLI or the admin page."""

    slug: str
    status: str
    instant: datetime | None
    local: str
    overridden: bool
    note: str = ""

    def as_dict(self) -> dict[str, object]:
        """A JSON-friendly view (``--json``)."""
        return {
            "slug": self.slug,
            "status": self.status,
            "send_at": self.instant.astimezone(UTC).isoformat() if self.instant else None,
            "send_at_local": self.local,
            "overridden": self.overridden,
            "note": self.note,
        }


def default_actor() -> str:
    """``user@host``: who ran the command, recorded with an override."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def schedule_issue(
    services: Services,
    slug: str,
    *,
    at: Instant | None = None,
    by: str = "",
    now: datetime | None = None,
) -> ScheduleResult:
    """Schedule ``slug`` at ``at`` (an override of the file's date) or, without it, its date.

    Re-arms a missed or cancelled issue. Refuses drafts, issues already sending or sent,
    and instants in the past (send those with ``newsletter send SLUG --now``).
    """
    now = now or utcnow()
    zone = services.settings.site.tz
    with transaction(services.sessions) as session:
        issue = _find(session, slug)
        if issue.status not in SCHEDULABLE:
            raise SchedulerError(_refusal(slug, issue.status))
        instant = at.utc if at else issue.publish_at
        moved_note = ""
        if at is not None:
            instant, moved_note = _through_quiet_hours(services.settings, issue, instant)
        if instant <= now:
            raise SchedulerError(
                f"{slug}: {describe(instant, zone)} is in the past; pick a later --at, "
                f"or send it now with `newsletter send {slug} --now`"
            )
        store.set_override(session, issue.id, at=instant if at else None, by=by, now=now)
        store.set_status(
            session, issue.id, to=IssueStatus.SCHEDULED, only_from=SCHEDULABLE, note=""
        )
    return ScheduleResult(
        slug,
        IssueStatus.SCHEDULED,
        instant,
        describe(instant, zone),
        at is not None,
        "; ".join(note for note in (at.note if at else "", moved_note) if note),
    )


def _through_quiet_hours(
    settings: Settings, issue: store.ScheduledIssue, instant: datetime
) -> tuple[datetime, str]:
    """``--at`` inside the newsletter's quiet hours moves to their end, with a note."""
    from newsletter.timing.plan import move_instant

    planned = move_instant(settings, issue.newsletter_id, instant)
    if planned.moved_from is None:
        return instant, ""
    zone = settings.site.tz
    window = settings.newsletter(issue.newsletter_id).quiet
    return planned.publish_at, (
        f"{describe(instant, zone)} is inside quiet hours {window}: "
        f"moved to {describe(planned.publish_at, zone)}"
    )


def cancel_issue(services: Services, slug: str, *, by: str = "") -> ScheduleResult:
    """Cancel a scheduled or missed issue that has not started; a no-op if already cancelled."""
    zone = services.settings.site.tz
    with transaction(services.sessions) as session:
        issue = _find(session, slug)
        if issue.status in (IssueStatus.SENDING, IssueStatus.SENT):
            raise SchedulerError(_refusal(slug, issue.status))
        if issue.status == IssueStatus.DRAFT:
            raise SchedulerError(f"{slug} is a draft: it is not scheduled")
        note = f"by {by}" if by else ""
        store.set_status(
            session,
            issue.id,
            to=IssueStatus.CANCELLED,
            only_from=(IssueStatus.SCHEDULED, IssueStatus.MISSED),
            note=note,
        )
    return ScheduleResult(
        slug,
        IssueStatus.CANCELLED,
        issue.instant,
        describe(issue.instant, zone),
        issue.override_at is not None,
    )


def _find(session: Session, slug: str) -> store.ScheduledIssue:
    issue = store.issue_by_slug(session, slug)
    if issue is None:
        raise IssueNotFound(f"no issue with slug {slug!r} (run `newsletter issues sync` first?)")
    return issue


def _refusal(slug: str, status: str) -> str:
    if status == IssueStatus.DRAFT:
        return f"{slug} is a draft: remove `draft: true` from its file first"
    if status == IssueStatus.SENDING:
        return f"{slug} is being sent; see `newsletter sends list`"
    if status == IssueStatus.SENT:
        return f"{slug} was already sent; it is never sent again by the scheduler"
    return f"{slug} is {status}"


def schedule_summaries(services: Services) -> dict[str, dict[str, str]]:
    """Per slug, what listings show: next send (local and UTC), override, missed/cancel note."""
    zone = services.settings.site.tz
    with services.sessions() as session:
        views = store.all_schedules(session)
    return {
        slug: {**_summary(view, zone), **timing_summary(services.settings, view)}
        for slug, view in views.items()
    }


def _summary(view: store.ScheduledIssue, zone: ZoneInfo) -> dict[str, str]:
    upcoming = view.status == IssueStatus.SCHEDULED
    return {
        "next_send": describe(view.instant, zone) if upcoming else "",
        "send_at": view.instant.astimezone(UTC).isoformat(),
        "override_by": view.override_by if view.override_at else "",
        "schedule_note": view.note,
    }


def timing_summary(settings: Settings, view: store.ScheduledIssue) -> dict[str, str]:
    """What listings add for `deliver: local` and quiet hours (docs/scheduler.md).

    ``deliver`` (``local`` or ""), ``local_time`` (the wall time each reader gets it at),
    ``moved_from`` (the instant before quiet hours moved it, ISO) and ``quiet_note`` (one
    line for people).
    """
    zone = settings.site.tz
    local = view.deliver == "local" and bool(view.local_wall) and view.override_at is None
    note = ""
    if view.moved_from is not None and view.override_at is None:
        window = settings.newsletter(view.newsletter_id).quiet
        note = f"moved from {describe(view.moved_from, zone)} by quiet hours {window or ''}"
    return {
        "deliver": "local" if local else "",
        "local_time": view.local_wall.replace("T", " ")[:16] if local else "",
        "moved_from": (
            view.moved_from.astimezone(UTC).isoformat()
            if view.moved_from is not None and view.override_at is None
            else ""
        ),
        "quiet_note": note.strip(),
    }
