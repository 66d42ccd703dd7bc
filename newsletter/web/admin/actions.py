"""What the editors' dashboard does: each action calls the owning area's service once
and writes one ``admin_action`` event to the log, in the same transaction when it can.

Long work (a send, a resume) runs on the app's small background executor so the page
answers at once; the send page then follows its progress.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from newsletter import db
from newsletter.accounts import store as account_store
from newsletter.accounts.models import AdminSessionRow
from newsletter.accounts.service import Account
from newsletter.catalog import load_issue
from newsletter.check import CheckReport, check_issue
from newsletter.delivery import engine
from newsletter.delivery import store as delivery_store
from newsletter.delivery.models import SendStatus
from newsletter.delivery.reports import prefix_for_test_copy, sending_seconds, wave_state
from newsletter.delivery.transactional import send_transactional
from newsletter.errors import SendStateError
from newsletter.events.store import count_events, outcome_counts
from newsletter.models import IssueStatus
from newsletter.render import preview_values, render_issue
from newsletter.scheduler import store as schedule_store
from newsletter.scheduler.instants import parse_instant
from newsletter.scheduler.service import SCHEDULABLE, ScheduleResult, cancel_issue, schedule_issue
from newsletter.services import Services
from newsletter.timing import waves
from newsletter.timing.guard import refuse_send_in_quiet_hours
from newsletter.tracking.privacy import erase_clicks
from newsletter.web.admin import store as admin_store
from newsletter.web.admin.auth import SESSION_MAX_AGE, AdminSession
from subscribers.addresses import parse_address
from subscribers.bulk import ImportSummary, import_csv
from subscribers.db import utcnow
from subscribers.events import How
from subscribers.privacy import erase
from subscribers.queries import count_eligible
from subscribers.service import unsubscribe

log = logging.getLogger("newsletter.admin")

#: At most this many addresses per test send (it is a preview, not a mailing).
MAX_TEST_ADDRESSES = 10


def record(services: Services, action: str, *, actor: str, **detail: Any) -> None:
    """Log one admin action on its own (for actions whose service owns its transaction)."""
    with db.transaction(services.sessions) as session:
        admin_store.record_admin_action(session, action, actor=actor, detail=detail)


def start_session(services: Services, editor: AdminSession, account: Account, *, ip: str) -> None:
    """Record a new login session of ``account`` server-side, with the ``login`` action."""
    now = utcnow()
    expires_at = now + timedelta(seconds=SESSION_MAX_AGE)
    with db.transaction(services.sessions) as session:
        admin_store.start_session(
            session, editor.key, account_id=account.id, now=now, expires_at=expires_at, ip=ip
        )
        admin_store.record_admin_action(session, "login", actor=account.actor, detail={"ip": ip})


def session_account(services: Services, editor: AdminSession) -> Account | None:
    """The account of the signed cookie's session while the session is on record (not
    ended, not expired, its account not removed); else None."""
    with services.sessions() as session:
        row = account_store.session_account(session, editor.key, now=utcnow())
        return Account.of(row) if row is not None else None


def end_session(services: Services, editor: AdminSession) -> None:
    """Logout: end the session server-side, so its cookie no longer works anywhere."""
    with db.transaction(services.sessions) as session:
        admin_store.end_session(session, editor.key, now=utcnow())
        admin_store.record_admin_action(session, "logout", actor=editor.actor)


def my_sessions(services: Services, editor: AdminSession) -> list[AdminSessionRow]:
    """The account's active sessions, newest first."""
    with services.sessions() as session:
        return account_store.active_sessions(session, editor.account_id, now=utcnow())


def end_other_sessions(services: Services, editor: AdminSession) -> int:
    """End every session of the account but this one; how many ended."""
    with db.transaction(services.sessions) as session:
        ended = account_store.end_sessions(
            session, editor.account_id, now=utcnow(), keep=editor.key
        )
        admin_store.record_admin_action(
            session, "sessions_ended", actor=editor.actor, detail={"count": ended}
        )
    return ended


def login_failed(services: Services, *, ip: str, limited: bool) -> None:
    """Count a failed login (one row per address and hour, not one log line per attempt)."""
    with db.transaction(services.sessions) as session:
        admin_store.count_login_failure(session, ip, now=utcnow(), limited=limited)


def login_failures(services: Services, *, hours: int = 24) -> admin_store.LoginFailures:
    """Failed logins of the last ``hours`` hours, summed for the issues page."""
    with services.sessions() as session:
        return admin_store.login_failures(session, since=utcnow() - timedelta(hours=hours))


def preview_html(services: Services, slug: str) -> tuple[str, str, str]:
    """(subject, html, text) of the issue as a reader would get it, with stand-in values.

    The slug is resolved through the catalog (:func:`load_issue`): never as a file path.
    """
    rendered = render_issue(services.settings, load_issue(services, slug))
    html, text = rendered.personalize(preview_values(services.settings, slug))
    return rendered.subject, html, text


