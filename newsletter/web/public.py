"""Routes: subscriber pages: /subscribe, /confirm/{token}, /unsubscribe/{token}.

The preferences pages live in :mod:`newsletter.web.preferences` and are included here.
Rules every route keeps:

- A GET never changes state (link scanners and prefetchers follow GETs); only POSTs do.
- Any token that does not verify (tampered, foreign, made up, wrong purpose) is the same 404.
- The sign-up answer is the same whether or not the address was known, and its emails go
  out after the response, so that its timing does not tell either.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Form, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from newsletter.automations.sequences.store import replacing_welcome
from newsletter.db import transaction
from newsletter.services import Services
from newsletter.settings import NewsletterSettings
from newsletter.web import common, embed, keep, mydata, oneclick, preferences, ratelimit, store
from newsletter.web.deps import ClientIp, MailerDep, PagesDep, ServicesDep
from newsletter.web.handlers import error_response
from newsletter.web.security import SUBSCRIBE_POLICY, TIMEZONE_HINT_SCRIPT
from newsletter.web.templating import Pages
from subscribers import service
from subscribers.errors import InvalidAddress, Suppressed, UnknownNewsletter
from subscribers.events import How
from subscribers.models import Subscriber, SubscriberStatus, SubscriptionStatus
from subscribers.queries import greeting_name, require_subscriber, unconfirmed_consent
from subscribers.tokens import TokenData, TokenPurpose
from subscribers.zones import is_known_timezone

log = logging.getLogger(__name__)
router = APIRouter(tags=["subscribers"])
router.include_router(preferences.router)
router.include_router(mydata.router)
router.include_router(embed.router)
router.include_router(keep.router)

#: Version of the sign-up wording, kept in each consent record.
WORDING_VERSION = "web-1"
#: Tries of one sign-up transaction when a parallel sign-up of the same address won a race.
SIGN_UP_ATTEMPTS = 3

Text = Annotated[str, Form(max_length=1000)]


@router.get("/subscribe", response_class=HTMLResponse)
def subscribe_form(request: Request, pages: PagesDep, newsletter: str = "") -> Response:
    """The sign-up form; ``?newsletter=ID`` ticks that one newsletter in advance."""
    chosen = [newsletter] if newsletter else common.preticked(pages.settings.newsletters)
    return _form(request, pages, email="", name="", chosen=chosen)


@router.post("/subscribe", response_class=HTMLResponse)
def subscribe(
    request: Request,
    background: BackgroundTasks,
    services: ServicesDep,
    pages: PagesDep,
    mailer: MailerDep,
    ip: ClientIp,
    email: Text = "",
    name: Annotated[str, Form(max_length=200)] = "",
    newsletters: Annotated[list[str] | None, Form()] = None,
    website: Text = "",
    lang: Annotated[str, Form(max_length=8)] = "",
    ad_consent: Annotated[str, Form(max_length=8)] = "",
    timezone: Text = "",
) -> Response:
    """Sign up (double opt-in): the same "check your inbox" answer for every address.

    ``ad_consent`` (the unticked box) also asks for the chosen newsletters' advertising;
    it takes effect with the confirmation, like the sign-up itself."""
    language = common.language(request, pages, lang)
    chosen = [n for n in dict.fromkeys(newsletters or []) if common.known(pages, n)]
    honeypot = bool(website.strip())
    limits = ratelimit.subscribe_limits(
        services.settings.web, ip=ip, address="" if honeypot else email
    )
    with transaction(services.sessions) as session:
        allowed = ratelimit.allow(session, limits)
    if not allowed:
        if embed.wants_json(request):
            return embed.too_many(pages, language)
        return error_response(request, 429)
    if honeypot:
        log.info("sign-up honeypot filled from %s: nothing sent", ip)
        return _done(request, pages, language)
    if not chosen:
        if embed.wants_json(request):
            return embed.refused(
                pages, language, key="subscribe.error_newsletters", field="newsletters"
            )
        error = pages.catalog.text(language, "subscribe.error_newsletters")
        return _form(request, pages, email=email, name=name, chosen=[], error=error, lang=language)
    try:
        result, to, person_name = _sign_up(
            services,
            email=email,
            newsletters=chosen,
            name=name,
            source=service.Source.FORM,
            ip=ip,
            user_agent=request.headers.get("user-agent", "")[:500],
            wording_version=WORDING_VERSION,
            locale=language,
            advertising=bool(ad_consent.strip()),
            # The browser's hint: a name this machine does not know is dropped, silently.
            timezone=timezone.strip() if is_known_timezone(timezone.strip()) else "",
        )
    except (InvalidAddress, UnknownNewsletter):
        if embed.wants_json(request):
            return embed.refused(pages, language, key="subscribe.error_email", field="email")
        error = pages.catalog.text(language, "subscribe.error_email")
        return _form(
            request, pages, email=email, name=name, chosen=chosen, error=error, lang=language
        )
    except Suppressed:
        # No automated mail to this address; the same page (it tells whom to write to).
        log.info("sign-up for a suppressed address from %s: nothing sent", ip)
        return _done(request, pages, language)
    if result.needs_confirmation:
        background.add_task(
            mailer.send_confirmation,
            to=to,
            subscriber_id=result.subscriber_id,
            name=person_name,
            lang=language,
            newsletters=[pages.settings.newsletter(n) for n in result.pending],
            consent_id=result.consent_id,
        )
    return _done(request, pages, language)


@router.get("/confirm/{token}", response_class=HTMLResponse)
def confirm_page(token: str, request: Request, services: ServicesDep, pages: PagesDep) -> Response:
    """Show the confirm button (a GET never confirms: link scanners follow GETs)."""
    data, expired = common.confirm_token(services.tokens.loads, token)
    if expired:
        return pages.render(request, "confirm_expired.html", {"token": token})
    with transaction(services.sessions) as session:
        context = {"token": token, **_confirm_context(session, pages, data)}
    return pages.render(request, "confirm.html", context)


@router.post("/confirm/{token}", response_class=HTMLResponse)
def confirm(
    token: str,
    request: Request,
    background: BackgroundTasks,
    services: ServicesDep,
    pages: PagesDep,
    mailer: MailerDep,
    ip: ClientIp,
    lang: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """Confirm the pending subscriptions; the first confirmation sends the welcome email."""
    language = common.language(request, pages, lang)
    data, expired = common.confirm_token(services.tokens.loads, token)
    if expired:
        return pages.render(request, "confirm_expired.html", {"token": token}, lang=language)
    with transaction(services.sessions) as session:
        service.confirm(session, subscriber_id=data.subscriber_id, ip=ip, consent_id=data.ref)
        person = require_subscriber(session, data.subscriber_id)
        active = common.with_status(session, person.id, SubscriptionStatus.ACTIVE)
        # Claimed in the same transaction: two confirmations racing send one welcome.
        welcome = store.claim_welcomes(session, person.id, newsletter_ids=active)
        # A newsletter whose sequence starts at confirmation (`after: 0`) welcomes with
        # that step instead: one welcome, never two (docs/automations.md).
        sequenced = replacing_welcome(session, welcome)
        welcome = [newsletter_id for newsletter_id in welcome if newsletter_id not in sequenced]
        to, name = person.email, person.name
    if welcome:
        background.add_task(
            mailer.send_welcome,
            to=to,
            subscriber_id=data.subscriber_id,
            name=name,
            lang=language,
            newsletters=common.newsletters(pages, welcome),
        )
    context = {
        "newsletters": common.newsletters(pages, active),
        "preferences_url": common.preferences_url(services, data.subscriber_id),
    }
    return pages.render(request, "confirmed.html", context, lang=language)


@router.post("/confirm/{token}/resend", response_class=HTMLResponse)
def resend_confirmation(
    token: str,
    request: Request,
    background: BackgroundTasks,
    services: ServicesDep,
    pages: PagesDep,
    mailer: MailerDep,
    ip: ClientIp,
    lang: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """Send a fresh confirmation email for a (possibly expired) confirm link."""
    language = common.language(request, pages, lang)
    data = services.tokens.loads(token, TokenPurpose.CONFIRM, max_age=common.RESEND_WINDOW)
    with transaction(services.sessions) as session:
        person = require_subscriber(session, data.subscriber_id)
        waiting = common.with_status(session, person.id, SubscriptionStatus.PENDING)
        may_mail = _may_mail(session, person)  # not after a complaint or a recent bounce
        # A link naming a sign-up is resent while that sign-up waits (even for a change only).
        still_open = unconfirmed_consent(session, person.id, data.ref) is not None
        limits = ratelimit.subscribe_limits(services.settings.web, ip=ip, address=person.email)
        allowed = ratelimit.allow(session, limits)
        to, name = person.email, greeting_name(session, person.id)
    if not allowed:
        return error_response(request, 429)
    if may_mail and (waiting or (data.ref is not None and still_open)):
        background.add_task(
            mailer.send_confirmation,
            to=to,
            subscriber_id=data.subscriber_id,
            name=name,
            lang=language,
            newsletters=common.newsletters(pages, waiting),
            consent_id=data.ref,
        )
    context = {"token": token, "resent": True}
    return pages.render(request, "confirm_expired.html", context, lang=language)


@router.get("/unsubscribe/{token}", response_class=HTMLResponse)
def unsubscribe_page(
    token: str, request: Request, services: ServicesDep, pages: PagesDep
) -> Response:
    """Show the unsubscribe button and a link to the preferences; never changes state."""
    data, newsletter = _unsubscribe_token(services, pages, token)
    with transaction(services.sessions) as session:
        require_subscriber(session, data.subscriber_id)
        live = common.with_status(session, data.subscriber_id, *common.LIVE)
    context = {
        "token": token,
        "newsletter": newsletter,
        "already": newsletter.id not in live,
        "preferences_url": common.preferences_url(services, data.subscriber_id),
    }
    return pages.render(request, "unsubscribe.html", context)


@router.post("/unsubscribe/{token}", response_class=HTMLResponse)
def unsubscribe(
    token: str,
    request: Request,
    services: ServicesDep,
    pages: PagesDep,
    one_click: Annotated[str, Form(alias="List-Unsubscribe", max_length=100)] = "",
    lang: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """Unsubscribe from the link's newsletter; RFC 8058 one-click gets a bare 200.

    One-click needs no cookie and no CSRF token: the signed token is the authority, and
    repeating it (mail providers retry) changes nothing more.
    """
    data, newsletter = _unsubscribe_token(services, pages, token)
    if one_click.strip() == "One-Click":
        # Form-urlencoded ones are mostly answered by oneclick.OneClickFastPath already.
        oneclick.one_click_unsubscribe(services, data.subscriber_id, newsletter.id)
        return PlainTextResponse("unsubscribed\n", headers={"Cache-Control": "no-store"})
    with transaction(services.sessions) as session:
        service.unsubscribe(
            session, subscriber_id=data.subscriber_id, newsletter_id=newsletter.id, how=How.LINK
        )
    context = {
        "newsletter": newsletter,
        "preferences_url": common.preferences_url(services, data.subscriber_id),
    }
    return pages.render(
        request, "unsubscribed.html", context, lang=common.language(request, pages, lang)
    )


def _confirm_context(session: Session, pages: Pages, data: TokenData) -> dict[str, Any]:
    """What confirming this link would do: the newsletters it confirms and the changes
    (name, timezone, language) it applies, shown before the button."""
    person = require_subscriber(session, data.subscriber_id)
    waiting = common.with_status(session, person.id, SubscriptionStatus.PENDING)
    consent = unconfirmed_consent(session, person.id, data.ref)
    changes: dict[str, str] = {}
    if data.ref is not None:
        waiting = [n for n in waiting if consent and n in consent.newsletters]
        changes = dict(consent.changes or {}) if consent else {}
    if person.name and not greeting_name(session, person.id):
        changes.setdefault("name", person.name)  # typed by whoever signed up: show it
    return {"newsletters": common.newsletters(pages, waiting), "changes": changes}


def _done(request: Request, pages: Pages, language: str) -> Response:
    """The one answer to every sign-up (new, known, suppressed, honeypot): check your inbox,
    and whom to write to when nothing comes (suppressed addresses get no automated mail).
    The embedded form's script (``Accept: application/json``) gets it as JSON."""
    if embed.wants_json(request):
        return embed.done(pages, language)
    sender = pages.settings.sender
    context = {"contact": sender.reply_to or sender.from_email}
    return pages.render(request, "subscribe_done.html", context, lang=language)


