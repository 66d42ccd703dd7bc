"""Small pieces the subscriber pages share: languages, token checks, newsletter lookups."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import timedelta

from fastapi import Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from newsletter.errors import ConfigError
from newsletter.services import Services
from newsletter.settings import NewsletterSettings
from newsletter.web.i18n import LANGUAGES
from newsletter.web.templating import Pages
from subscribers.errors import InvalidToken
from subscribers.models import SubscriptionStatus
from subscribers.queries import subscriptions_of
from subscribers.tokens import TokenData, TokenPurpose

#: Subscriptions that still mean "send me this" (or will, once confirmed).
LIVE = (SubscriptionStatus.ACTIVE, SubscriptionStatus.PENDING)
#: How old an expired confirm link may be and still offer a new confirmation email.
RESEND_WINDOW = timedelta(days=365)


def language(request: Request, pages: Pages, posted: str = "") -> str:
    """The page language, a posted ``lang`` form field first (forms carry the page's)."""
    return posted if posted in LANGUAGES else pages.language(request)


def known(pages: Pages, newsletter_id: str) -> bool:
    """Whether ``newsletter_id`` is a configured newsletter."""
    return any(n.id == newsletter_id for n in pages.settings.newsletters)


def newsletters(pages: Pages, ids: Iterable[str]) -> list[NewsletterSettings]:
    """The configured newsletters among ``ids``, in configuration order."""
    wanted = set(ids)
    return [n for n in pages.settings.newsletters if n.id in wanted]


def newsletter_or_404(pages: Pages, newsletter_id: str | None) -> NewsletterSettings:
    """The configured newsletter, or the invalid-link 404 (e.g. one since removed)."""
    try:
        return pages.settings.newsletter(newsletter_id or "")
    except ConfigError:
        raise InvalidToken("this link is invalid or has expired") from None


def with_status(session: Session, subscriber_id: int, *statuses: str) -> list[str]:
    """The newsletters in which the subscriber's subscription has one of ``statuses``."""
    return [
        s.newsletter_id for s in subscriptions_of(session, subscriber_id) if s.status in statuses
    ]


def confirm_token(loads: Callable[..., TokenData], token: str) -> tuple[TokenData, bool]:
    """Verify a confirm token: ``(data, expired)``; ``InvalidToken`` when forged.

    An expired link is told apart (to offer a new email) by verifying it again with a long
    age limit: only a genuine, merely old, token passes the second check.
    """
    try:
        return loads(token, TokenPurpose.CONFIRM), False
    except InvalidToken:
        return loads(token, TokenPurpose.CONFIRM, max_age=RESEND_WINDOW), True


def preferences_url(services: Services, subscriber_id: int) -> str:
    """The subscriber's signed preferences link."""
    token = services.tokens.dumps(TokenPurpose.PREFERENCES, subscriber_id)
    return f"{services.settings.site.url}/preferences/{token}"


def preticked(items: Sequence[NewsletterSettings]) -> list[str]:
    """Newsletters ticked on an empty form: the only one, or none when there are several."""
    return [items[0].id] if len(items) == 1 else []


def message(
    request: Request, pages: Pages, language: str, title_key: str, body_key: str, status: int
) -> Response:
    """A one-message page (``message.html``) with ``status``."""
    text = pages.catalog.text
    context = {
        "title": text(language, title_key),
        "body": text(language, body_key),
        "status_code": status,
    }
    return pages.render(request, "message.html", context, status_code=status, lang=language)
