"""``newsletter worker``: extra delivery processes on PostgreSQL.

Each worker claims a queued send (or one whose runner died) with ``FOR UPDATE SKIP LOCKED``
and the atomic status change, and runs it; with nothing to claim it joins a send already
being sent and takes batches of it (claimed with ``SKIP LOCKED``: never the same rows).
SQLite serializes writers, so there one process sends; a worker there is refused with
the reason.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from newsletter import db
from newsletter.delivery import store
from newsletter.delivery.engine import STALE_AFTER, RunOptions, SendResult, new_worker_id, run_send
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
    """Claim the next send waiting for a runner; its id, or None when there is none."""
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
            store.fan_out(session, send_id, newsletter_id=send.newsletter_id, now=now)
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
        send_id = claim_next(services, worker=worker) or join_next(services)
        if send_id is None:
            time.sleep(idle)
            continue
        result = run_send(services, send_id, worker=worker, options=options)
        if on_result is not None:
            on_result(result)
