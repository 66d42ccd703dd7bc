"""One runner's batch loop over a claimed send, and what every runner shares.

Below ``engine`` (which claims sends) and ``helpers`` (which start more runners on one
send): both import this module, it imports neither, so imports only run downward.

    run_batches(services, send_id, worker=…)   claim → send → settle until nothing is left
    finish(services, send_id)                  mark the send ``sent`` when nothing is left
    reap_dead_runners(services, send_id)       settle what proved-dead runners had in flight

Each runner holds its liveness lock (``liveness.hold``) while it runs, and every
:data:`REAP_EVERY` it probes the other runners that have rows in flight: a dead one's rows
become ``unknown`` at once, so the live runners finish the send without waiting for the
stale interval.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from newsletter import db

# A module import: newsletter.abtest imports the delivery package back (its models).
from newsletter.abtest import service as abtest
from newsletter.delivery import liveness, store
from newsletter.delivery.backends import Backend, make_backend
from newsletter.delivery.content import Renderer, issue_content, recipient_for, render_for_send
from newsletter.delivery.links import Links
from newsletter.delivery.models import Send, SendStatus
from newsletter.delivery.pipeline import Pipeline
from newsletter.delivery.retry import RetryPolicy
from newsletter.errors import SendNotFound
from newsletter.services import Services
from newsletter.timing import store as timing_store
from newsletter.timing import waves
from newsletter.tracking.service import ReaderParts, tracked_issue
from subscribers.db import utcnow

log = logging.getLogger("newsletter.delivery")

#: Called after each batch with (settled so far in this run, the send's total).
Progress = Callable[[int, int], None]
#: How often (seconds) a running runner probes the other runners of its send.
REAP_EVERY = 1.0


@dataclass(frozen=True)
class SendResult:
    """Where a send stands after a call: ``ran`` says whether this call did the sending."""

    send_id: int
    slug: str
    status: str
    total: int
    counts: dict[str, int] = field(default_factory=dict)
    ran: bool = False
    error: str = ""

    @property
    def unknown(self) -> int:
        """Deliveries whose outcome is unknown (a process died mid-request)."""
        return self.counts.get("unknown", 0)


@dataclass(frozen=True)
class RunOptions:
    """How to run a send; the defaults come from settings and the configured backend."""

    backend: Backend | None = None
    renderer: Renderer = render_for_send
    policy: RetryPolicy | None = None
    progress: Progress | None = None
    concurrency: int | None = None
    #: Extra processes sending the same send (``newsletter.delivery.helpers``); 0: none.
    helper_processes: int = 0


def new_worker_id() -> str:
    """A unique name for a runner (written on claimed rows and the send)."""
    return uuid.uuid4().hex[:16]


def run_batches(
    services: Services, send_id: int, *, worker: str, options: RunOptions | None = None
) -> None:
    """Run ``worker``'s batch loop on the send until nothing is left, or it is paused/cancelled.

    Holds the runner's liveness lock throughout; settles proved-dead runners' rows at the end.
    """
    opts = options or RunOptions()
    with liveness.hold(services, worker):
        send = _get(services, send_id)
        settings = services.settings
        rendered = opts.renderer(services, send.issue_slug)
        if rendered.ad and not send.ad:
            # ``ad: true`` added after the send was created: from now on every claim (this
            # runner's and any other's) keeps only consenters, before anything is claimed.
            with db.transaction(services.sessions) as session:
                store.mark_send_ad(session, send_id)
        rendered, track = tracked_issue(services, rendered, send_id=send_id)
        links = Links(settings, services.tokens, send.newsletter_id, services.verp)
        backend = opts.backend or make_backend(settings)
        rate = settings.delivery.rate_limit_per_second
        pipeline = Pipeline(
            services=services,
            backend=backend,
            policy=opts.policy or RetryPolicy.from_settings(settings.delivery.retry),
            send_id=send_id,
            content=issue_content(services, rendered, links=links, send_id=send_id),
            rate_per_second=rate,
        )
        loop = _BatchLoop(
            services=services,
            send=send,
            worker=worker,
            pipeline=pipeline,
            links=links,
            name_fallback=rendered.name_fallback,
            track=track,
            ab=abtest.runner_subjects(services, send_id),
            progress=opts.progress,
            batch_size=_batch_size(settings.delivery.batch_size, backend.max_batch, rate),
        )
        try:
            loop.run(opts.concurrency or backend.parallel_batches)
        finally:
            if opts.backend is None:
                backend.close()
        reap_dead_runners(services, send_id, exclude=[worker])


def reap_dead_runners(services: Services, send_id: int, *, exclude: Iterable[str] = ()) -> int:
    """Rows in flight of runners proved dead become ``unknown``; how many rows changed."""
    with services.sessions() as session:
        runners = set(store.runners_in_flight(session, send_id)) - set(exclude)
    gone = liveness.dead(services, sorted(runners))
    if not gone:
        return 0
    with db.transaction(services.sessions) as session:
        changed = store.mark_in_flight_unknown(session, send_id, now=utcnow(), workers=gone)
    liveness.forget(services, gone)
    return changed


def _batch_size(configured: int, backend_max: int, rate: float) -> int:
    # Under a rate limit a batch is at most one second of budget, so sending stays smooth.
    size = min(configured, backend_max)
    return max(1, min(size, int(rate))) if rate > 0 else size


@dataclass
class _BatchLoop:
    """Claim → send → settle, in ``concurrency`` threads, until nothing is left."""

    services: Services
    send: Send
    worker: str
    pipeline: Pipeline
    links: Links
    name_fallback: str
    track: ReaderParts | None
    #: An A/B send's subjects: each row gets its variant's (newsletter/abtest/).
    ab: abtest.RunnerSubjects | None
    progress: Progress | None
    batch_size: int
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    done: int = 0
    clean: bool = False  # the send's error streak is known to be zero
    next_reap: float = 0.0

    @property
    def max_lateness(self) -> timedelta:
        """How late a wave may be reached and still be sent (``scheduler.max_lateness``)."""
        return self.services.settings.scheduler.max_lateness

    def run(self, concurrency: int) -> None:
        if concurrency <= 1:
            self._loop()
            return
        with ThreadPoolExecutor(concurrency, thread_name_prefix="send") as pool:
            futures = [pool.submit(self._loop) for _ in range(concurrency)]
        for future in futures:
            future.result()

    def _loop(self) -> None:
        try:
            while not self.stop.is_set() and self._one_batch():
                pass
        except BaseException:
            self.stop.set()
            raise

    def _one_batch(self) -> bool:
        self._reap_now_and_then()
        batch_id = uuid.uuid4().hex
        now = utcnow()
        with db.transaction(self.services.sessions) as session:
            if store.heartbeat(session, self.send.id, worker=self.worker, now=now) != "sending":
                return False
            # Waves: reach what fell due (lateness rule, hooks), claim only reached rows.
            due_before = waves.reach(session, self.send.id, now=now, max_lateness=self.max_lateness)
            claimed, rows = store.claim_batch(
                session,
                self.send.id,
                newsletter_id=self.send.newsletter_id,
                batch=batch_id,
                worker=self.worker,
                limit=self.batch_size,
                now=now,
                due_before=due_before,
            )
        if not claimed:
            return False
        if self.track is not None:
            self.track.prepare(row.email for row in rows)
        recipients = [
            recipient_for(
                row,
                links=self.links,
                name_fallback=self.name_fallback,
                delivery_id=row.delivery_id,
                track=self.track,
                subject=self.ab.subject(row) if self.ab else "",
                group=abtest.reader_group(row) if self.ab else None,
            )
            for row in rows
        ]
        outcome = self.pipeline.run(batch_id, recipients)
        # The pause rule counts error events: each refused recipient, and each lost answer
        # once (a whole batch settled `unknown` is one event, not one per recipient).
        errors = outcome.failed + outcome.lost_answers
        self._after(claimed, outcome.accepted, errors, outcome.pause_reason, outcome.errors)
        self._log_batch(now, claimed)
        return not outcome.pause_reason

    def _reap_now_and_then(self) -> None:
        with self.lock:
            now = time.monotonic()
            if now < self.next_reap:
                return
            self.next_reap = now + REAP_EVERY
        try:
            reap_dead_runners(self.services, self.send.id, exclude=[self.worker])
        except Exception:  # a failed probe must not stop the sending; the next one retries
            log.exception("delivery: probing the other runners of send %d failed", self.send.id)

    def _log_batch(self, started: datetime, recipients: int) -> None:
        """Record the batch's time span: ``sends show`` rates over time spent sending."""
        with db.transaction(self.services.sessions) as session:
            store.record_batch(
                session,
                self.send.id,
                worker=self.worker,
                started_at=started,
                finished_at=utcnow(),
                recipients=recipients,
            )

    def _after(
        self, claimed: int, accepted: int, failed: int, pause_reason: str, errors: list[str]
    ) -> None:
        if failed or pause_reason or not self.clean:
            self._record(accepted, failed, pause_reason, errors)
        with self.lock:
            self.done += claimed
            if self.progress is not None:
                self.progress(self.done, self.send.total)

    def _record(self, accepted: int, failed: int, pause_reason: str, errors: list[str]) -> None:
        """Count errors on the send (shared by workers) and pause it when the rule says so."""
        limit = self.services.settings.delivery.pause_after_errors
        with db.transaction(self.services.sessions) as session:
            streak = store.record_errors(session, self.send.id, failed=failed, reset=accepted > 0)
            # While nothing fails there is no streak to reset: skip the write per batch.
            self.clean = streak == 0
            reason = pause_reason
            if not reason and limit and streak >= limit:
                reason = (
                    f"paused after {streak} errors in a row; last: {errors[-1] if errors else ''}"
                )
            if reason:
                store.set_send_status(
                    session,
                    self.send.id,
                    SendStatus.PAUSED,
                    now=utcnow(),
                    error=reason,
                    only_from=[SendStatus.SENDING],
                )


