"""`deliver: local`: each reader gets the issue at its wall time in their own timezone.

At the fan-out the eligible readers are grouped by ``subscribers.timezone`` (an empty or
unknown name is ``site.timezone``); each zone's instant is the wall time in that zone by
the scheduler's DST rule (``newsletter.scheduler.instants``: a wall time in a gap moves
forward by the gap, one that happens twice is its first occurrence). Readers of one
instant form a wave; the ledger's rows carry it in ``deliveries.due_at``
(``newsletter.timing.waves`` sends them when it comes).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, available_timezones

from sqlalchemy import ColumnElement
from sqlalchemy.orm import Session

from newsletter.scheduler.instants import local_instant
from newsletter.services import Services
from newsletter.timing import store
from subscribers.db import utcnow
from subscribers.models import Subscriber

LOCAL = "local"


@lru_cache(maxsize=1)
def _known_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def zone_or_none(name: str) -> ZoneInfo | None:
    """The zone named ``name`` when it is an IANA name this machine knows, else None."""
    if not name or name not in _known_zones():
        return None
    return ZoneInfo(name)


def parse_wall(text: str) -> datetime:
    """A naive wall time stored by the catalog (``2026-03-08T02:30:00``)."""
    return datetime.fromisoformat(text).replace(tzinfo=None)


@dataclass(frozen=True)
class Wave:
    """The readers of one zone and the instant they get the issue."""

    zone: str
    due_at: datetime
    note: str = ""


def waves_for(wall: datetime, zones: list[str], site_zone: ZoneInfo) -> list[Wave]:
    """One wave per zone (unknown names read as ``site_zone``), earliest instant first."""
    found: list[Wave] = []
    for name in zones:
        zone = zone_or_none(name) or site_zone
        instant = local_instant(wall, zone)
        found.append(Wave(name, instant.utc, instant.note))
    return sorted(found, key=lambda wave: (wave.due_at, wave.zone))


def due_expression(
    services: Services, session: Session, slug: str, newsletter_id: str
) -> ColumnElement[datetime] | None:
    """Each reader's due instant as SQL over ``subscribers.timezone`` (None: not local)."""
    issue = store.local_issue(session, slug)
    if issue is None or issue.deliver != LOCAL or not issue.local_wall or issue.overridden:
        return None  # an editor's `schedule --at` is one exact instant for everyone
    wall = parse_wall(issue.local_wall)
    site_zone = services.settings.site.tz
    zones = store.audience_zones(session, newsletter_id, now=utcnow())
    planned = waves_for(wall, zones, site_zone)
    default = local_instant(wall, site_zone).utc
    return store.due_case(
        Subscriber.timezone, [(wave.zone, wave.due_at) for wave in planned], default
    )
