"""Publication instants: wall-clock times in a timezone turned into exact UTC instants.

The rule for the two DST edge cases (the same as Python's ``fold=0``, cron and PostgreSQL):

- a wall time that does not exist (clocks jump forward, e.g. 2026-03-29 02:30 in
  Europe/Berlin) is moved forward by the length of the gap: 03:30 CEST (01:30 UTC);
- a wall time that happens twice (clocks go back, e.g. 2026-10-25 02:30 in Europe/Berlin)
  is the first occurrence, still on summer time: 02:30 CEST (00:30 UTC).

An explicit offset (``+09:00``, ``Z``) is always exact and never adjusted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from newsletter.errors import SchedulerError

#: Instants are kept within these bounds: far enough from the ends of ``datetime`` that
#: showing one in any timezone (UTC-12 to UTC+14) never overflows.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Instant:
    """An exact UTC instant and, when the wall time had to be interpreted, why."""

    utc: datetime
    note: str = ""


def local_instant(wall: datetime, zone: ZoneInfo) -> Instant:
    """The UTC instant of the wall-clock time ``wall`` in ``zone`` (see module rule);
    :class:`SchedulerError` outside :data:`EARLIEST`–:data:`LATEST`."""
    try:
        instant = _local_instant(wall, zone)
    except OverflowError:  # the first or last hours of the calendar in some zone
        instant = None
    if instant is None or not (EARLIEST <= instant.utc < LATEST):
        raise SchedulerError(
            f"{wall.isoformat()} is out of range: pick an instant between {EARLIEST.year} "
            f"and {LATEST.year - 1}"
        )
    return instant


def _local_instant(wall: datetime, zone: ZoneInfo) -> Instant:
    if wall.tzinfo is not None:
        return Instant(wall.astimezone(UTC))
    first = wall.replace(tzinfo=zone, fold=0)
    second = wall.replace(tzinfo=zone, fold=1)
    utc = first.astimezone(UTC)
    if _round_trips(first) and first.utcoffset() != second.utcoffset():
        shown = first.strftime("%H:%M %Z")
        return Instant(utc, f"{wall:%Y-%m-%d %H:%M} happens twice in {zone.key}; using {shown}")
    if not _round_trips(first):
        shown = utc.astimezone(zone).strftime("%H:%M %Z")
        note = f"{wall:%Y-%m-%d %H:%M} does not exist in {zone.key} (clocks go forward)"
        return Instant(utc, f"{note}; using {shown}")
    return Instant(utc)


def _round_trips(aware: datetime) -> bool:
    back = aware.astimezone(UTC).astimezone(aware.tzinfo)
    return back.replace(tzinfo=None) == aware.replace(tzinfo=None)


def parse_instant(text: str, zone: ZoneInfo) -> Instant:
    """Parse an ISO-8601 date-time; without an offset it is a wall time in ``zone``."""
    raw = text.strip()
    try:
        parsed = datetime.fromisoformat(raw.replace(" ", "T", 1) if " " in raw else raw)
    except ValueError:
        raise SchedulerError(
            f"{text!r} is not an ISO-8601 date-time (e.g. 2026-03-02T09:00 or "
            "2026-03-02T09:00+09:00)"
        ) from None
    return local_instant(parsed, zone)


def describe(instant: datetime, zone: ZoneInfo) -> str:
    """``2026-03-02 09:00 KST (00:00 UTC)``: an instant in local time and in UTC."""
    local = instant.astimezone(zone)
    return f"{local:%Y-%m-%d %H:%M:%S %Z} ({instant.astimezone(UTC):%H:%M:%S} UTC)"
