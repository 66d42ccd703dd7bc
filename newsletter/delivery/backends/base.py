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

from newsletter.delivery.message import Batch, RecipientResult


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
        """Send ``batch``; one result per recipient, in order. Raises ``BackendError``."""
        if not batch.recipients:
            return []
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
