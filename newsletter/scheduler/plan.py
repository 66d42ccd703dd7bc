"""The scheduler's decision for one issue, as a pure function of the clock and the settings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from newsletter.scheduler.store import ScheduledIssue


class Action(StrEnum):
    """What to do with a ``scheduled`` issue right now."""

    WAIT = "wait"  # its instant is ahead: keep a job at it
    FIRE = "fire"  # its instant passed within max_lateness: start the send at once
    MISS = "miss"  # its instant passed beyond max_lateness: mark it missed, never send
    HOLD = "hold"  # a start that created no send was tried less than a lease ago: wait


@dataclass(frozen=True)
class Decision:
    """An action for one issue, with the instant it concerns and how late it is."""

    action: Action
    instant: datetime
    lateness: timedelta


def decide(
    issue: ScheduledIssue, *, now: datetime, max_lateness: timedelta, lease: timedelta
) -> Decision:
    """Decide what a scheduler does with ``issue`` (status ``scheduled``) at ``now``."""
    instant = issue.instant
    lateness = now - instant
    if lateness < timedelta(0):
        return Decision(Action.WAIT, instant, lateness)
    if now - issue.last_instant > max_lateness:
        return Decision(Action.MISS, instant, now - issue.last_instant)
    claimed_recently = (
        issue.fired_for == instant and issue.fired_at is not None and now - issue.fired_at < lease
    )
    return Decision(Action.HOLD if claimed_recently else Action.FIRE, instant, lateness)


def missed_note(decision: Decision, max_lateness: timedelta) -> str:
    """One line saying why an issue was not sent by itself."""
    return (
        f"its instant passed {_human(decision.lateness)} ago, beyond "
        f"scheduler.max_lateness ({_human(max_lateness)}); send or cancel it by hand"
    )


def _human(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{delta.total_seconds():.0f}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    if seconds < 172800:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d"
