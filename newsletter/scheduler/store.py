"""All the scheduler's SQL: which issues are due, claims, overrides, missed and cancelled.

Every function takes a ``Session`` first and does not commit: the caller owns the
transaction (``newsletter.db.transaction``). Status changes are single conditional
``UPDATE`` statements, so two processes racing for the same issue cannot both win.
The delivery engine's ``sends`` table is only read here, to follow an issue's send.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    CursorResult,
    Result,
    and_,
    func,
    select,
    update,
)
from sqlalchemy.orm import Session

from newsletter.delivery.models import Send
from newsletter.models import Issue, IssueStatus
from newsletter.scheduler.models import IssueSchedule


@dataclass(frozen=True)
class ScheduledIssue:
    """What the scheduler needs to know of one issue."""

    id: int
    slug: str
    newsletter_id: str
    status: str
    publish_at: datetime
    override_at: datetime | None
    override_by: str
    fired_for: datetime | None
    fired_at: datetime | None
    note: str
    deliver: str = ""
    local_wall: str = ""
    moved_from: datetime | None = None

    @property
    def instant(self) -> datetime:
        """When it goes out: the editor's override if any, else the file's date."""
        return self.override_at or self.publish_at

    @property
    def last_instant(self) -> datetime:
        """The instant its lateness is judged by: for ``deliver: local`` (without an
        override) the last wave's possible instant (UTC-12), since each wave's lateness is
        judged by itself (``newsletter.timing.waves``); else :attr:`instant`."""
        if self.deliver == "local" and self.local_wall and self.override_at is None:
            from newsletter.timing.plan import last_possible

            return last_possible(datetime.fromisoformat(self.local_wall))
        return self.instant


def _issues(session: Session, *where: ColumnElement[bool]) -> list[ScheduledIssue]:
    query = select(
        Issue.id.label("id"),
        Issue.slug.label("slug"),
        Issue.newsletter_id.label("newsletter_id"),
        Issue.status.label("status"),
        Issue.publish_at.label("publish_at"),
        Issue.scheduled_at_override.label("override_at"),
        func.coalesce(IssueSchedule.override_by, "").label("override_by"),
        IssueSchedule.fired_for.label("fired_for"),
        IssueSchedule.fired_at.label("fired_at"),
        func.coalesce(IssueSchedule.note, "").label("note"),
        Issue.deliver.label("deliver"),
        Issue.local_wall.label("local_wall"),
        Issue.moved_from.label("moved_from"),
    ).outerjoin(IssueSchedule, IssueSchedule.issue_id == Issue.id)
    rows = session.execute(query.where(*where).order_by(Issue.id)).all()
    return [ScheduledIssue(**row._mapping) for row in rows]


def issues_with_status(session: Session, *statuses: str) -> list[ScheduledIssue]:
    """Issues in any of ``statuses``, oldest first."""
    return _issues(session, Issue.status.in_(statuses))


def issue_by_slug(session: Session, slug: str) -> ScheduledIssue | None:
    """One issue with its scheduling record, or ``None``."""
    found = _issues(session, Issue.slug == slug)
    return found[0] if found else None


def all_schedules(session: Session) -> dict[str, ScheduledIssue]:
    """Every issue's scheduling view, keyed by slug (for listings)."""
    return {item.slug: item for item in _issues(session)}


def ensure_record(session: Session, issue_id: int) -> None:
    """Create the issue's scheduling row if it has none yet (read first: not for races)."""
    if session.get(IssueSchedule, issue_id) is None:
        session.add(IssueSchedule(issue_id=issue_id))
        session.flush()


def claim_firing(
    session: Session, issue_id: int, *, instant: datetime, now: datetime, owner: str
) -> bool:
    """Atomically move the issue ``scheduled`` → ``sending`` for ``instant``; ``False`` if lost.

    One conditional ``UPDATE``: it wins only while the issue is ``scheduled`` at exactly
    ``instant``, so two schedulers (or a job and a restart) cannot both start it.
    """
    due = func.coalesce(Issue.scheduled_at_override, Issue.publish_at) == instant
    result = session.execute(
        update(Issue)
        .where(Issue.id == issue_id, Issue.status == IssueStatus.SCHEDULED, due)
        .values(status=IssueStatus.SENDING)
        .execution_options(synchronize_session=False)
    )
    if _rowcount(result) != 1:
        return False
    ensure_record(session, issue_id)
    session.execute(
        update(IssueSchedule)
        .where(IssueSchedule.issue_id == issue_id)
        .values(fired_for=instant, fired_at=now, fired_by=owner, note="")
        .execution_options(synchronize_session=False)
    )
    return True


def send_statuses(session: Session, *issue_statuses: str) -> dict[str, str]:
    """Per slug, the status of the send of each issue in ``issue_statuses`` that has one."""
    rows = session.execute(
        select(Issue.slug, Send.status)
        .join(Send, Send.issue_slug == Issue.slug)
        .where(Issue.status.in_(issue_statuses))
    )
    return {slug: status for slug, status in rows}


def send_status(session: Session, slug: str) -> str | None:
    """The status of the delivery engine's send of ``slug``, ``None`` if it has none."""
    return session.scalar(select(Send.status).where(Send.issue_slug == slug))


def set_status(
    session: Session, issue_id: int, *, to: str, only_from: tuple[str, ...], note: str = ""
) -> bool:
    """Move the issue to ``to`` if it is in one of ``only_from``; record ``note``."""
    result = session.execute(
        update(Issue)
        .where(Issue.id == issue_id, Issue.status.in_(only_from))
        .values(status=to)
        .execution_options(synchronize_session=False)
    )
    if _rowcount(result) != 1:
        return False
    ensure_record(session, issue_id)
    session.execute(
        update(IssueSchedule)
        .where(IssueSchedule.issue_id == issue_id)
        .values(note=note)
        .execution_options(synchronize_session=False)
    )
    return True


def set_override(
    session: Session, issue_id: int, *, at: datetime | None, by: str, now: datetime
) -> None:
    """Record (or with ``at=None`` clear) an editor's date override."""
    session.execute(
        update(Issue)
        .where(Issue.id == issue_id)
        .values(scheduled_at_override=at)
        .execution_options(synchronize_session=False)
    )
    ensure_record(session, issue_id)
    session.execute(
        update(IssueSchedule)
        .where(IssueSchedule.issue_id == issue_id)
        .values(override_by=by if at else "", override_set_at=now if at else None)
        .execution_options(synchronize_session=False)
    )


def rearm_missed(session: Session, *, now: datetime) -> list[str]:
    """Put back to ``scheduled`` missed issues whose instant moved into the future."""
    instant = func.coalesce(Issue.scheduled_at_override, Issue.publish_at)
    slugs = list(
        session.scalars(
            select(Issue.slug).where(and_(Issue.status == IssueStatus.MISSED, instant > now))
        )
    )
    if slugs:
        session.execute(
            update(Issue)
            .where(Issue.slug.in_(slugs), Issue.status == IssueStatus.MISSED)
            .values(status=IssueStatus.SCHEDULED)
            .execution_options(synchronize_session=False)
        )
    return slugs


def _rowcount(result: Result[Any]) -> int:
    return cast(CursorResult[Any], result).rowcount
