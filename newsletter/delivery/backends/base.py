"""The one backend interface: ``Backend.send(batch) -> results``, a pipeline with small hooks.

Shape taken from django-anymail: the base class owns the pipeline (build the payload → post
it → parse the per-recipient status) and each backend fills the three hooks. Errors of the
whole request are raised as ``TransientBackendError`` (worth retrying) or
``PermanentBackendError``; errors of one recipient come back as a ``RecipientResult``.
Retries, rate limits and the ledger live above backends, in ``newsletter.delivery.engine``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

from newsletter.delivery.message import (
    Batch,
    Outcome,
    RecipientResult,
    check_content,
    recipient_problem,
)


class Backend(ABC):
    """A way to hand messages to the world; subclasses fill the hooks below."""

    #: The configuration name (``delivery.backend``).
    name: ClassVar[str]
    #: The most recipients one :meth:`send` call takes.
    max_batch: ClassVar[int] = 1000
    #: How many batches a send runs side by side through one backend (its own
    #: parallelism, like SMTP's connection pool, stays inside it).
    parallel_batches: ClassVar[int] = 1

    def send(self, batch: Batch) -> list[RecipientResult]:
        """Send ``batch``; one result per recipient, in order. Raises ``BackendError``.

        Header values are checked first, for every backend: a control character in the
        shared content (subject, From, Reply-To, List-Id…) raises ``UnsafeHeaderError``;
        one in a recipient's name, address or headers fails that recipient alone.
        """
        if not batch.recipients:
            return []
        check_content(batch.content)
        refused = {
            index: problem
            for index, recipient in enumerate(batch.recipients)
            if (problem := recipient_problem(recipient)) is not None
        }
        if not refused:
            return self._send(batch)
        kept = [r for i, r in enumerate(batch.recipients) if i not in refused]
        results = iter(self._send(Batch(batch.content, kept)) if kept else [])
        return [
            RecipientResult(recipient, Outcome.FAILED, error=refused[index])
            if index in refused
            else next(results)
            for index, recipient in enumerate(batch.recipients)
        ]

    def _send(self, batch: Batch) -> list[RecipientResult]:
        payload = self.build_payload(batch)
        response = self.post(payload)
        return self.parse_results(batch, response)

    @abstractmethod
    def build_payload(self, batch: Batch) -> Any:
        """Turn the batch into what :meth:`post` sends (messages, a JSON body, ...)."""

    @abstractmethod
    def post(self, payload: Any) -> Any:
        """Hand the payload over; translate failures of the whole request into errors."""

    @abstractmethod
    def parse_results(self, batch: Batch, response: Any) -> list[RecipientResult]:
        """Translate the response into one ``RecipientResult`` per recipient."""

    def close(self) -> None:
        """Release connections; the default has nothing to release."""
        return None