def _may_mail(session: Session, person: Subscriber) -> bool:
    if person.status == SubscriberStatus.ACTIVE or not person.email_hash:
        return person.status == SubscriberStatus.ACTIVE
    try:
        service.check_automated_mail(session, email_hash=person.email_hash, person=person)
    except Suppressed:
        return False
    return True


def _sign_up(services: Services, **values: Any) -> tuple[service.SubscribeResult, str, str]:
    """``service.subscribe`` in its own transaction: ``(result, address, greeting name)``.

    Two sign-ups of one new address can race to create the same row; the loser's unique
    violation is retried once, and then finds the winner's row.
    """
    for attempt in range(SIGN_UP_ATTEMPTS):
        try:
            with transaction(services.sessions) as session:
                result = service.subscribe(session, **values)
                person = require_subscriber(session, result.subscriber_id)
                return result, person.email, greeting_name(session, person.id)
        except IntegrityError:
            if attempt + 1 == SIGN_UP_ATTEMPTS:
                raise
    raise AssertionError("unreachable")


def _form(
    request: Request,
    pages: Pages,
    *,
    email: str,
    name: str,
    chosen: list[str],
    error: str = "",
    lang: str | None = None,
) -> Response:
    context = {
        "newsletters": pages.settings.newsletters,
        "form": {"email": email, "name": name, "newsletters": chosen},
        "error": error,
    }
    status = 422 if error else 200
    context["timezone_hint_script"] = TIMEZONE_HINT_SCRIPT
    response = pages.render(request, "subscribe.html", context, status_code=status, lang=lang)
    response.headers["Content-Security-Policy"] = SUBSCRIBE_POLICY
    return response


def _unsubscribe_token(
    services: Services, pages: Pages, token: str
) -> tuple[TokenData, NewsletterSettings]:
    data = services.tokens.loads(token, TokenPurpose.UNSUBSCRIBE)
    return data, common.newsletter_or_404(pages, data.newsletter_id)