def run_check(services: Services, slug: str, *, actor: str) -> CheckReport:
    """The preflight check of the issue file (logged)."""
    report = check_issue(services.settings, load_issue(services, slug))
    record(services, "check", actor=actor, slug=slug, ok=report.ok, errors=len(report.errors))
    return report


def parse_addresses(text: str) -> list[str]:
    """The valid, distinct addresses in ``text`` (commas, spaces or lines between them)."""
    found: list[str] = []
    for part in re.split(r"[\s,;]+", text):
        if part:
            address = parse_address(part).email
            if address not in found:
                found.append(address)
    if not found:
        raise SendStateError("give at least one address for the test send")
    if len(found) > MAX_TEST_ADDRESSES:
        raise SendStateError(f"at most {MAX_TEST_ADDRESSES} addresses per test send")
    return found


def send_test(services: Services, slug: str, *, addresses: list[str], actor: str) -> list[str]:
    """Send the issue to ``addresses`` now, outside the ledger, from the newsletter's sender;
    subject marked ``[테스트]``/``[Test]`` (see ``prefix_for_test_copy``)."""
    rendered = render_issue(services.settings, load_issue(services, slug))
    html, text = rendered.personalize(preview_values(services.settings, slug))
    subject = prefix_for_test_copy(rendered.lang) + rendered.subject
    for address in addresses:
        send_transactional(
            services,
            to=address,
            subject=subject,
            html=html,
            text=text,
            newsletter_id=rendered.newsletter_id,
        )
    record(services, "test_send", actor=actor, slug=slug, to=addresses)
    return addresses


def schedule(services: Services, slug: str, *, at: str, actor: str) -> ScheduleResult:
    """Schedule at ``at`` (a wall time in the site's zone, or ISO-8601), or at the file's date."""
    instant = parse_instant(at, services.settings.site.tz) if at.strip() else None
    result = schedule_issue(services, slug, at=instant, by=actor)
    record(services, "schedule", actor=actor, slug=slug, at=result.as_dict()["send_at"])
    return result


def cancel(services: Services, slug: str, *, actor: str) -> ScheduleResult:
    """Cancel a scheduled issue."""
    result = cancel_issue(services, slug, by=actor)
    record(services, "cancel", actor=actor, slug=slug)
    return result


def audience(services: Services, newsletter_id: str) -> int:
    """How many people would receive an issue of ``newsletter_id`` now."""
    with services.sessions() as session:
        return count_eligible(session, newsletter_id)


def send_now(
    services: Services, slug: str, *, executor: Executor, actor: str, force: bool = False
) -> int:
    """Start sending ``slug`` now (in the background); returns the send id.

    The issue moves to ``sending`` first, so the scheduler follows this send instead of
    firing its own at the file's date (one send per issue either way). Inside the
    newsletter's quiet hours it raises ``QuietHoursError`` unless ``force``.
    """
    if not force:
        refuse_send_in_quiet_hours(services, slug)
    with db.transaction(services.sessions) as session:
        issue = schedule_store.issue_by_slug(session, slug)
        if issue is None or issue.status not in (*SCHEDULABLE, IssueStatus.SENDING):
            status = issue.status if issue else "unknown"
            raise SendStateError(f"{slug} cannot be sent now (it is {status})")
        schedule_store.set_status(
            session,
            issue.id,
            to=IssueStatus.SENDING,
            only_from=SCHEDULABLE,
            note=f"sent by {actor}",
        )
        admin_store.record_admin_action(
            session,
            "send_now",
            actor=actor,
            detail={"slug": slug},
            newsletter_id=issue.newsletter_id,
        )
    send_id = engine.create_send(services, slug)
    # The engine moves the issue to ``sent`` with its send (store.mirror_issue_status).
    executor.submit(_background, engine.start_send, services, slug)
    return send_id


def pause(services: Services, send_id: int, *, actor: str) -> None:
    """Pause a running send; its runner stops before the next batch."""
    with db.transaction(services.sessions) as session:
        changed = delivery_store.set_send_status(
            session,
            send_id,
            SendStatus.PAUSED,
            now=utcnow(),
            error=f"paused by {actor}",
            only_from=[SendStatus.SENDING, SendStatus.QUEUED, SendStatus.WAITING],
        )
        if not changed:
            raise SendStateError(f"send {send_id} is not running")
        admin_store.record_admin_action(session, "pause", actor=actor, detail={"send_id": send_id})


def resume(services: Services, send_id: int, *, executor: Executor, actor: str) -> None:
    """Resume a paused or failed send in the background."""
    result = engine.send_result(services, send_id)
    if result.status not in (SendStatus.PAUSED, SendStatus.FAILED, SendStatus.QUEUED):
        raise SendStateError(f"send {send_id} is {result.status}: nothing to resume")
    record(services, "resume", actor=actor, send_id=send_id)
    executor.submit(_background, engine.resume_send, services, send_id)


