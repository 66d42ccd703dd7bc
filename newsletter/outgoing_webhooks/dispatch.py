"""Delivering messages: due deliveries are claimed, POSTed signed, and settled.

A 2xx answer delivers. Anything else (another status, a timeout, a refused connection)
is retried on :data:`SCHEDULE` until the next attempt would come later than
``api.webhook_retry_for`` after the event; then the delivery is ``failed``, and its
endpoint is disabled if it has failed ``api.webhook_disable_after`` attempts in a row.
A 410 Gone disables the endpoint at once. Every attempt is logged (``webhook_attempts``).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy.orm import Session

from newsletter.db import transaction
from newsletter.outgoing_webhooks import signing, store
from newsletter.services import Services
from newsletter.settings import ApiSettings
from subscribers.db import utcnow

#: Waits before the 2nd, 3rd, … attempt; the last one repeats.
SCHEDULE = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
)
BATCH = 50
#: Attempts made at once by one process.
PARALLEL = 8


@dataclass(frozen=True)
class Outcome:
    """What one attempt gave."""

    status_code: int | None
    error: str
    duration_ms: int

    @property
    def ok(self) -> bool:
        """Whether the receiver took it (any 2xx)."""
        return self.status_code is not None and 200 <= self.status_code < 300


def next_wait(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failed attempt."""
    return SCHEDULE[min(attempts, len(SCHEDULE)) - 1]


def deliver_due(
    services: Services, client: httpx.Client, *, now: datetime | None = None, limit: int = BATCH
) -> int:
    """Attempt the due deliveries (at most ``limit``); how many were attempted."""
    now = now or utcnow()
    lease = now + services.settings.api.webhook_timeout + timedelta(seconds=30)
    with transaction(services.sessions) as session:
        due = store.claim_due(session, now=now, lease_until=lease, limit=limit)
    if not due:
        return 0
    # The POSTs run side by side (one slow receiver does not hold up the others' batch);
    # their outcomes are written in one transaction.
    with ThreadPoolExecutor(max_workers=min(PARALLEL, len(due))) as pool:
        outcomes = list(pool.map(lambda d: attempt(client, d), due))
    with transaction(services.sessions) as session:
        for delivery, outcome in zip(due, outcomes, strict=True):
            settle(session, services.settings.api, delivery, outcome, now=now)
    return len(due)


def attempt(client: httpx.Client, delivery: store.DueDelivery) -> Outcome:
    """POST one signed message; never raises for the receiver's failures."""
    body = delivery.body.encode()
    headers = signing.headers(
        delivery.secret, msg_id=delivery.message_id, timestamp=int(time.time()), body=body
    )
    started = time.perf_counter()
    try:
        response = client.post(delivery.url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        return Outcome(None, f"{type(exc).__name__}: {exc}", _ms(started))
    error = "" if response.is_success else response.text[:200]
    return Outcome(response.status_code, error, _ms(started))


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)


def settle(
    session: Session,
    api: ApiSettings,
    delivery: store.DueDelivery,
    outcome: Outcome,
    *,
    now: datetime,
) -> None:
    """Log the attempt and move the delivery (and its endpoint) on."""
    attempts = delivery.attempts + 1
    error = outcome.error or ("" if outcome.ok else f"HTTP {outcome.status_code}")
    store.record_attempt(
        session,
        delivery.delivery_id,
        at=now,
        status_code=outcome.status_code,
        error=error,
        duration_ms=outcome.duration_ms,
    )
    if outcome.ok:
        store.endpoint_succeeded(session, delivery.endpoint_id)
        status, next_at, delivered = store.DELIVERED, now, now
    else:
        streak = store.endpoint_failed(session, delivery.endpoint_id)
        next_at, delivered = now + next_wait(attempts), None
        given_up = next_at > delivery.created_at + api.webhook_retry_for
        status = store.FAILED if given_up else store.PENDING
        if outcome.status_code == 410 or (given_up and streak >= api.webhook_disable_after):
            reason = f"{streak} failed attempts in a row; last: {error}"
            store.disable_endpoint(session, delivery.endpoint_id, at=now, reason=reason)
    store.settle_delivery(
        session,
        delivery.delivery_id,
        status=status,
        attempts=attempts,
        next_attempt_at=next_at,
        status_code=outcome.status_code,
        error=error,
        delivered_at=delivered,
    )
