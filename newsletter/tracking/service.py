"""What the delivery engine calls: a send's issue with tracked links, and each reader's part.

:func:`tracked_issue` runs once per runner of a send: it finds the issue's links, stores
the new ones for the send (so the redirect can answer from the token alone) and rewrites
the issue (:mod:`newsletter.tracking.rewrite`). :class:`ReaderParts` then makes the
personal ``track`` value of each recipient.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session, sessionmaker

from newsletter import db
from newsletter.services import Services
from newsletter.tracking import store
from newsletter.tracking.mx import MxLookup
from newsletter.tracking.providers import CODE_OF, DOMAINS, domain_of
from newsletter.tracking.rewrite import TRACK_KEY, issue_links, plan_links, rewrite_issue
from newsletter.tracking.tokens import TrackSigner
from subscribers.tokens import signing_keys

if TYPE_CHECKING:
    from newsletter.render import RenderedIssue

log = logging.getLogger(__name__)

#: MX lookups of one batch's new domains run this many at a time.
LOOKUPS_AT_ONCE = 16


def track_signer(services: Services) -> TrackSigner:
    """The signer of tracking tokens, from the same secret keys as every other token."""
    settings = services.settings
    keys = signing_keys(settings.secrets.secret_key, dev_key_path=settings.base_dir / ".secret_key")
    return TrackSigner(keys)


@dataclass
class SendProviders:
    """The provider of each recipient's domain for one send: a well-known domain at once,
    any other by one MX lookup, recorded in ``tracking_send_domains`` (so the report counts
    deliveries as the tokens count clicks). Never raises: a failure is ``other``."""

    sessions: sessionmaker[Session]
    send_id: int
    lookup: MxLookup
    decided: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def prepare(self, emails: Iterable[str]) -> None:
        """Decide a batch's new domains before its emails are made (lookups in parallel)."""
        with self.lock:
            new = {domain_of(e) for e in emails} - self.decided.keys() - DOMAINS.keys()
        if not new:
            return
        try:
            with self.sessions() as session:
                known = store.send_domain_providers(session, self.send_id)
        except Exception:  # counted as other rather than failing the send
            log.exception("reading send %s's looked-up domains", self.send_id)
            known = {}
        with self.lock:
            self.decided.update({d: p for d, p in known.items() if d in new})
        missing = sorted(new - known.keys())
        if not missing:
            return
        with ThreadPoolExecutor(min(LOOKUPS_AT_ONCE, len(missing))) as pool:
            found = dict(zip(missing, pool.map(self.lookup.provider, missing), strict=True))
        self._record(found)

    def provider(self, email: str) -> str:
        """The provider ``email`` counts under in this send."""
        domain = domain_of(email)
        if domain in DOMAINS:
            return DOMAINS[domain]
        with self.lock:
            decided = self.decided.get(domain)
        if decided is None:
            self.prepare([email])
            with self.lock:
                decided = self.decided.get(domain, "other")
        return decided

    def _record(self, found: dict[str, str]) -> None:
        """Keep the send's answers; another runner's earlier answer for a domain wins."""
        try:
            with db.transaction(self.sessions) as session:
                for domain, provider in found.items():
                    if not store.add_send_domain(session, self.send_id, domain, provider):
                        earlier = store.send_domain_providers(session, self.send_id)
                        found[domain] = earlier.get(domain, provider)
        except Exception:  # unrecorded domains are counted as other
            log.exception("recording send %s's looked-up domains", self.send_id)
            found = dict.fromkeys(found, "other")
        with self.lock:
            self.decided.update(found)


@dataclass(frozen=True)
class ReaderParts:
    """Makes each recipient's ``track`` value for one send."""

    signer: TrackSigner
    send_id: int
    per_reader: bool
    providers: SendProviders

    def prepare(self, emails: Iterable[str]) -> None:
        """Decide the providers of a batch's recipients (one MX lookup per new domain)."""
        self.providers.prepare(emails)

    def value(self, *, delivery_id: int | None, email: str, group: int | None = None) -> str:
        """The reader part of this recipient's tokens (no delivery id kept with aggregate).

        ``group`` (A/B sends, 0–15): the last hex digit of an aggregate reader number, so
        the test counts each subject's clickers without knowing who they are.
        """
        code = CODE_OF[self.providers.provider(email)]
        if self.per_reader and delivery_id is not None:
            return self.signer.reader_part(self.send_id, delivery_id, mode="p", provider=code)
        # Aggregate: a random number tells one email's hits apart and nothing else.
        who = secrets.randbits(48)
        if group is not None:
            who = (who & ~0xF) | (group & 0xF)
        return self.signer.reader_part(self.send_id, who, mode="a", provider=code)

    def add_to(
        self,
        values: dict[str, str],
        *,
        delivery_id: int | None,
        email: str,
        group: int | None = None,
    ) -> None:
        """Put the ``track`` value among a recipient's personal values."""
        values[TRACK_KEY] = self.value(delivery_id=delivery_id, email=email, group=group)


def tracked_issue(
    services: Services, rendered: RenderedIssue, *, send_id: int
) -> tuple[RenderedIssue, ReaderParts | None]:
    """The issue as this send's emails carry it, and the reader parts (None: not tracked)."""
    newsletter = services.settings.newsletter(rendered.newsletter_id)
    if newsletter.tracking == "off":
        return rendered, None
    site_url = services.settings.site.url
    signer = track_signer(services)
    urls = issue_links(rendered, site_url=site_url)
    trap_url = f"{site_url}/archive/{rendered.slug}"
    indexes: dict[str, int] = {}
    for _attempt in range(3):  # another runner of the send may store the same rows first
        with db.transaction(services.sessions) as session:
            store.record_send_mode(session, send_id, newsletter.tracking)
            existing = store.send_links(session, send_id)
            indexes, new = plan_links(
                existing, urls, trap_url=trap_url, newsletter=newsletter, slug=rendered.slug
            )
            if store.add_links(session, send_id, new):
                break
    issue = rewrite_issue(
        rendered,
        indexes=indexes,
        signer=signer,
        send_id=send_id,
        site_url=site_url,
        opens=newsletter.opens,
    )
    providers = SendProviders(services.sessions, send_id, MxLookup(services.settings.tracking))
    parts = ReaderParts(
        signer, send_id, per_reader=newsletter.tracking == "per_reader", providers=providers
    )
    return issue, parts
