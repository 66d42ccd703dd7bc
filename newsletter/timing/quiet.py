"""Quiet hours: a daily window (``"21:00-08:00"``) in which no issue starts; pure arithmetic.

A window may cross midnight (``21:00-08:00``: from 21:00 to 08:00 the next morning). Its
start is inside it, its end is not. A wall time inside the window moves to the window's
end: the same day when the time is before the end, else the next day. No imports beyond
the standard library: ``settings`` validates windows with :func:`parse_window`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta

_WINDOW = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


@dataclass(frozen=True)
class QuietHours:
    """A daily window from ``start`` (inside) to ``end`` (outside), in wall-clock time."""

    start: time
    end: time

    @property
    def crosses_midnight(self) -> bool:
        """Whether the window ends the day after it starts."""
        return self.end < self.start

    def contains(self, moment: time) -> bool:
        """Whether the wall time ``moment`` is inside the window."""
        moment = moment.replace(tzinfo=None)
        if self.crosses_midnight:
            return moment >= self.start or moment < self.end
        return self.start <= moment < self.end

    def move(self, wall: datetime) -> datetime | None:
        """The window's end if the naive wall time ``wall`` is inside it, else None."""
        if not self.contains(wall.time()):
            return None
        end = datetime.combine(wall.date(), self.end)
        return end if wall.time() < self.end else end + timedelta(days=1)

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


def parse_window(text: str) -> QuietHours:
    """``"21:00-08:00"`` → :class:`QuietHours`; ``ValueError`` with a one-line reason."""
    match = _WINDOW.match(text)
    if not match:
        raise ValueError(f'{text!r} is not a window: write HH:MM-HH:MM, e.g. "21:00-08:00"')
    h1, m1, h2, m2 = (int(part) for part in match.groups())
    if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
        raise ValueError(f"{text!r} has a time that does not exist: hours 00-23, minutes 00-59")
    window = QuietHours(time(h1, m1), time(h2, m2))
    if window.start == window.end:
        raise ValueError(f"{text!r} starts and ends at the same time: an empty or whole-day window")
    return window
