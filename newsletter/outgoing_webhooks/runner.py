"""The background loop that ``serve`` and ``worker`` run: relay, then deliver, repeat.

One thread per process. Several processes may run it at once: outbox rows and due
deliveries are claimed (``SKIP LOCKED`` on PostgreSQL, the single writer on SQLite).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx

from newsletter.outgoing_webhooks.dispatch import deliver_due
from newsletter.outgoing_webhooks.relay import relay
from newsletter.services import Services

log = logging.getLogger(__name__)
IDLE = 1.0


def run_once(services: Services, client: httpx.Client) -> int:
    """One round: relay the outbox, attempt what is due; how much work there was."""
    return relay(services) + deliver_due(services, client)


class WebhookRunner:
    """Runs :func:`run_once` in a daemon thread until stopped."""

    def __init__(self, services: Services, *, idle: float = IDLE) -> None:
        self.services = services
        self.idle = idle
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="webhooks-out", daemon=True)

    def start(self) -> WebhookRunner:
        """Start the thread."""
        self._thread.start()
        return self

    def stop(self, timeout: float = 15.0) -> None:
        """Ask the thread to stop and wait for it."""
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        timeout = self.services.settings.api.webhook_timeout.total_seconds()
        with httpx.Client(timeout=timeout, follow_redirects=False) as client:
            while not self._stop.is_set():
                try:
                    busy = run_once(self.services, client)
                except Exception:  # a database hiccup must not end the loop
                    log.exception("outgoing webhooks: round failed; retrying")
                    busy = 0
                if not busy:
                    self._stop.wait(self.idle)


def webhooks_lifespan(
    services: Services,
    inner: Callable[[Any], AbstractAsyncContextManager[None]] | None = None,
) -> Callable[[Any], AbstractAsyncContextManager[None]]:
    """A FastAPI ``lifespan`` running the webhook loop (around ``inner``, if given)."""

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        runner = WebhookRunner(services).start()
        try:
            if inner is None:
                yield
            else:
                async with inner(app):
                    yield
        finally:
            runner.stop()

    return lifespan
