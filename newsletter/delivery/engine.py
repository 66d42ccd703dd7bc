"""Sends: created once per issue, claimed atomically, run batch by batch from the ledger.

    start_send(services, slug)        create (idempotent) + claim + fan out + run
    resume_send(services, send_id)    continue a paused/failed/crashed send from the ledger
    run_send(services, send_id, ...)  the batch loop of a send this process has claimed

    take_over(services, send_id)      continue a ``sending`` send whose runners are gone

Claiming a send is one UPDATE … WHERE status = 'queued' (or a dead runner's ``sending``),
so two processes that start the same issue produce one send. Every runner holds a
liveness lock while it runs (``liveness``): a ``sending`` send whose runners are proved
dead is taken over at once; one whose death cannot be proved, when its heartbeat is older
than :data:`STALE_AFTER`. Rows the dead runners had in flight are reported ``unknown``.
The batch loop itself is in ``loop`` (shared with helper processes).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from newsletter import db
from newsletter.abtest import service as abtest
from newsletter.delivery import liveness, store
from newsletter.delivery.content import STEP_PREFIX, Renderer, render_for_send
from newsletter.delivery.helpers import join_helpers, start_helpers
from newsletter.delivery.loop import (
    Progress,
    RunOptions,
    SendResult,
    finish,
    new_worker_id,
    run_batches,
    send_result,
)
from newsletter.delivery.models import Send, SendStatus
from newsletter.errors import ConfigError, SendNotFound, SendStateError
from newsletter.services import Services
from newsletter.timing import local, waves
from newsletter.timing import store as timing_store
from subscribers.db import utcnow

__all__ = [
    "QUEUED_GRACE",
    "STALE_AFTER",
    "Progress",
    "RunOptions",
    "SendResult",
    "abandoned_sends",
    "cancel_send",
    "claim_to_continue",
    "create_send",
    "new_worker_id",
    "resume_send",
    "run_send",
    "send_result",
    "start_send",
    "take_over",
]

#: A runner that has not written a heartbeat for this long is considered dead (when its
#: death cannot be proved sooner through its liveness lock).
STALE_AFTER = timedelta(minutes=10)
#: A send still ``queued`` this long after it was created has lost its creator.
QUEUED_GRACE = timedelta(minutes=1)


def start_send(services: Services, slug: str, *, options: RunOptions | None = None) -> SendResult:
    """Send the issue ``slug`` to its audience unless it is (or was) already being sent.

    Idempotent and race-free: the first caller creates and claims the send; later or
    concurrent callers get its current state with ``ran=False``. A send whose runners are
    proved dead (or silent for :data:`STALE_AFTER`) is taken over and continued (what they
    had in flight reported as ``unknown``).
    """
    opts = options or RunOptions()
    worker = new_worker_id()
    with liveness.hold(services, worker):
        send_id = create_send(services, slug, renderer=opts.renderer, creator=worker)
        if not _claim(services, send_id, worker=worker, stale_before=utcnow() - STALE_AFTER):
            return send_result(services, send_id)
        return run_send(services, send_id, worker=worker, options=opts)


def take_over(
    services: Services, send_id: int, *, options: RunOptions | None = None
) -> SendResult | None:
    """Continue a send nobody runs (see :func:`abandoned_sends`); None if someone does.

    Gone means proved dead through their liveness locks (at once), or silent for
    :data:`STALE_AFTER` when that cannot be proved. Rows they had in flight become
    ``unknown``; pending rows are sent by this runner.
    """
    worker = new_worker_id()
    with liveness.hold(services, worker):
        if not claim_abandoned(services, send_id, worker=worker):
            return None
        return run_send(services, send_id, worker=worker, options=options)


def claim_abandoned(services: Services, send_id: int, *, worker: str) -> bool:
    """Make ``worker`` (holding its liveness lock) the runner of a send nobody runs.

    A ``sending`` send whose runners are gone, or a ``queued`` one (its creator died
    between creating and claiming it; callers pass only those :func:`abandoned_sends` found).
    """
    return _claim(
        services,
        send_id,
        worker=worker,
        stale_before=utcnow() - STALE_AFTER,
        from_statuses=[SendStatus.QUEUED],
        due_by=utcnow(),
    )


def claim_to_continue(services: Services, send_id: int, *, worker: str) -> bool:
    """Make ``worker`` (holding its liveness lock) the runner of a send that got new rows.

    For sends whose audience grows after they went out (sequence steps): from ``sent`` or
    ``queued``, or from ``sending`` when its runners are gone (as :func:`take_over`).
    """
    return _claim(
        services,
        send_id,
        worker=worker,
        stale_before=utcnow() - STALE_AFTER,
        from_statuses=[SendStatus.SENT, SendStatus.QUEUED],
    )


def abandoned_sends(services: Services) -> list[int]:
    """Sends nobody runs, which :func:`take_over` would claim now.

    ``sending`` with every runner proved dead (or silent for :data:`STALE_AFTER`),
    ``queued`` with its creator proved dead, or for longer than :data:`QUEUED_GRACE`
    (whoever created it claims it within moments; one still queued was left by a process
    that died in between, e.g. during the fan-out), and ``waiting`` whose next wave is due
    (``newsletter.timing.waves``).
    """
    now = utcnow()
    with services.sessions() as session:
        sending = store.sends_with_status(session, SendStatus.SENDING)
        queued = store.sends_with_status(session, SendStatus.QUEUED)
        due = timing_store.waiting_due(session, now=now)
    left = [
        send.id
        for send in queued
        if send.created_at < now - QUEUED_GRACE
        or (send.worker and liveness.state(services, send.worker) is liveness.Liveness.DEAD)
    ]
    return sorted(
        left
        + due
        + [
            send.id
            for send in sending
            if _is_stale(send, now - STALE_AFTER)
            or _proved_abandoned(services, send.id) is not None
        ]
    )


def create_send(
    services: Services, slug: str, *, renderer: Renderer = render_for_send, creator: str = ""
) -> int:
    """The id of the issue's send, queued now if it has none (idempotent).

    ``creator``: the runner (holding its liveness lock) about to claim it; if it dies
    before its claim, the send is taken over at once instead of after :data:`QUEUED_GRACE`.
    """
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
            worker=creator,
            ad=rendered.ad,
        )
        send = store.send_for_issue(session, slug)
        assert send is not None
        if rendered.ab_test is not None:
            tracking = _tracked(services, rendered.newsletter_id)
            abtest.record(session, send.id, rendered.ab_test, tracking=tracking, now=utcnow())
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
    statuses = [SendStatus.QUEUED, SendStatus.PAUSED, SendStatus.FAILED, SendStatus.WAITING]
    if retry_unknown:
        statuses.append(SendStatus.SENT)
    elif send.status == SendStatus.SENT:
        raise SendStateError(f"send {send_id} is already sent (unknown: use --retry-unknown)")
    stale_before = utcnow() if force else utcnow() - STALE_AFTER
    with liveness.hold(services, worker):
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
                f"send {send_id} is {send.status} and its runner is alive; "
                "wait, or use --force if you know that process died"
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
            only_from=[
                SendStatus.QUEUED,
                SendStatus.SENDING,
                SendStatus.PAUSED,
                SendStatus.WAITING,
            ],
        )
        if changed:
            store.mirror_issue_status(session, send_id)
    if not changed:
        raise SendStateError(
            f"send {send_id} cannot be cancelled ({_get(services, send_id).status})"
        )
    return send_result(services, send_id)


@dataclass(frozen=True)
class _Abandoned:
    """A ``sending`` send whose runners were all proved dead."""

    worker: str  # the runner named on the send when it was probed
    runners: list[str]  # every runner probed dead (the send's and those with rows in flight)


def _proved_abandoned(services: Services, send_id: int) -> _Abandoned | None:
    with services.sessions() as session:
        send = store.get_send(session, send_id)
        if send is None or send.status != SendStatus.SENDING or not send.worker:
            return None
        runners = sorted({send.worker, *store.runners_in_flight(session, send_id)})
    if len(liveness.dead(services, runners)) < len(runners):
        return None
    return _Abandoned(send.worker, runners)


def _tracked(services: Services, newsletter_id: str) -> bool:
    try:
        return services.settings.newsletter(newsletter_id).tracking != "off"
    except ConfigError:  # a newsletter since removed from config.yaml
        return False


def _is_stale(send: Send, stale_before: datetime) -> bool:
    return send.heartbeat_at is None or send.heartbeat_at < stale_before


def _claim(
    services: Services,
    send_id: int,
    *,
    worker: str,
    stale_before: datetime,
    from_statuses: list[SendStatus] | None = None,
    retry_unknown: bool = False,
    due_by: datetime | None = None,
) -> bool:
    """Claim the send, fan it out on its first claim, report dead runners' batches.

    From ``from_statuses`` (default: queued), or from ``sending`` when its runners are
    proved dead or its heartbeat is older than ``stale_before``. Taken over on proof, only
    the dead runners' rows in flight become ``unknown``; otherwise every row in flight does.
    """
    abandoned = _proved_abandoned(services, send_id)
    now = utcnow()
    statuses = [SendStatus.QUEUED] if from_statuses is None else from_statuses
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
            dead_worker=abandoned.worker if abandoned else None,
            due_by=due_by,
        ):
            return False
        # A sequence step's send gets its readers from the walk, never the whole audience.
        if send.total == 0 and not send.issue_slug.startswith(STEP_PREFIX):
            fan_out(services, session, send_id, newsletter_id=send.newsletter_id, now=now)
        on_proof = (
            abandoned is not None
            and send.status == SendStatus.SENDING
            and not _is_stale(send, stale_before)
        )
        workers = abandoned.runners if on_proof and abandoned else None
        store.mark_in_flight_unknown(session, send_id, now=now, workers=workers)
        if retry_unknown:
            store.requeue_unknown(session, send_id, now=now)
        store.mirror_issue_status(session, send_id)
    if abandoned is not None:
        liveness.forget(services, abandoned.runners)
    return True


def fan_out(
    services: Services, session: Session, send_id: int, *, newsletter_id: str, now: datetime
) -> int:
    """Fill the send's ledger; each row gets the due instant of its wave when the issue
    asks for waves (``deliver: local``: ``newsletter.timing.local``)."""
    send = store.get_send(session, send_id)
    assert send is not None
    due_at = local.due_expression(services, session, send.issue_slug, newsletter_id)
    total = store.fan_out(session, send_id, newsletter_id=newsletter_id, now=now, due_at=due_at)
    waves.after_fan_out(session, send_id, now=now)
    return total


def run_send(
    services: Services, send_id: int, *, worker: str, options: RunOptions | None = None
) -> SendResult:
    """Run the batch loop of a send claimed by ``worker`` until done, paused or cancelled."""
    opts = options or RunOptions()
    with liveness.hold(services, worker):
        helpers = start_helpers(
            services, send_id, count=opts.helper_processes, renderer=opts.renderer
        )
        run_batches(services, send_id, worker=worker, options=opts)
        dead = join_helpers(helpers)
        if dead:
            # Nobody will settle what a dead helper had in flight: report it now.
            with db.transaction(services.sessions) as session:
                store.mark_in_flight_unknown(session, send_id, now=utcnow(), workers=dead)
        finish(services, send_id)
    return send_result(services, send_id, ran=True)


def _get(services: Services, send_id: int) -> Send:
    with services.sessions() as session:
        send = store.get_send(session, send_id)
    if send is None:
        raise SendNotFound(f"no send with id {send_id}")
    return send
