"""Per-delivery due instants: one send, one ledger, rows that become sendable at their own instant.

The primitive (docs/delivery.md, "Waves"):

- ``deliveries.due_at``: when the row may be sent; ``NULL`` is at once.
- ``sends.next_due_at``: the earliest due instant of a pending row that no runner has
  *reached* yet (``NULL``: every row is reached). A runner claims only pending rows due
  before it (or without a due instant), so a row is never claimed before its wave was
  reached.
- Reaching (:func:`reach`, run by every runner before each batch claim, in the claim's
  transaction): when ``next_due_at`` has come, one compare-and-set moves it to the next
  later instant; the winner applies the lateness rule to the waves it reached (a wave
  whose instant passed more than ``scheduler.max_lateness`` ago is skipped, its rows
  ``skipped`` with a ``missed: …`` reason) and calls the due hooks, exactly once per wave.
- When a runner finds nothing claimable and nothing in flight but rows due later, the
  send becomes ``waiting`` (``loop.finish``): no process sleeps on it. Every second the
  scheduler in ``serve`` (and each PostgreSQL ``newsletter worker``) asks
  ``engine.abandoned_sends``, which lists ``waiting`` sends whose ``next_due_at`` has
  come, and takes each over (``engine.take_over``: a compare-and-set ``waiting`` →
  ``sending``). The database is the only state, so a restart between waves loses nothing
  and sends nothing twice (the ledger's claims are atomic as always).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement
from sqlalchemy.orm import Session

from newsletter.timing import store
from newsletter.timing.store import ReachedWave, WaveProgress

__all__ = [
    "DUE_HOOKS",
    "FAN_OUT_HOOKS",
    "DueHook",
    "FanOutHook",
    "ReachedWave",
    "WaveProgress",
    "add_due_hook",
    "add_fan_out_hook",
    "after_fan_out",
    "clear_hooks",
    "defer",
    "missed_reason",
    "reach",
    "start_waves",
]

#: Called once per reached wave, in the transaction that reached it and before any of its
#: rows is claimed: ``hook(session, send_id, wave, now)``. Exceptions roll the reach back
#: (the next batch claim tries again).
DueHook = Callable[[Session, int, ReachedWave, datetime], None]

#: Called once per send, in the fan-out's transaction, right after the ledger is filled
#: (and before any row can be claimed): ``hook(session, send_id, now)``. The place to give
#: rows a due instant with :func:`defer` (e.g. an A/B test's remainder).
FanOutHook = Callable[[Session, int, datetime], None]

#: Hooks by dotted name ``"package.module:function"``, imported on first use, so every
#: process (helpers, workers) has them without importing anything at start-up.
DUE_HOOKS: list[str] = ["newsletter.abtest.service:on_wave"]
FAN_OUT_HOOKS: list[str] = ["newsletter.abtest.service:on_fan_out"]
_extra_due: list[DueHook] = []
_extra_fan_out: list[FanOutHook] = []


def add_due_hook(hook: DueHook) -> None:
    """Register a due hook in this process (tests; code should add to :data:`DUE_HOOKS`)."""
    _extra_due.append(hook)


def add_fan_out_hook(hook: FanOutHook) -> None:
    """Register a fan-out hook in this process (tests; code adds to :data:`FAN_OUT_HOOKS`)."""
    _extra_fan_out.append(hook)


def clear_hooks() -> None:
    """Forget the hooks registered with :func:`add_due_hook` / :func:`add_fan_out_hook`."""
    _extra_due.clear()
    _extra_fan_out.clear()


def _load(names: list[str]) -> list[Callable[..., None]]:
    found: list[Callable[..., None]] = []
    for name in names:
        module, _, function = name.partition(":")
        found.append(getattr(importlib.import_module(module), function))
    return found


def _hooks() -> list[DueHook]:
    return [*_load(DUE_HOOKS), *_extra_due]


def after_fan_out(session: Session, send_id: int, *, now: datetime) -> datetime | None:
    """Run the fan-out hooks, then make the earliest due instant the next to reach."""
    for hook in [*_load(FAN_OUT_HOOKS), *_extra_fan_out]:
        hook(session, send_id, now)
    return start_waves(session, send_id)


def start_waves(session: Session, send_id: int) -> datetime | None:
    """After a fan-out that gave rows due instants: make the earliest one the next to reach.

    Rows already due (even long ago) are reached by the first batch claim, which applies
    the lateness rule to them.
    """
    first = store.earliest_pending_due(session, send_id)
    store.set_next_due(session, send_id, first)
    return first


def defer(session: Session, send_id: int, *, due_at: datetime, where: ColumnElement[bool]) -> int:
    """Make the send's pending rows matching ``where`` due at ``due_at`` (aware); how many.

    ``where`` is over ``Delivery`` (and may use a subquery on subscribers). The send's
    next due instant moves earlier if ``due_at`` is before it. Rows already claimed or
    settled are not touched. Call it in the transaction that fans the send out (before a
    runner could claim the rows), or at any later time for rows not yet reached.
    """
    changed = store.defer_rows(session, send_id, due_at=due_at, where=where)
    if changed:
        current = store.next_due(session, send_id)
        if current is None or due_at < current:
            store.set_next_due(session, send_id, due_at)
    return changed


def reach(
    session: Session, send_id: int, *, now: datetime, max_lateness: timedelta
) -> datetime | None:
    """Reach every wave due by ``now``; returns the send's next due instant after it.

    Cheap when nothing is due (one read). Only one runner reaches a given wave (a
    compare-and-set on ``sends.next_due_at``); it skips the waves that are too late and
    runs the hooks for the others.
    """
    current = store.next_due(session, send_id)
    if current is None or current > now:
        return current
    following = store.earliest_unreached(session, send_id, after=now)
    if not store.move_next_due(session, send_id, expected=current, to=following):
        return store.next_due(session, send_id)  # another runner reached it
    hooks = _hooks()
    for due_at, rows in store.waves_between(session, send_id, start=current, end=now):
        lateness = now - due_at
        if lateness > max_lateness:
            reason = missed_reason(lateness, max_lateness)
            missed = store.skip_wave(session, send_id, due_at=due_at, reason=reason, now=now)
            wave = ReachedWave(due_at, rows, missed)
        else:
            wave = ReachedWave(due_at, rows)
        for hook in hooks:
            hook(session, send_id, wave, now)
    return following


def missed_reason(lateness: timedelta, max_lateness: timedelta) -> str:
    """The ``skipped`` reason of a wave reached too late (the scheduler's words)."""
    return (
        f"missed: its wave's instant passed {_human(lateness)} ago, beyond "
        f"scheduler.max_lateness ({_human(max_lateness)})"
    )


def progress(session: Session, send_id: int) -> list[WaveProgress]:
    """The send's waves with their deliveries by status (``missed`` apart), earliest first."""
    return store.wave_progress(session, send_id)


def _human(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{delta.total_seconds():.0f}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    if seconds < 172800:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d"
