"""The running scheduler: APScheduler jobs rebuilt from the database, which is the truth.

Three kinds of jobs run in one ``BackgroundScheduler``:

- ``issue:SLUG`` — one date job per ``scheduled`` issue, at its instant; it claims the
  issue (``scheduled`` → ``sending`` in one conditional UPDATE, ``store.claim_firing``)
  and calls ``send(services, slug)`` (the delivery engine's ``start_send``);
- ``poll`` — every ``poll_interval`` (1 s): reconcile the jobs with the database, so a
  ``newsletter schedule``/``cancel``/``issues sync`` run elsewhere is picked up at once,
  and mirror each send's outcome onto its issue;
- ``sync`` — every ``scheduler.sync_interval``: sync ``issues/`` into the database; a
  watcher (:mod:`newsletter.scheduler.watch`) also syncs as soon as a file there is saved;
- ``ad_notices`` — every few minutes: the advertising consent notices
  (:mod:`newsletter.advertising.notices`);
- ``feeds`` — every minute (or ``feeds.poll_interval`` when shorter): poll the due feeds
  into ``issues/`` (:mod:`newsletter.automations.feeds`); ``mailbox`` likewise for bounces;
- ``sunset`` — every ``scheduler.sunset_interval`` (first a minute after start), when a
  newsletter has ``sunset:``: :mod:`newsletter.automations.sunset.service`.

Nothing is kept only in memory: after a restart the first reconcile sends what fell due
within ``scheduler.max_lateness`` and marks the rest ``missed``.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.exc import OperationalError

from newsletter.db import transaction
from newsletter.models import IssueStatus
from newsletter.scheduler import store
from newsletter.scheduler.plan import Action, Decision, decide, missed_note
from newsletter.scheduler.watch import IssuesWatcher
from newsletter.services import Services
from subscribers.db import utcnow

log = logging.getLogger("newsletter.scheduler")

SendFunction = Callable[[Services, str], object]
#: The sends whose runners are gone (the delivery engine's ``abandoned_sends``).
AbandonedFunction = Callable[[Services], Sequence[int]]
#: Continue one of them (the delivery engine's ``take_over``; None if a runner still runs).
TakeOverFunction = Callable[[Services, int], object]
SyncFunction = Callable[[Services], object]
Clock = Callable[[], datetime]

JOB_PREFIX = "issue:"
#: How long after a start that created no send the issue is tried again.
DEFAULT_LEASE = timedelta(minutes=2)
#: How often serve looks for due feeds (each feed is polled every feeds.poll_interval).
FEEDS_TICK = timedelta(minutes=1)
#: Issue statuses the scheduler may still change.
OPEN = (IssueStatus.SCHEDULED, IssueStatus.MISSED, IssueStatus.SENDING)
#: A finished send, as the status its issue takes (any other send status: ``sending``).
SETTLED = {"sent": IssueStatus.SENT, "cancelled": IssueStatus.CANCELLED}


@dataclass(frozen=True)
class Firing:
    """One send this scheduler started: which issue, its instant, and how late it began."""

    slug: str
    instant: datetime
    started_at: datetime

    @property
    def lateness(self) -> timedelta:
        """How long after its instant the send was started."""
        return self.started_at - self.instant


class IssueScheduler:
    """Keeps one job per future, non-draft issue and sends each at its instant."""

    def __init__(
        self,
        services: Services,
        *,
        send: SendFunction,
        sync: SyncFunction | None,
        clock: Clock = utcnow,
        poll_interval: timedelta = timedelta(seconds=1),
        lease: timedelta = DEFAULT_LEASE,
        abandoned: AbandonedFunction | None = None,
        take_over: TakeOverFunction | None = None,
    ) -> None:
        self.services = services
        self._send = send
        self._abandoned = abandoned
        self._take_over = take_over
        self._taking_over: set[int] = set()
        self._sync = sync
        self._clock = clock
        self._poll_interval = poll_interval
        self._lease = lease
        self._max_lateness = services.settings.scheduler.max_lateness
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.firings: list[Firing] = []
        self.last_sync_report: object = None
        self._reported_after_send: set[str] = set()
        self._reported_step_errors: set[str] = set()
        self._lock = threading.Lock()
        self._sync_lock = threading.Lock()  # the watcher's sync and the periodic one
        self._watcher: IssuesWatcher | None = None
        self._aps = BackgroundScheduler(
            timezone=UTC,
            executors={"default": ThreadPoolExecutor(max_workers=4)},
            # Never drop a late job (APScheduler's default grace is 1 s): `fire` itself
            # applies scheduler.max_lateness, so a busy moment cannot lose an issue.
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Sync, rebuild the jobs from the database, and start the background thread."""
        self.sync_issues()
        self._aps.add_job(
            self.reconcile, "interval", seconds=self._poll_interval.total_seconds(), id="poll"
        )
        sync_seconds = self.services.settings.scheduler.sync_interval.total_seconds()
        if self._sync is not None and sync_seconds > 0:
            self._aps.add_job(self.sync_issues, "interval", seconds=sync_seconds, id="sync")
        mailbox = self.services.settings.delivery.mailbox
        if mailbox.configured:
            every = mailbox.interval.total_seconds()
            self._aps.add_job(self.read_mailbox, "interval", seconds=every, id="mailbox")
        self._add_ad_notices_job()
        self._add_sunset_job()
        self._add_sequences_job()
        self._add_feeds_job()
        self._aps.start()
        if self._sync is not None:
            settings = self.services.settings
            self._watcher = IssuesWatcher(settings.path(settings.issues_dir), self.sync_issues)
            self._watcher.start()
        log.info("scheduler started (%s), %d issue(s) planned", self.owner, len(self.planned()))

    def _add_ad_notices_job(self) -> None:
        """``ad_notices``: the advertising notices (docs/advertising.md), every
        ``scheduler.ad_notice_interval``."""
        from newsletter.advertising.notices import notices_job

        every = self.services.settings.scheduler.ad_notice_interval.total_seconds()
        self._aps.add_job(
            notices_job, "interval", args=[self.services], seconds=every, id="ad_notices"
        )

    def read_mailbox(self) -> None:
        """One pass over the bounce mailbox ``delivery.mailbox`` (a Maildir or IMAP folder,
        docs/delivery.md); a failure is logged and the next pass tries again."""
        from newsletter.errors import NewsletterError
        from newsletter.mailbox.configured import process_configured

        if not self.services.settings.delivery.mailbox.configured:
            return
        try:
            process_configured(self.services)
        except NewsletterError as exc:  # the server is down or refuses us: one line, no trace
            log.warning("%s; the next pass tries again", exc)
        except Exception:
            log.exception("mailbox: pass failed; the next one tries again")

    def _add_sunset_job(self) -> None:
        settings = self.services.settings
        if not any(n.sunset is not None for n in settings.newsletters):
            return
        every = settings.scheduler.sunset_interval.total_seconds()
        # The first pass a minute after start (sooner with a shorter interval): a process
        # restarted more often than hourly still runs it.
        first = datetime.now(UTC) + timedelta(seconds=min(60.0, every))
        self._aps.add_job(
            self.run_sunset, "interval", seconds=every, id="sunset", next_run_time=first
        )

    def run_sunset(self) -> None:
        """One sunset run over every newsletter with ``sunset:`` (docs/automations.md); a
        failure is logged and the next run tries again."""
        from newsletter.automations.sunset.service import run_all

        try:
            run_all(self.services)
        except Exception:
            log.exception("sunset: run failed; the next one tries again")

    def _add_sequences_job(self) -> None:
        # Only with the real delivery engine (a scheduler with a stand-in send has no takeover).
        every = self.services.settings.sequences.interval.total_seconds()
        if every > 0 and self._take_over is not None:
            first = utcnow()  # at once: a restarted serve continues the walk without waiting
            self._aps.add_job(
                self.walk_sequences, "interval", seconds=every, id="sequences", next_run_time=first
            )

    def walk_sequences(self) -> None:
        """Send the sequence steps that fell due (docs/automations.md); a failure is logged
        and the next walk tries again. A step file's error is logged once per process."""
        from newsletter.automations.sequences.service import walk

        try:
            report = walk(self.services)
        except Exception:
            log.exception("sequences: walk failed; the next one tries again")
            return
        for error in report.sync.errors:
            if error not in self._reported_step_errors:
                self._reported_step_errors.add(error)
                log.warning("sequences: %s", error)

    def _add_feeds_job(self) -> None:
        every = min(self.services.settings.feeds.poll_interval, FEEDS_TICK).total_seconds()
        if every > 0:
            self._aps.add_job(self.poll_feeds, "interval", seconds=every, id="feeds")

    def poll_feeds(self) -> None:
        """Poll the feeds that are due (docs/automations.md, "Feeds"), then sync at once
        when one wrote an issue file; a failure is logged and the next tick tries again."""
        from newsletter.automations.feeds.service import poll_due

        try:
            reports = poll_due(self.services)
        except Exception:
            log.exception("feeds: polling failed; the next tick tries again")
            return
        if any(report.created or report.updated for report in reports):
            self.sync_issues()

    def shutdown(self) -> None:
        """Stop scheduling; a send already running finishes in its thread."""
        if self._watcher is not None:
            self._watcher.stop()
        if self._aps.running:
            self._aps.shutdown(wait=False)
        log.info("scheduler stopped (%s)", self.owner)

    @property
    def running(self) -> bool:
        """Whether the background thread runs."""
        return bool(self._aps.running)

    def planned(self) -> dict[str, datetime]:
        """The issues with a job, and the instant each job is for."""
        return {
            job.id.removeprefix(JOB_PREFIX): job.args[1]
            for job in self._aps.get_jobs()
            if job.id.startswith(JOB_PREFIX)
        }

    # -- sync and reconcile ------------------------------------------------------------------

    def sync_issues(self) -> None:
        """Sync ``issues/`` into the database (if a sync function is set), then reconcile.

        One sync at a time: the watcher's and the periodic one never overlap.
        """
        with self._sync_lock:
            if self._sync is not None:
                try:
                    self.last_sync_report = self._sync(self.services)
                except Exception:
                    log.exception("scheduler: syncing issues/ failed; keeping the current schedule")
                else:
                    self._log_sync_report(self.last_sync_report)
            self.reconcile()

    def _log_sync_report(self, report: object) -> None:
        for slug in _slugs(report, "rescheduled"):
            log.info("scheduler: %s has a new date in its file", slug)
        for slug in _slugs(report, "cancelled"):
            log.info("scheduler: %s's file is gone: cancelled", slug)
        # A sync reports an edited sent issue every time; say it once per process.
        for slug in set(_slugs(report, "changed_after_send")) - self._reported_after_send:
            self._reported_after_send.add(slug)
            log.warning("scheduler: %s changed after it was sent; it is not sent again", slug)
        for error in _slugs(report, "errors"):
            log.warning("scheduler: issues/ sync: %s", error)

    def reconcile(self) -> None:
        """Make the jobs match the database: add, move, drop, fire what is due, mark missed."""
        with self._lock:
            now = self._clock()
            self._follow_sends(now)
            self._resume_abandoned()
            with transaction(self.services.sessions) as session:
                for slug in store.rearm_missed(session, now=now):
                    log.info(
                        "scheduler: %s was missed, its new instant is ahead: rescheduled", slug
                    )
                issues = store.issues_with_status(session, IssueStatus.SCHEDULED)
            wanted: dict[str, datetime] = {}
            for issue in issues:
                decision = decide(
                    issue, now=now, max_lateness=self._max_lateness, lease=self._lease
                )
                if decision.action == Action.MISS:
                    self._settle(
                        issue, IssueStatus.MISSED, missed_note(decision, self._max_lateness)
                    )
                elif decision.action != Action.HOLD:
                    wanted[issue.slug] = decision.instant
            self._apply(wanted)

    def _apply(self, wanted: dict[str, datetime]) -> None:
        planned = self.planned()
        for slug, instant in planned.items():
            if wanted.get(slug) != instant:
                self._aps.remove_job(JOB_PREFIX + slug)
                log.info("scheduler: %s unplanned (was %s)", slug, instant.isoformat())
        for slug, instant in wanted.items():
            if planned.get(slug) == instant:
                continue
            self._aps.add_job(
                self.fire,
                "date",
                run_date=instant,
                args=[slug, instant],
                id=JOB_PREFIX + slug,
                replace_existing=True,
            )
            log.info("scheduler: %s planned at %s", slug, instant.isoformat())

    def _settle(self, issue: store.ScheduledIssue, status: str, note: str) -> None:
        """Move an issue that has not finished to ``status``, logging a missed one."""
        with transaction(self.services.sessions) as session:
            changed = store.set_status(session, issue.id, to=status, only_from=OPEN, note=note)
        if changed and status == IssueStatus.MISSED:
            log.warning("scheduler: %s missed: %s", issue.slug, note)

    def _follow_sends(self, now: datetime) -> None:
        """Mirror each send onto its issue (whoever started it: the scheduler, `newsletter
        send`, the admin); give back an issue whose claiming process died before its send."""
        with transaction(self.services.sessions) as session:
            sends = store.send_statuses(session, *OPEN)
            issues = store.issues_with_status(session, *OPEN)
        for issue in issues:
            state = sends.get(issue.slug)
            if state is not None:
                target = SETTLED.get(state, IssueStatus.SENDING)
                if target != issue.status:
                    self._settle(issue, target, "")
            elif issue.status == IssueStatus.SENDING and _claim_expired(issue, now, self._lease):
                # A scheduler claimed it, but no send was ever created (that process stopped
                # in between): back to scheduled, and the usual max_lateness rule decides.
                with transaction(self.services.sessions) as session:
                    store.set_status(
                        session,
                        issue.id,
                        to=IssueStatus.SCHEDULED,
                        only_from=(IssueStatus.SENDING,),
                        note="the previous start did not create a send; retrying",
                    )

    def _resume_abandoned(self) -> None:
        """Take over every send left ``sending`` by runners that are gone (in a job each).

        A runner killed mid-send (a ``serve`` SIGKILLed, a machine lost) is proved dead
        through its liveness lock, so the restarted process continues its send at once;
        when death cannot be proved, after the delivery engine's stale interval.
        """
        if self._abandoned is None or self._take_over is None:
            return
        try:
            send_ids = self._abandoned(self.services)
        except Exception:
            log.exception("scheduler: looking for abandoned sends failed")
            return
        for send_id in send_ids:
            if send_id in self._taking_over:
                continue
            self._taking_over.add(send_id)
            self._aps.add_job(self._run_take_over, args=[send_id], id=f"takeover:{send_id}")

    def _run_take_over(self, send_id: int) -> None:
        assert self._take_over is not None
        try:
            log.info("scheduler: send %d has no live runner: taking it over", send_id)
            result = self._take_over(self.services, send_id)
            if result is None:
                log.info("scheduler: send %d was taken over by another process", send_id)
            else:
                log.info(
                    "scheduler: send %d taken over: %s, %s",
                    send_id,
                    getattr(result, "status", "?"),
                    getattr(result, "counts", {}),
                )
        except Exception:
            log.exception("scheduler: taking over send %d failed", send_id)
        finally:
            with self._lock:
                self._taking_over.discard(send_id)

    # -- firing ------------------------------------------------------------------------------

    def fire(self, slug: str, instant: datetime) -> Firing | None:
        """Start the send of ``slug`` for ``instant`` unless it moved, stopped or was taken."""
        started = self._clock()
        lateness = started - instant
        if lateness < timedelta(0):
            return None  # woke early (clock skew): the next reconcile plans it again
        with self.services.sessions() as session:
            issue = store.issue_by_slug(session, slug)
        if issue is None or issue.status != IssueStatus.SCHEDULED or issue.instant != instant:
            return None
        if started - issue.last_instant > self._max_lateness:
            decision = Decision(Action.MISS, instant, started - issue.last_instant)
            self._settle(issue, IssueStatus.MISSED, missed_note(decision, self._max_lateness))
            return None
        if not self._claim(issue.id, instant, started):
            log.info("scheduler: %s already started by another scheduler", slug)
            return None
        firing = Firing(slug, instant, started)
        self.firings.append(firing)
        log.info(
            "scheduler: starting send of %s due %s (late by %.6f s)",
            slug,
            instant.isoformat(),
            lateness.total_seconds(),
        )
        try:
            result = self._send(self.services, slug)
        except Exception as exc:
            log.exception("scheduler: the send of %s failed", slug)
            self._after_failure(issue, exc)
        else:
            _log_finished(slug, result, started, self._clock())
            state = getattr(result, "status", None)
            if state in SETTLED:
                self._settle(issue, SETTLED[state], "")
        return firing

    def _after_failure(self, issue: store.ScheduledIssue, exc: Exception) -> None:
        with transaction(self.services.sessions) as session:
            if store.send_status(session, issue.slug) is not None:
                return  # the send exists: resuming it is the delivery engine's business
            # Nothing went out: scheduled again, retried after the lease within max_lateness.
            store.set_status(
                session,
                issue.id,
                to=IssueStatus.SCHEDULED,
                only_from=(IssueStatus.SENDING,),
                note=f"the send could not start: {exc}"[:500],
            )

    def _claim(self, issue_id: int, instant: datetime, now: datetime) -> bool:
        # SQLite may refuse a write under contention from another process: retry briefly.
        for attempt in range(5):
            try:
                with transaction(self.services.sessions) as session:
                    return store.claim_firing(
                        session, issue_id, instant=instant, now=now, owner=self.owner
                    )
            except OperationalError:
                if attempt == 4:
                    raise
                time.sleep(0.05 * (attempt + 1))
        return False


def _claim_expired(issue: store.ScheduledIssue, now: datetime, lease: timedelta) -> bool:
    # Only a scheduler's own claim (fired_for = this instant) is ever given back: an issue
    # put in `sending` by `newsletter send` or the admin has its send created by them.
    return (
        issue.fired_for == issue.instant
        and issue.fired_at is not None
        and now - issue.fired_at >= lease
    )


def _log_finished(slug: str, result: object, started: datetime, now: datetime) -> None:
    """One line at the end of each send: its id, status and deliveries by outcome."""
    counts = getattr(result, "counts", None) or {}
    shown = ", ".join(f"{key} {value}" for key, value in counts.items() if value) or "empty"
    log.info(
        "scheduler: send %s of %s finished: %s; %s (%.1f s)",
        getattr(result, "send_id", "?"),
        slug,
        getattr(result, "status", "?"),
        shown,
        (now - started).total_seconds(),
    )


def _slugs(report: object, name: str) -> list[str]:
    return [str(item) for item in getattr(report, name, None) or ()]
