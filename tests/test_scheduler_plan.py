"""The scheduler's rule for one issue: wait, fire, miss or hold, at the boundaries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from newsletter.scheduler.plan import Action, decide, missed_note
from newsletter.scheduler.store import ScheduledIssue

INSTANT = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
SIX_HOURS = timedelta(hours=6)
LEASE = timedelta(minutes=2)


def issue(*, override: datetime | None = None, fired_at: datetime | None = None) -> ScheduledIssue:
    return ScheduledIssue(
        id=1,
        slug="s",
        newsletter_id="weekly",
        status="scheduled",
        publish_at=INSTANT,
        override_at=override,
        override_by="",
        fired_for=INSTANT if fired_at else None,
        fired_at=fired_at,
        note="",
    )


@pytest.mark.parametrize(
    ("offset", "action"),
    [
        (timedelta(seconds=-1), Action.WAIT),
        (timedelta(0), Action.FIRE),
        (timedelta(hours=5, minutes=59), Action.FIRE),
        (SIX_HOURS, Action.FIRE),
        (SIX_HOURS + timedelta(seconds=1), Action.MISS),
        (timedelta(days=400), Action.MISS),
    ],
)
def test_lateness_decides_between_wait_fire_and_miss(offset: timedelta, action: Action) -> None:
    decision = decide(issue(), now=INSTANT + offset, max_lateness=SIX_HOURS, lease=LEASE)
    assert decision.action == action
    assert decision.lateness == offset


def test_an_override_wins_over_the_file_date() -> None:
    later = INSTANT + timedelta(days=1)
    decision = decide(
        issue(override=later), now=INSTANT + timedelta(hours=7), max_lateness=SIX_HOURS, lease=LEASE
    )
    assert decision.action == Action.WAIT
    assert decision.instant == later


def test_a_recent_start_that_created_no_send_holds_until_the_lease_ends() -> None:
    tried = INSTANT + timedelta(seconds=1)
    held = decide(issue(fired_at=tried), now=tried + LEASE / 2, max_lateness=SIX_HOURS, lease=LEASE)
    again = decide(issue(fired_at=tried), now=tried + LEASE, max_lateness=SIX_HOURS, lease=LEASE)
    assert (held.action, again.action) == (Action.HOLD, Action.FIRE)


def test_the_missed_note_says_how_late_and_what_to_do() -> None:
    decision = decide(
        issue(), now=INSTANT + timedelta(hours=7, minutes=5), max_lateness=SIX_HOURS, lease=LEASE
    )
    note = missed_note(decision, SIX_HOURS)
    assert "7h05m" in note
    assert "6h00m" in note
    assert "send or cancel" in note
