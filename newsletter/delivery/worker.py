"""``newsletter worker``: extra delivery processes on PostgreSQL.

Each worker claims a queued send (or one whose runners died) with ``FOR UPDATE SKIP LOCKED``
and the atomic status change, and runs it; with nothing to claim it joins a send already
being sent and takes batches of it (claimed with ``SKIP LOCKED``: never the same rows).
Every worker holds a session-level advisory lock for its life (``liveness``): the others
prove a killed worker dead with ``pg_try_advisory_lock`` and settle its rows in flight
``unknown`` at once (``loop.reap_dead_runners``), while they send the rest.
SQLite serializes writers, so there one process sends; a worker there is refused with
the reason.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from newsletter import db
from newsletter.delivery import liveness, store
from newsletter.delivery.engine import (
    STALE_AFTER,
    RunOptions,
    SendResult,
    abandoned_sends,
    claim_abandoned,
    fan_out,
    new_worker_id,
    run_send,
)
from newsletter.errors import ConfigError
from newsletter.services import Services
from subscribers.db import utcnow


def require_postgres(services: Services) -> None:
    """Refuse to run workers on SQLite, with a one-line reason."""
    if services.engine.dialect.name != "postgresql":
        raise ConfigError(
            "newsletter worker needs PostgreSQL (database.url): on SQLite the process "
            "that starts a send (serve or `send --now`) sends it alone"
        )


def claim_next(services: Services, *, worker: str) -> int | None:
    """Claim the next send waiting for a runner; its id, or None when there is none.

    Waiting: queued, or ``sending`` with no runner left (proved dead through their
    liveness locks, or silent for ``STALE_AFTER``). ``worker`` must hold its liveness lock.
    """
    return _claim_queued(services, worker=worker) or _claim_abandoned(services, worker=worker)


def _claim_abandoned(services: Services, *, worker: str) -> int | None:
    for send_id in abandoned_sends(services):
        if claim_abandoned(services, send_id, worker=worker):
            return send_id
    return None


def _claim_queued(services: Services, *, worker: str) -> int | None:
    now = utcnow()
    with db.transaction(services.sessions) as session:
        send_id = store.next_queued_send(session, stale_before=now - STALE_AFTER)
        if send_id is None:
            return None
        send = store.get_send(session, send_id)
        assert send is not None
        was_queued = send.status == "queued"
        if not store.claim_send(
            session, send_id, worker=worker, now=now, stale_before=now - STALE_AFTER
        ):
            return None
        if was_queued and send.total == 0:
            fan_out(services, session, send_id, newsletter_id=send.newsletter_id, now=now)
        store.mark_in_flight_unknown(session, send_id, now=now)
    return send_id


def join_next(services: Services) -> int | None:
    """A send another runner is sending that still has pending rows: help with its batches.

    Joining claims nothing but batches: ``SKIP LOCKED`` keeps every worker's batches
    disjoint, so one issue goes out from all workers at once.
    """
    with services.sessions() as session:
        return store.joinable_send(session)


def work(
    services: Services,
    *,
    stop: Callable[[], bool] = lambda: False,
    idle: float = 2.0,
    options: RunOptions | None = None,
    on_result: Callable[[SendResult], None] | None = None,
) -> None:
    """Claim and run sends until ``stop()`` says so; sleeps ``idle`` seconds when idle."""
    require_postgres(services)
    while not stop():
        worker = new_worker_id()
        with liveness.hold(services, worker):
            send_id = claim_next(services, worker=worker) or join_next(services)
            if send_id is not None:
                result = run_send(services, send_id, worker=worker, options=options)
        if send_id is None:
            time.sleep(idle)
            continue
        if on_result is not None:
            on_result(result)
