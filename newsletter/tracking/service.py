"""What the delivery engine calls: a send's issue with tracked links, and each reader's part.

:func:`tracked_issue` runs once per runner of a send: it finds the issue's links, stores
the new ones for the send (so the redirect can answer from the token alone) and rewrites
the issue (:mod:`newsletter.tracking.rewrite`). :class:`ReaderParts` then makes the
personal ``track`` value of each recipient.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from newsletter import db
from newsletter.services import Services
from newsletter.tracking import store
from newsletter.tracking.providers import CODE_OF, provider_of
from newsletter.tracking.rewrite import TRACK_KEY, issue_links, plan_links, rewrite_issue
from newsletter.tracking.tokens import TrackSigner
from subscribers.tokens import signing_keys

if TYPE_CHECKING:
    from newsletter.render import RenderedIssue


def track_signer(services: Services) -> TrackSigner:
    """The signer of tracking tokens, from the same secret keys as every other token."""
    settings = services.settings
    keys = signing_keys(settings.secrets.secret_key, dev_key_path=settings.base_dir / ".secret_key")
    return TrackSigner(keys)


@dataclass(frozen=True)
class ReaderParts:
    """Makes each recipient's ``track`` value for one send."""

    signer: TrackSigner
    send_id: int
    per_reader: bool

    def value(self, *, delivery_id: int | None, email: str) -> str:
        """The reader part of this recipient's tokens (no delivery id kept with aggregate)."""
        code = CODE_OF[provider_of(email)]
        if self.per_reader and delivery_id is not None:
            return self.signer.reader_part(self.send_id, delivery_id, mode="p", provider=code)
        # Aggregate: a random number tells one email's hits apart and nothing else.
        who = secrets.randbits(48)
        return self.signer.reader_part(self.send_id, who, mode="a", provider=code)

    def add_to(self, values: dict[str, str], *, delivery_id: int | None, email: str) -> None:
        """Put the ``track`` value among a recipient's personal values."""
        values[TRACK_KEY] = self.value(delivery_id=delivery_id, email=email)


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
    parts = ReaderParts(signer, send_id, per_reader=newsletter.tracking == "per_reader")
    return issue, parts
