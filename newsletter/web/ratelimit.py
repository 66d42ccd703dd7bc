"""Rate limits for the sign-up form: per client IP and per address, over a sliding hour.

Hits are stored hashed in the database (``web_rate_limit_hits``) so that every ``serve``
process shares the same count. A limit of 0 means unlimited.

Keys name what is limited, not how it was spelt: an address by its mailbox
(:func:`subscribers.addresses.mailbox_key`: case, full-width letters, ``。``, IDNA,
``+tags``), an IPv6 client by its /64 (one customer's block), an IPv4 client by itself.
:func:`allow` counts and records under a per-key lock (:func:`store.lock_rate_keys`), so
parallel requests never get more than the limit between them.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass

from sqlalchemy.orm import Session

from newsletter.settings import WebSettings
from newsletter.web import store
from subscribers.addresses import mailbox_key
from subscribers.db import utcnow

#: IPv6 clients are limited per network of this size (a home or a server gets a /64).
IPV6_PREFIX = 64


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
    limits = [(Limit("subscribe-ip", web.subscribe_rate_limit_per_ip), client_key(ip))]
    if address:
        limit = Limit("subscribe-address", web.subscribe_rate_limit_per_address)
        limits.append((limit, mailbox_key(address)))
    return limits


def client_key(ip: str) -> str:
    """What one client is, for a limit: its IPv4 address, or its IPv6 /64."""
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/{IPV6_PREFIX}", strict=False))
    return str(address)


def allow(session: Session, limits: list[tuple[Limit, str]]) -> bool:
    """Count one hit against every limit; ``False`` (and nothing counted) if any is full."""
    now = utcnow()
    since = now - store.RATE_WINDOW
    keys = [(limit, rate_key(limit.scope, value)) for limit, value in limits if limit.count > 0]
    if not keys:
        return True
    # Held until the caller's transaction ends: a parallel request waits, then counts ours.
    store.lock_rate_keys(session, [key for _limit, key in keys], expired_before=since)
    if any(store.count_hits(session, key, since=since) >= limit.count for limit, key in keys):
        return False
    for _limit, key in keys:
        store.add_hit(session, key, at=now)
    # Old hits are worthless: sweep them now and then rather than with a separate job.
    if now.second == 0:
        store.prune_hits(session, before=since)
    return True
