"""An issue's sending instant from its file's date: quiet hours and ``deliver: local``.

Pure functions of the settings and the date, used by the issue parser (so the catalog
stores the instant the scheduler fires at, and the instant before quiet hours moved it).

- Quiet hours (``newsletters[].quiet_hours``, site timezone): a date inside the window
  moves to the window's end (``newsletter.timing.quiet``); the end is turned into an
  instant by the scheduler's DST rule (``scheduler.instants.local_instant``).
- ``deliver: local``: the date is a wall time every reader gets in their own zone. The
  send starts (the ledger is filled, waves get their due instants) when that wall time
  first comes on Earth, at UTC+14; the last wave can come at UTC-12. Quiet hours apply to
  the wall time itself, hence in each reader's zone (a window of the site's nights would
  put New York's 09:00 inside Seoul's night and move it to the next evening).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from newsletter.scheduler.instants import local_instant

if TYPE_CHECKING:
    from newsletter.settings import Settings

LOCAL = "local"
#: The earliest and latest UTC offsets any zone has (Pacific/Kiritimati, Etc/GMT+12).
EARLIEST_OFFSET = timedelta(hours=14)
LATEST_OFFSET = timedelta(hours=-12)


@dataclass(frozen=True)
class Planned:
    """When an issue is sent and why.

    ``publish_at``: the instant the scheduler starts the send (UTC). ``local_wall``: for
    ``deliver: local``, the naive wall time readers get it at. ``moved_from``: the instant
    before quiet hours moved it (None: not moved).
    """

    publish_at: datetime
    local_wall: datetime | None = None
    moved_from: datetime | None = None


def first_possible(wall: datetime) -> datetime:
    """When the naive wall time ``wall`` first comes anywhere on Earth (UTC+14)."""
    return (wall - EARLIEST_OFFSET).replace(tzinfo=UTC)


def last_possible(wall: datetime) -> datetime:
    """When the naive wall time ``wall`` comes last on Earth (UTC-12)."""
    return (wall - LATEST_OFFSET).replace(tzinfo=UTC)


def has_offset(moment: datetime) -> bool:
    """Whether a parsed date carried its own offset (not read in a named zone)."""
    return not isinstance(moment.tzinfo, ZoneInfo)


def plan_instant(
    settings: Settings, newsletter_id: str, publish_local: datetime, *, local: bool
) -> Planned:
    """The sending instant of an issue dated ``publish_local`` (aware) in ``newsletter_id``."""
    window = settings.newsletter(newsletter_id).quiet
    site = settings.site.tz
    if local:
        wall = publish_local.replace(tzinfo=None)
        moved = window.move(wall) if window else None
        if moved is None:
            return Planned(first_possible(wall), wall)
        return Planned(first_possible(moved), moved, local_instant(wall, site).utc)
    exact = publish_local.astimezone(UTC)
    if window is None:
        return Planned(exact)
    moved = window.move(exact.astimezone(site).replace(tzinfo=None))
    if moved is None:
        return Planned(exact)
    return Planned(local_instant(moved, site).utc, moved_from=exact)


def move_instant(settings: Settings, newsletter_id: str, instant: datetime) -> Planned:
    """An exact instant (``schedule --at``, the admin) through the newsletter's quiet hours."""
    return plan_instant(settings, newsletter_id, instant, local=False)


def refuse_in_quiet_hours(settings: Settings, newsletter_id: str, now: datetime) -> None:
    """:class:`QuietHoursError` when ``now`` is inside the newsletter's quiet hours."""
    from newsletter.errors import QuietHoursError

    window = settings.newsletter(newsletter_id).quiet
    if window is None:
        return
    wall = now.astimezone(settings.site.tz).replace(tzinfo=None)
    moved = window.move(wall)
    if moved is None:
        return
    raise QuietHoursError(
        f"{newsletter_id} is in its quiet hours ({window}, {settings.site.timezone}) until "
        f"{moved:%H:%M}: use --force to send now anyway"
    )
