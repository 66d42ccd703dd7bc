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
from newsletter.web import csrf
from newsletter.web.i18n import LANGUAGES
from newsletter.web.templating import Pages
from subscribers.errors import InvalidToken
from subscribers.models import SubscriptionStatus
from subscribers.queries import require_subscriber, subscriptions_of
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


def refused_post(
    request: Request,
    services: Services,
    pages: Pages,
    *,
    subscriber_id: int,
    token: str,
    csrf_token: str,
    action: str,
    actions: Sequence[str],
    language: str,
) -> Response | None:
    """The answer to a subscriber page's form post that must not be acted on, else ``None``.

    A subscriber since erased is the same 404 as a bad link (``InvalidToken``); a bad CSRF
    token is a 403; an action not in ``actions`` is a 400, never a default (an unknown action
    falling through to "save" once left every newsletter).
    """
    with services.sessions() as session:
        require_subscriber(session, subscriber_id)
    if not pages.csrf.check(token, csrf.session_id(request), csrf_token):
        return message(request, pages, language, "common.csrf_title", "common.csrf_body", 403)
    if action not in actions:
        return message(
            request, pages, language, "common.error_title", "preferences.unknown_action", 400
        )
    return None
