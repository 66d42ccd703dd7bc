"""Per-recipient links and list headers: unsubscribe and preferences tokens, List-* headers.

The URLs are the web app's routes: ``/unsubscribe/{token}``, ``/preferences/{token}`` and
``/archive/{slug}``. ``List-Unsubscribe`` carries the HTTPS URL and a mailto (RFC 2369) and
``List-Unsubscribe-Post`` makes it RFC 8058 one-click.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.header import Header
from urllib.parse import urlsplit

from newsletter.delivery.verp import VerpPurpose, VerpSigner
from newsletter.settings import Settings
from subscribers.tokens import TokenPurpose, TokenSigner


@dataclass(frozen=True)
class Links:
    """Builds the links and headers of one newsletter's emails."""

    settings: Settings
    signer: TokenSigner
    newsletter_id: str
    #: VERP addresses for ledger deliveries when ``delivery.bounce_domain`` is set.
    verp: VerpSigner | None = None

    def values(self, subscriber_id: int, *, name: str = "", slug: str = "") -> dict[str, str]:
        """The personal values: ``name``, ``unsubscribe_url``, ``preferences_url``, ``view_url``."""
        site = self.settings.site.url
        unsubscribe = self.signer.dumps(TokenPurpose.UNSUBSCRIBE, subscriber_id, self.newsletter_id)
        preferences = self.signer.dumps(TokenPurpose.PREFERENCES, subscriber_id)
        return {
            "name": name,
            "unsubscribe_url": f"{site}/unsubscribe/{unsubscribe}",
            "preferences_url": f"{site}/preferences/{preferences}",
            "view_url": self.view_url(slug),
        }

    def view_url(self, slug: str = "") -> str:
        """The issue's page in the web archive (the archive itself without a slug)."""
        site = self.settings.site.url
        return f"{site}/archive/{slug}" if slug else f"{site}/archive"

    def list_id(self) -> str:
        """``List-Id``: the newsletter's name and a stable id under the site's host."""
        newsletter = self.settings.newsletter(self.newsletter_id)
        host = urlsplit(self.settings.site.url).hostname or "localhost"
        name = newsletter.name.replace('"', "'")
        # RFC 2919's phrase: encoded words for a Korean name, never inside quotes, side by
        # side on one line (the encoder would fold them with a bare LF).
        encoded = " ".join(Header(name, "utf-8").encode().split())
        phrase = f'"{name}"' if name.isascii() else encoded
        return f"{phrase} <{newsletter.id}.{host}>"

    def return_path(self, delivery_id: int | None) -> str:
        """The VERP envelope sender ``bounces+TOKEN@bounce_domain`` of a ledger delivery;
        empty (the From address is used) without a bounce domain or a delivery."""
        domain = self.settings.delivery.bounce_domain
        if not domain or self.verp is None or delivery_id is None:
            return ""
        return self.verp.address(VerpPurpose.BOUNCE, delivery_id, domain)

    def headers(self, unsubscribe_url: str, *, delivery_id: int | None = None) -> dict[str, str]:
        """The per-recipient ``List-Unsubscribe`` pair for ``unsubscribe_url``; its mailto is
        ``unsubscribe+TOKEN@bounce_domain`` for a ledger delivery when VERP is on (read by
        ``newsletter mailbox process``), else the From address with the token as subject."""
        domain = self.settings.delivery.bounce_domain
        if domain and self.verp is not None and delivery_id is not None:
            address = self.verp.address(VerpPurpose.UNSUBSCRIBE, delivery_id, domain)
            return {
                "List-Unsubscribe": f"<{unsubscribe_url}>, <mailto:{address}?subject=unsubscribe>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            }
        # Tokens are base64url and a dot: safe in a mailto query as they are.
        token = unsubscribe_url.rpartition("/")[2]
        sender = self.settings.sender_for(self.newsletter_id).from_email
        mailto = f"mailto:{sender}?subject=unsubscribe%20{token}"
        return {
            "List-Unsubscribe": f"<{unsubscribe_url}>, <{mailto}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        }
