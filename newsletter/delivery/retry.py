"""Retrying transient backend failures: wait as told on 429, else capped backoff with jitter."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from newsletter.errors import TransientBackendError
from newsletter.settings import RetrySettings

T = TypeVar("T")

#: The longest a 429 may make us wait at once; longer answers are capped (and retried).
MAX_RATE_LIMIT_WAIT = 300.0


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry; ``sleep`` is injectable so tests can watch waits."""

    max_attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 60.0
    sleep: Callable[[float], None] = time.sleep

    @classmethod
    def from_settings(
        cls, settings: RetrySettings, *, sleep: Callable[[float], None] = time.sleep
    ) -> RetryPolicy:
        """The policy configured under ``delivery.retry``."""
        return cls(
            max_attempts=settings.max_attempts,
            base_delay=settings.base_delay.total_seconds(),
            max_delay=settings.max_delay.total_seconds(),
            sleep=sleep,
        )

    def delay(self, attempt: int, error: TransientBackendError | None = None) -> float:
        """Seconds to wait before attempt ``attempt + 1`` (attempts count from 1)."""
        if error is not None and error.retry_after is not None:
            return min(error.retry_after, MAX_RATE_LIMIT_WAIT)
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        # Full jitter: workers that failed together do not come back together.
        return random.uniform(ceiling / 2, ceiling)


def with_retries(call: Callable[[], T], policy: RetryPolicy) -> T:
    """Run ``call``; on ``TransientBackendError`` wait and retry up to the policy's attempts."""
    attempt = 1
    while True:
        try:
            return call()
        except TransientBackendError as error:
            if attempt >= policy.max_attempts:
                raise
            policy.sleep(policy.delay(attempt, error))
            attempt += 1
