"""Rate limits for the sign-up form: per client IP and per address, over a sliding hour.

Hits are stored hashed in the database (``web_rate_limit_hits``) so that every ``serve``
process shares the same count. A limit of 0 means unlimited.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy.orm import Session

from newsletter.settings import WebSettings
from newsletter.web import store
from subscribers.db import utcnow


@dataclass(frozen=True)
class Limit:
    """At most ``count`` hits per ``store.RATE_WINDOW`` for one key of one ``scope``."""

    scope: str
    count: int


def rate_key(scope: str, value: str) -> str:
    """The stored key for ``value`` in ``scope``: a hash, so no raw IP or address is kept."""
    return hashlib.sha256(f"{scope}:{value.strip().lower()}".encode()).hexdigest()


def subscribe_limits(web: WebSettings, *, ip: str, address: str) -> list[tuple[Limit, str]]:
    """The limits one sign-up attempt counts against, each with its key value."""
    limits = [(Limit("subscribe-ip", web.subscribe_rate_limit_per_ip), ip)]
    if address:
        limits.append((Limit("subscribe-address", web.subscribe_rate_limit_per_address), address))
    return limits


def allow(session: Session, limits: list[tuple[Limit, str]]) -> bool:
    """Count one hit against every limit; ``False`` (and nothing counted) if any is full."""
    now = utcnow()
    since = now - store.RATE_WINDOW
    keys = [(limit, rate_key(limit.scope, value)) for limit, value in limits if limit.count > 0]
    if any(store.count_hits(session, key, since=since) >= limit.count for limit, key in keys):
        return False
    for _limit, key in keys:
        store.add_hit(session, key, at=now)
    # Old hits are worthless: sweep them now and then rather than with a separate job.
    if now.second == 0:
        store.prune_hits(session, before=since)
    return True