def _background(call: Callable[..., object], *args: Any) -> None:
    try:
        call(*args)
    except Exception:  # the send page shows the send's state; the log keeps the why
        log.exception("background %s failed", getattr(call, "__name__", call))


@dataclass(frozen=True)
class SendReport:
    """A send's progress and, once the provider reported back, what became of it."""

    send_id: int
    slug: str
    newsletter_id: str
    status: str
    total: int
    counts: dict[str, int]
    outcomes: dict[str, int]
    unsubscribed: int
    error: str
    started_at: datetime | None
    finished_at: datetime | None
    timeline: list[tuple[int, int]] = field(default_factory=list)
    #: Time spent sending (the union of the batches' spans; see delivery.reports).
    sending_seconds: float = 0.0
    #: Waves (docs/delivery.md): (due instant or None, rows, counts, state); empty when
    #: every row was due at once.
    waves: list[tuple[datetime | None, int, dict[str, int], str]] = field(default_factory=list)
    #: When a ``waiting`` send goes on.
    next_due_at: datetime | None = None

    @property
    def settled(self) -> int:
        """Deliveries the backend answered for (accepted or failed)."""
        return self.counts.get("accepted", 0) + self.counts.get("failed", 0)

    @property
    def remaining(self) -> int:
        """Deliveries not yet attempted or in flight."""
        return self.counts.get("pending", 0) + self.counts.get("sending", 0)

    @property
    def running(self) -> bool:
        """Whether the page should keep refreshing."""
        return self.status in (SendStatus.QUEUED, SendStatus.SENDING)

    @property
    def rate_per_s(self) -> float:
        """Deliveries per second of time spent sending (not waiting or paused)."""
        if self.sending_seconds <= 0 or self.settled == 0:
            return 0.0
        return round(self.settled / self.sending_seconds, 1)


def send_report(services: Services, send_id: int) -> SendReport:
    """Everything the send page shows."""
    result = engine.send_result(services, send_id)
    with services.sessions() as session:
        send = delivery_store.get_send(session, send_id)
        assert send is not None  # send_result raised otherwise
        since = send.started_at or send.created_at
        until = admin_store.next_send_start(session, send)
        provider = count_events(session, send_id=send_id)
        return SendReport(
            send_id=send_id,
            slug=send.issue_slug,
            newsletter_id=send.newsletter_id,
            status=result.status,
            total=result.total,
            counts=result.counts,
            outcomes=outcome_counts(session, send_id),
            unsubscribed=admin_store.unsubscribed_after(
                session, send.newsletter_id, since=since, until=until
            )
            + sum(provider.get(kind, 0) for kind in ("unsubscribed", "group_unsubscribed")),
            error=result.error,
            started_at=send.started_at,
            finished_at=send.finished_at,
            timeline=admin_store.send_timeline(session, send_id),
            sending_seconds=sending_seconds(delivery_store.batch_spans(session, send_id)),
            waves=_waves(session, send_id),
            next_due_at=send.next_due_at,
        )


def _waves(
    session: Session, send_id: int
) -> list[tuple[datetime | None, int, dict[str, int], str]]:
    found = waves.progress(session, send_id)
    if all(wave.due_at is None for wave in found):
        return []
    return [(w.due_at, w.total, w.counts, wave_state(w.counts)) for w in found]


def unsubscribe_person(services: Services, subscriber_id: int, *, actor: str) -> list[str]:
    """Unsubscribe one person from every newsletter."""
    with db.transaction(services.sessions) as session:
        left = unsubscribe(session, subscriber_id=subscriber_id, how=How.ADMIN, actor=actor)
        admin_store.record_admin_action(
            session,
            "unsubscribe",
            actor=actor,
            subscriber_id=subscriber_id,
            detail={"newsletters": left},
        )
    return left


def erase_person(services: Services, subscriber_id: int, *, actor: str) -> None:
    """Erase one person (the hashed address stays suppressed)."""
    with db.transaction(services.sessions) as session:
        erase(session, subscriber_id=subscriber_id, how=How.ADMIN, actor=actor)
        erase_clicks(session, subscriber_id)
        admin_store.record_admin_action(session, "erase", actor=actor, subscriber_id=subscriber_id)


def import_subscribers(
    services: Services,
    path: Path,
    *,
    newsletter_id: str,
    confirmed: bool,
    partial: bool,
    actor: str,
) -> ImportSummary:
    """Import a CSV file with the CLI's rules (all-or-nothing unless ``partial``)."""
    with db.transaction(services.sessions) as session:
        summary = import_csv(
            session,
            path,
            newsletter_id=newsletter_id,
            confirmed=confirmed,
            partial=partial,
            actor=actor,
        )
        admin_store.record_admin_action(
            session,
            "import",
            actor=actor,
            newsletter_id=newsletter_id,
            detail={"imported": summary.imported, "invalid": summary.invalid},
        )
    return summary
