"""Sends: created once per issue, claimed atomically, run batch by batch from the ledger.

    start_send(services, slug)        create (idempotent) + claim + fan out + run
    resume_send(services, send_id)    continue a paused/failed/crashed send from the ledger
    run_send(services, send_id, ...)  the batch loop of a send this process has claimed

Claiming a send is one UPDATE … WHERE status = 'queued' (or a dead runner's ``sending``),
so two processes that start the same issue produce one send. The runner writes a
heartbeat on every batch; a ``sending`` send whose heartbeat is older than
:data:`STALE_AFTER` is taken over, its in-flight rows reported as ``unknown``.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from newsletter import db
from newsletter.delivery import store
from newsletter.delivery.backends import Backend, make_backend
from newsletter.delivery.content import Renderer, issue_content, recipient_for, render_for_send
from newsletter.delivery.helpers import join_helpers, start_helpers
from newsletter.delivery.links import Links
from newsletter.delivery.models import Send, SendStatus
from newsletter.delivery.pipeline import Pipeline
from newsletter.delivery.retry import RetryPolicy
from newsletter.errors import SendNotFound, SendStateError
from newsletter.services import Services
from subscribers.db import utcnow

#: A runner that has not written a heartbeat for this long is considered dead.
STALE_AFTER = timedelta(minutes=10)
#: Called after each batch with (settled so far in this run, the send's total).
Progress = Callable[[int, int], None]


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
    """A unique name for this runner (written on claimed rows and the send)."""
    return uuid.uuid4().hex[:16]


def start_send(services: Services, slug: str, *, options: RunOptions | None = None) -> SendResult:
    """Send the issue ``slug`` to its audience unless it is (or was) already being sent.

    Idempotent and race-free: the first caller creates and claims the send; later or
    concurrent callers get its current state with ``ran=False``. A send whose runner died
    is taken over and continued (its in-flight batch reported as ``unknown``).
    """
    opts = options or RunOptions()
    send_id = create_send(services, slug, renderer=opts.renderer)
    worker = new_worker_id()
    if not _claim(services, send_id, worker=worker, stale_before=utcnow() - STALE_AFTER):
        return send_result(services, send_id)
    return run_send(services, send_id, worker=worker, options=opts)


def create_send(services: Services, slug: str, *, renderer: Renderer = render_for_send) -> int:
    """The id of the issue's send, queued now if it has none (idempotent)."""
    with services.sessions() as session:
        existing = store.send_for_issue(session, slug)
    if existing is not None:
        return existing.id
    rendered = renderer(services, slug)
    with db.transaction(services.sessions) as session:
        store.insert_send(
            session,
            slug=slug,
            newsletter_id=rendered.newsletter_id,
            subject=rendered.subject,
            backend=services.settings.delivery.backend,
            now=utcnow(),
        )
        send = store.send_for_issue(session, slug)
        assert send is not None
        return send.id


def resume_send(
    services: Services,
    send_id: int,
    *,
    retry_unknown: bool = False,
    force: bool = False,
    options: RunOptions | None = None,
) -> SendResult:
    """Continue a send from its ledger: paused, failed, queued, or whose runner died.

    ``unknown`` rows stay unknown (and are reported) unless ``retry_unknown``: then they
    are sent again, at the risk of a duplicate. ``force`` takes over a send whose runner
    still looks alive (use only when you know it died).
    """
    send = _get(services, send_id)
    if send.status == SendStatus.CANCELLED:
        raise SendStateError(f"send {send_id} was cancelled")
    worker = new_worker_id()
    statuses = [SendStatus.QUEUED, SendStatus.PAUSED, SendStatus.FAILED]
    if retry_unknown:
        statuses.append(SendStatus.SENT)
    elif send.status == SendStatus.SENT:
        raise SendStateError(f"send {send_id} is already sent (unknown: use --retry-unknown)")
    stale_before = utcnow() if force else utcnow() - STALE_AFTER
    claimed = _claim(
        services,
        send_id,
        worker=worker,
        stale_before=stale_before,
        from_statuses=statuses,
        retry_unknown=retry_unknown,
    )
    if not claimed:
        raise SendStateError(
            f"send {send_id} is {send.status} and its runner looks alive; "
            "wait, or use --force if that process died"
        )
    return run_send(services, send_id, worker=worker, options=options or RunOptions())


