"""One claimed batch through the backend: rate limit, send, retry, settle in the ledger.

Whole-request failures: transient ones are retried by the policy; if they persist the
batch surely did not go out, so it goes back to ``pending`` and the send pauses.
Permanent ones fail the batch's rows with the reason. Per-recipient deferrals (SMTP 4xx)
are retried with backoff, then failed. Every outcome is settled in its own transaction.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial

from newsletter import db
from newsletter.delivery import store
from newsletter.delivery.backends.base import Backend
from newsletter.delivery.message import Batch, Content, Outcome, Recipient, RecipientResult
from newsletter.delivery.models import DeliveryStatus
from newsletter.delivery.retry import RetryPolicy, with_retries
from newsletter.errors import OutcomeUnknownError, PermanentBackendError, TransientBackendError
from newsletter.services import Services
from subscribers.db import utcnow

_STATUS = {Outcome.ACCEPTED: DeliveryStatus.ACCEPTED, Outcome.FAILED: DeliveryStatus.FAILED}


@dataclass
class BatchOutcome:
    """What happened to one batch."""

    accepted: int = 0
    failed: int = 0
    #: Recipients whose batch may or may not have reached the provider (settled ``unknown``).
    unknown: int = 0
    #: Requests whose answer was lost (each settled its whole remaining batch ``unknown``).
    lost_answers: int = 0
    #: Set when the provider kept failing: the batch was released and the send must pause.
    pause_reason: str = ""
    errors: list[str] = field(default_factory=list)


@dataclass
class Pipeline:
    """Sends batches of one send's content through ``backend``."""

    services: Services
    backend: Backend
    policy: RetryPolicy
    send_id: int
    content: Content
    rate_per_second: float = 0.0

    def run(self, batch_id: str, recipients: Sequence[Recipient]) -> BatchOutcome:
        """Send the claimed ``recipients`` (all marked ``sending`` already) and settle them."""
        outcome = BatchOutcome()
        self._wait_for_rate(len(recipients))
        remaining = list(recipients)
        attempt = 1
        while remaining:
            try:
                results = with_retries(partial(self._send, remaining), self.policy)
            except TransientBackendError as exc:
                self._release(batch_id)
                outcome.pause_reason = f"the backend kept failing: {exc}"
                return outcome
            except OutcomeUnknownError as exc:
                self._settle_all(batch_id, DeliveryStatus.UNKNOWN, error=str(exc))
                outcome.unknown += len(remaining)
                outcome.lost_answers += 1
                outcome.errors.append(str(exc))
                return outcome
            except PermanentBackendError as exc:
                self._settle_all(batch_id, DeliveryStatus.FAILED, error=str(exc))
                outcome.failed += len(remaining)
                outcome.errors.append(str(exc))
                return outcome
            remaining = self._settle(
                batch_id, results, outcome, final=attempt >= self.policy.max_attempts
            )
            if remaining:
                self.policy.sleep(self.policy.delay(attempt))
                attempt += 1
        return outcome

    def _send(self, recipients: Sequence[Recipient]) -> list[RecipientResult]:
        return self.backend.send(Batch(self.content, recipients))

    def _settle(
        self, batch_id: str, results: list[RecipientResult], outcome: BatchOutcome, *, final: bool
    ) -> list[Recipient]:
        """Record accepted and failed results; return the deferred ones still to retry."""
        deferred = [r for r in results if r.outcome is Outcome.DEFERRED]
        done = [r for r in results if r.outcome is not Outcome.DEFERRED]
        if final:
            done += [
                RecipientResult(r.recipient, Outcome.FAILED, error=f"gave up: {r.error}")
                for r in deferred
            ]
            deferred = []
        outcome.accepted += sum(r.outcome is Outcome.ACCEPTED for r in done)
        failed = [r for r in done if r.outcome is Outcome.FAILED]
        outcome.failed += len(failed)
        outcome.errors.extend(r.error for r in failed)
        if done and not deferred and _uniform(done) and len(done) == len(results):
            self._settle_all(
                batch_id,
                _STATUS[done[0].outcome],
                provider_id=done[0].provider_id or None,
                error=done[0].error or None,
            )
        else:
            self._settle_each(done)
        return [r.recipient for r in deferred]

    def _settle_all(
        self,
        batch_id: str,
        status: DeliveryStatus,
        *,
        provider_id: str | None = None,
        error: str | None = None,
    ) -> None:
        with db.transaction(self.services.sessions) as session:
            store.settle_batch(
                session,
                self.send_id,
                batch=batch_id,
                status=status,
                now=utcnow(),
                provider_message_id=provider_id,
                error=error,
            )

    def _settle_each(self, results: list[RecipientResult]) -> None:
        settlements = [
            store.Settlement(
                delivery_id=r.recipient.delivery_id,
                status=_STATUS[r.outcome],
                provider_message_id=r.provider_id or None,
                error=r.error or None,
            )
            for r in results
            if r.recipient.delivery_id is not None
        ]
        with db.transaction(self.services.sessions) as session:
            store.settle(session, settlements, now=utcnow())

    def _release(self, batch_id: str) -> None:
        with db.transaction(self.services.sessions) as session:
            store.release_batch(session, self.send_id, batch=batch_id, now=utcnow())

    def _wait_for_rate(self, count: int) -> None:
        """Reserve ``count`` slots in the shared (database) rate limit and wait for them."""
        if self.rate_per_second <= 0:
            return
        now = time.time()
        with db.transaction(self.services.sessions) as session:
            start = store.reserve_slots(
                session, self.backend.name, cost=count / self.rate_per_second, now=now
            )
        if start > now:
            self.policy.sleep(start - now)


def _uniform(results: list[RecipientResult]) -> bool:
    first = results[0]
    return all(
        r.outcome is first.outcome and r.provider_id == first.provider_id and r.error == first.error
        for r in results
    )
