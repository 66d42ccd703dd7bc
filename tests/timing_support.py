"""Helpers for the timing tests: a settable clock the engine and the scheduler read."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest


class Clock:
    """A clock tests move by hand; patched into the modules that read ``utcnow``."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        """Move the clock on."""
        self.now += delta

    def set(self, moment: datetime) -> None:
        """Move the clock to ``moment``."""
        self.now = moment


MODULES = (
    "newsletter.delivery.engine",
    "newsletter.delivery.loop",
    "newsletter.timing.local",
)


def patch_clock(monkeypatch: pytest.MonkeyPatch, start: datetime) -> Clock:
    """A :class:`Clock` at ``start`` read by the delivery engine and the timing package."""
    import importlib

    clock = Clock(start)
    for name in MODULES:
        monkeypatch.setattr(importlib.import_module(name), "utcnow", clock)
    return clock


def hooks_cleared() -> Iterator[None]:
    """Forget hooks a test registered (use with ``yield from`` in a fixture)."""
    from newsletter.timing import waves

    yield
    waves.clear_hooks()