def cancel_send(services: Services, send_id: int) -> SendResult:
    """Stop a send that has not finished; its runner stops before the next batch."""
    with db.transaction(services.sessions) as session:
        changed = store.set_send_status(
            session,
            send_id,
            SendStatus.CANCELLED,
            now=utcnow(),
            only_from=[SendStatus.QUEUED, SendStatus.SENDING, SendStatus.PAUSED],
        )
        if changed:
            store.mirror_issue_status(session, send_id)
    if not changed:
        raise SendStateError(
            f"send {send_id} cannot be cancelled ({_get(services, send_id).status})"
        )
    return send_result(services, send_id)


def _claim(
    services: Services,
    send_id: int,
    *,
    worker: str,
    stale_before: datetime,
    from_statuses: list[SendStatus] | None = None,
    retry_unknown: bool = False,
) -> bool:
    """Claim the send, fan it out on its first claim, report a dead runner's batch."""
    now = utcnow()
    statuses = from_statuses or [SendStatus.QUEUED]
    with db.transaction(services.sessions) as session:
        send = store.get_send(session, send_id)
        if send is None:
            raise SendNotFound(f"no send with id {send_id}")
        if not store.claim_send(
            session,
            send_id,
            worker=worker,
            now=now,
            from_statuses=statuses,
            stale_before=stale_before,
        ):
            return False
        if send.total == 0:
            store.fan_out(session, send_id, newsletter_id=send.newsletter_id, now=now)
        store.mark_in_flight_unknown(session, send_id, now=now)
        if retry_unknown:
            store.requeue_unknown(session, send_id, now=now)
        store.mirror_issue_status(session, send_id)
    return True


def run_send(
    services: Services, send_id: int, *, worker: str, options: RunOptions | None = None
) -> SendResult:
    """Run the batch loop of a send claimed by ``worker`` until done, paused or cancelled."""
    opts = options or RunOptions()
    send = _get(services, send_id)
    settings = services.settings
    rendered = opts.renderer(services, send.issue_slug)
    links = Links(settings, services.tokens, send.newsletter_id)
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
        progress=opts.progress,
        batch_size=_batch_size(settings.delivery.batch_size, backend.max_batch, rate),
    )
    helpers = start_helpers(services, send_id, count=opts.helper_processes, renderer=opts.renderer)
    try:
        loop.run(opts.concurrency or backend.parallel_batches)
        dead = join_helpers(helpers)
    finally:
        if opts.backend is None:
            backend.close()
    if dead:
        # Nobody will settle what a dead helper had in flight: report it now.
        with db.transaction(services.sessions) as session:
            store.mark_in_flight_unknown(session, send_id, now=utcnow(), workers=dead)
    _finish(services, send_id, worker=worker)
    return send_result(services, send_id, ran=True)


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
    progress: Progress | None
    batch_size: int
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    done: int = 0
    clean: bool = False  # the send's error streak is known to be zero

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
        batch_id = uuid.uuid4().hex
        now = utcnow()
        with db.transaction(self.services.sessions) as session:
            if store.heartbeat(session, self.send.id, worker=self.worker, now=now) != "sending":
                return False
            claimed, rows = store.claim_batch(
                session,
                self.send.id,
                newsletter_id=self.send.newsletter_id,
                batch=batch_id,
                worker=self.worker,
                limit=self.batch_size,
                now=now,
            )
        if not claimed:
            return False
        recipients = [
            recipient_for(
                row, links=self.links, name_fallback=self.name_fallback, delivery_id=row.delivery_id
            )
            for row in rows
        ]
        outcome = self.pipeline.run(batch_id, recipients)
        # An unknown outcome counts towards the pause rule like a failure.
        errors = outcome.failed + outcome.unknown
        self._after(claimed, outcome.accepted, errors, outcome.pause_reason, outcome.errors)
        return not outcome.pause_reason

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


def _finish(services: Services, send_id: int, *, worker: str) -> None:
    """Mark the send ``sent`` when it is still sending and nothing is left.

    Whichever runner finishes last does it: on PostgreSQL workers that joined the send
    (``worker.join_next``) finish it as well as the one that claimed it.
    """
    with db.transaction(services.sessions) as session:
        send = store.get_send(session, send_id)
        if send is None or send.status != SendStatus.SENDING:
            return
        if store.has_active_rows(session, send_id):
            return  # another worker (PostgreSQL) still has rows in flight
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
