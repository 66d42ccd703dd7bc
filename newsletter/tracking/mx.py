"""One MX lookup per unknown domain, at send time, never in a send's way.

:class:`MxLookup` asks the configured DNS servers (``tracking.dns_servers``; none: the
system resolver) for a domain's MX records with a short overall timeout
(``tracking.dns_timeout``) and turns the answer into a provider
(:func:`newsletter.tracking.providers.provider_of_mx`). Every failure (no answer, no MX,
a timeout, a refused or unreachable server, anything dnspython raises) is ``other``.
Answers are cached per process and per server list (a day; failures ten minutes). After
:data:`GIVE_UP_AFTER` unreachable-server failures in a row a lookup stops asking for the
rest of its send: a dead DNS server costs a send a few timeouts, not one per domain.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

import dns.exception
import dns.nameserver
import dns.resolver

from newsletter.settings import TrackingSettings, dns_server
from newsletter.tracking.providers import provider_of_mx

log = logging.getLogger(__name__)

#: How long a looked-up provider is kept (seconds), and a failure's "other".
ANSWER_TTL = 86_400.0
FAILURE_TTL = 600.0
#: Unreachable-server failures in a row after which one send's lookup stops asking.
GIVE_UP_AFTER = 3

_CACHE: dict[tuple[tuple[str, ...], str], tuple[str, float]] = {}
_CACHE_LOCK = threading.Lock()


class _Unreachable(Exception):
    """No server answered (timeout, refused, unreachable)."""


def clear_cache() -> None:
    """Forget every cached answer of this process."""
    with _CACHE_LOCK:
        _CACHE.clear()


@dataclass
class MxLookup:
    """The provider of a domain by its MX, for one send (one per runner of the send)."""

    settings: TrackingSettings
    failures_in_a_row: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def gave_up(self) -> bool:
        """Whether the servers failed too often to be asked again for this send."""
        return self.failures_in_a_row >= GIVE_UP_AFTER

    def provider(self, domain: str) -> str:
        """The provider of ``domain`` by its most preferred MX; ``other`` on any failure."""
        key = (tuple(self.settings.dns_servers), domain)
        now = time.monotonic()
        with _CACHE_LOCK:
            cached = _CACHE.get(key)
        if cached is not None and cached[1] > now:
            return cached[0]
        if self.gave_up:
            return "other"
        try:
            provider, ttl = provider_of_mx(self._exchangers(domain)), ANSWER_TTL
            with self.lock:
                self.failures_in_a_row = 0
        except _Unreachable as error:
            log.warning(
                "MX lookup of %s: no DNS server answered (%s); counted as other", domain, error
            )
            provider, ttl = "other", FAILURE_TTL
            with self.lock:
                self.failures_in_a_row += 1
        except Exception as error:  # a lookup must never fail a send
            log.info("MX lookup of %s failed (%s); counted as other", domain, error)
            provider, ttl = "other", FAILURE_TTL
        with _CACHE_LOCK:
            _CACHE[key] = (provider, time.monotonic() + ttl)
        return provider

    def _exchangers(self, domain: str) -> list[str]:
        """The most preferred MX hosts of ``domain`` (empty: none, or the domain is absent)."""
        resolver = _resolver(self.settings)
        try:
            answer = resolver.resolve(domain, "MX", lifetime=self.settings.dns_timeout)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        except dns.resolver.NoNameservers as error:
            if any(entry[4] is not None for entry in error.kwargs.get("errors") or []):
                raise  # a server answered, e.g. SERVFAIL: this domain's failure
            raise _Unreachable(str(error)) from error
        except (dns.exception.Timeout, OSError) as error:
            raise _Unreachable(str(error) or type(error).__name__) from error
        records = [(int(r.preference), str(r.exchange)) for r in answer]
        if not records:
            return []
        best = min(preference for preference, _host in records)
        return [host for preference, host in records if preference == best]


def _resolver(settings: TrackingSettings) -> dns.resolver.Resolver:
    if not settings.dns_servers:
        resolver = dns.resolver.Resolver()
    else:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [
            dns.nameserver.Do53Nameserver(address, port)
            for address, port in map(dns_server, settings.dns_servers)
        ]
    resolver.timeout = settings.dns_timeout
    resolver.lifetime = settings.dns_timeout
    resolver.cache = None
    return resolver