def finish(services: Services, send_id: int) -> None:
    """Mark the send ``sent`` when it is still sending and nothing is left.

    Whichever runner finishes last does it: on PostgreSQL workers that joined the send
    (``worker.join_next``) finish it as well as the one that claimed it. When what is
    left is only rows due later (waves), the send becomes ``waiting`` instead: nobody
    runs it until its next due instant, when a scheduler or worker takes it again
    (``engine.abandoned_sends``).
    """
    with db.transaction(services.sessions) as session:
        send = store.get_send(session, send_id)
        if send is None or send.status != SendStatus.SENDING:
            return
        if store.has_active_rows(session, send_id):
            due = timing_store.next_due(session, send_id)
            if due is not None and not timing_store.has_claimable_or_in_flight(
                session, send_id, due
            ):
                store.set_send_status(
                    session, send_id, SendStatus.WAITING, now=utcnow(), only_from=["sending"]
                )
                log.info("delivery: send %d waits for its next wave at %s", send_id, due)
            return  # another runner still has rows pending or in flight, or rows due later
        store.set_send_status(
            session, send_id, SendStatus.SENT, now=utcnow(), only_from=[SendStatus.SENDING]
        )
        store.mirror_issue_status(session, send_id)


def send_result(services: Services, send_id: int, *, ran: bool = False) -> SendResult:
    """The send's current state and its deliveries counted by status."""
    with services.sessions() as session:
        send = store.get_send(session, send_id)
        if send is None:
            raise SendNotFound(f"no send with id {send_id}")
        return SendResult(
            send_id=send.id,
            slug=send.issue_slug,
            status=send.status,
            total=send.total,
            counts=store.counts(session, send_id),
            ran=ran,
            error=send.error,
        )


def _get(services: Services, send_id: int) -> Send:
    with services.sessions() as session:
        send = store.get_send(session, send_id)
    if send is None:
        raise SendNotFound(f"no send with id {send_id}")
    return send
