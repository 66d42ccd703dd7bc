"""The redirect's two helpers: a cache of each send's links and a batching hit recorder.

The redirect answers from the token and :class:`LinkCache` alone (a send's links are read
once per process; a miss reads them again, for a link a resumed send added). Hits go into
:class:`HitRecorder`'s in-memory queue; :func:`tracking_lifespan` flushes it every
:data:`FLUSH_SECONDS` and on shutdown, in one transaction per flush that also re-runs
the window rules for the readers it touched (:func:`newsletter.tracking.classify.verdicts`).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from starlette.concurrency import run_in_threadpool

from newsletter import db
from newsletter.services import Services
from newsletter.tracking import store
from newsletter.tracking.classify import verdicts
from newsletter.tracking.rewrite import LinkRow
from newsletter.tracking.tokens import TrackToken

log = logging.getLogger("newsletter.tracking")
FLUSH_SECONDS = 1.0
#: Hits waiting at most: beyond it (a flood, or a database that stopped answering) new hits
#: are dropped and counted instead of growing the process's memory without bound.
MAX_QUEUE = 100_000


class LinkCache:
    """send id → its tracked links, read from the database once per send and process."""

    def __init__(self, services: Services) -> None:
        self._services = services
        self._links: dict[int, dict[int, LinkRow]] = {}

    def cached(self, send_id: int, index: int) -> LinkRow | None:
        """The link when it is in memory (no I/O: the redirect's fast path)."""
        return self._links.get(send_id, {}).get(index)

    def load(self, send_id: int, index: int) -> LinkRow | None:
        """Read the send's links (blocking I/O: run it in a thread) and return the one asked."""
        with self._services.sessions() as session:
            rows = store.send_links(session, send_id)
        if rows:
            self._links[send_id] = {row.index: row for row in rows}
        return self._links.get(send_id, {}).get(index)


@dataclass(frozen=True, slots=True)
class PendingHit:
    """A hit waiting for the next flush."""

    token: TrackToken
    kind: str
    at: datetime
    method: str
    hit_reason: str


class HitRecorder:
    """An in-memory queue of hits, written in batches by :meth:`flush`."""

    def __init__(self, services: Services) -> None:
        self._services = services
        self._queue: list[PendingHit] = []
        self.dropped = 0
        self._lock = threading.Lock()
        self._flushing = threading.Lock()

    def record(self, hit: PendingHit) -> bool:
        """Queue a hit; False when the queue is full and the hit was dropped."""
        with self._lock:
            if len(self._queue) >= MAX_QUEUE:
                self.dropped += 1
                return False
            self._queue.append(hit)
            return True

    def flush(self) -> int:
        """Write every queued hit and re-judge the readers they belong to; how many."""
        with self._flushing:
            with self._lock:
                batch, self._queue = self._queue, []
                dropped, self.dropped = self.dropped, 0
            if dropped:
                log.warning("tracking: %d hits dropped (more than %d waiting)", dropped, MAX_QUEUE)
            if batch:
                with db.transaction(self._services.sessions) as session:
                    _write(session, batch)
            return len(batch)


def _write(session: Any, batch: list[PendingHit]) -> None:
    delivery_ids = [h.token.delivery_id for h in batch if h.token.delivery_id is not None]
    owners = store.subscribers_of_deliveries(session, delivery_ids)
    rows = [
        {
            "send_id": h.token.send_id,
            "link_index": h.token.index,
            "kind": h.kind,
            "reader": h.token.reader,
            "provider": h.token.provider,
            "delivery_id": h.token.delivery_id,
            "subscriber_id": owners.get(h.token.delivery_id or -1),
            "at": h.at,
            "method": h.method,
            "hit_reason": h.hit_reason,
            "reason": h.hit_reason,
        }
        for h in batch
    ]
    store.insert_hits(session, rows)
    session.flush()
    readers = {(h.token.send_id, h.token.reader) for h in batch}
    changed: dict[int, str] = {}
    hits_of, stored = store.reader_hits(session, readers)
    for hits in hits_of.values():
        final = verdicts(hits)
        changed.update({i: r for i, r in final.items() if stored.get(i) != r})
    store.set_reasons(session, changed)


def tracking_lifespan(
    recorder: HitRecorder,
    inner: Callable[[Any], AbstractAsyncContextManager[Any]] | None = None,
) -> Callable[[Any], AbstractAsyncContextManager[None]]:
    """A FastAPI ``lifespan`` flushing ``recorder`` every second and at shutdown."""

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        task = asyncio.create_task(_flush_forever(recorder))
        try:
            if inner is None:
                yield
            else:
                async with inner(app):
                    yield
        finally:
            task.cancel()
            await run_in_threadpool(recorder.flush)

    return lifespan


async def _flush_forever(recorder: HitRecorder) -> None:
    while True:
        await asyncio.sleep(FLUSH_SECONDS)
        try:
            await run_in_threadpool(recorder.flush)
        except Exception:  # a failed flush must not end the loop; the hits are logged lost
            log.exception("tracking: writing a batch of hits failed")
