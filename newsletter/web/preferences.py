"""Routes: the preferences page, /preferences/{token}, and its actions.

Every action is a POST carrying a CSRF token bound to the page token and the browser
session (see :mod:`newsletter.web.csrf`); after a change the browser is sent back to the
page (303) with a notice, so that reloading it repeats nothing. "Download my data" and
"erase me" only mail a short-lived link to the address (:mod:`newsletter.web.mydata`):
the long-lived preferences link alone never exports nor erases.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from newsletter.db import transaction
from newsletter.settings import NewsletterSettings
from newsletter.web import common, csrf, mydata
from newsletter.web.deps import ClientIp, MailerDep, PagesDep, ServicesDep
from newsletter.web.handlers import error_response
from newsletter.web.templating import Pages
from subscribers import ad_consent, service
from subscribers.errors import Suppressed
from subscribers.events import How
from subscribers.models import Subscriber
from subscribers.queries import require_subscriber, subscriptions_of
from subscribers.tokens import TokenPurpose
from subscribers.zones import is_known_timezone, sorted_timezones

router = APIRouter(tags=["subscribers"])

#: Notices the page shows after an action, by the ``?done=`` value of the redirect.
NOTICES = {
    "saved": "preferences.saved",
    "resubscribed": "preferences.resubscribed",
    "paused": "preferences.paused",
    "resumed": "preferences.resumed",
    "unsubscribed_all": "preferences.unsubscribed_all",
    "refused": "preferences.refused",
    "data_link": "preferences.data_link_sent",
    "advertising": "preferences.advertising_saved",
    "bad_timezone": "preferences.bad_timezone",
}
#: Notices that say nothing was done.
ERRORS = ("refused", "bad_timezone")
ACTIONS = (
    "save",
    "resubscribe",
    "pause",
    "resume",
    "unsubscribe_all",
    "export",  # both mail the data link
    "erase",
    "advertising",  # the advertising consent toggle (docs/advertising.md)
)
MAX_PAUSE_WEEKS = 52


@dataclass(frozen=True)
class Row:
    """One newsletter as the page shows it to this subscriber."""

    newsletter: NewsletterSettings
    status: str  # active, pending, unsubscribed or none
    paused_until: str
    ad_given: str = ""  # the date of the advertising consent, "" when none

    @property
    def active(self) -> bool:
        """Whether the box is ticked: the subscriber gets (or will get) this newsletter."""
        return self.status in common.LIVE


@router.get("/preferences/{token}", response_class=HTMLResponse)
def preferences_page(
    token: str, request: Request, services: ServicesDep, pages: PagesDep, done: str = ""
) -> Response:
    """The preferences page (never changes state)."""
    data = services.tokens.loads(token, TokenPurpose.PREFERENCES)
    session_id = csrf.session_id(request) or csrf.new_session_id()
    with transaction(services.sessions) as session:
        context = _page_context(session, pages, data.subscriber_id, token)
    notice = pages.catalog.text(pages.language(request), NOTICES[done]) if done in NOTICES else ""
    context["error" if done in ERRORS else "notice"] = notice
    context["csrf_token"] = pages.csrf.token(token, session_id)
    response = pages.render(request, "preferences.html", context)
    csrf.set_session_cookie(response, session_id, secure=request.url.scheme == "https")
    return response


@router.post("/preferences/{token}", response_class=HTMLResponse)
def preferences_action(
    token: str,
    request: Request,
    background: BackgroundTasks,
    services: ServicesDep,
    pages: PagesDep,
    mailer: MailerDep,
    ip: ClientIp,
    action: Annotated[str, Form(max_length=32)] = "",
    csrf_token: Annotated[str, Form(max_length=128)] = "",
    newsletters: Annotated[list[str] | None, Form()] = None,
    name: Annotated[str, Form(max_length=200)] = "",
    weeks: Annotated[int, Form(ge=1, le=MAX_PAUSE_WEEKS)] = 4,
    newsletter: Annotated[str, Form(max_length=64)] = "",
    lang: Annotated[str, Form(max_length=8)] = "",
    ad_newsletters: Annotated[list[str] | None, Form()] = None,
    timezone: Annotated[str, Form(max_length=1000)] = "",
    timezone_shown: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """Apply one action of the page (``save``, ``pause``, ``export``, ``erase`` …).

    ``save`` with a ``timezone`` (an IANA name, or "" for the site's) changes it; a name
    this machine does not know changes nothing and says so.
    """
    data = services.tokens.loads(token, TokenPurpose.PREFERENCES)
    language = common.language(request, pages, lang)
    refused = common.refused_post(
        request,
        services,
        pages,
        subscriber_id=data.subscriber_id,
        token=token,
        csrf_token=csrf_token,
        action=action,
        actions=ACTIONS,
        language=language,
    )
    if refused is not None:
        return refused
    subscriber_id = data.subscriber_id
    url = f"{services.settings.site.url}/preferences/{token}"
    if action in ("export", "erase"):
        sent = mydata.request_data_link(
            services, mailer, background, subscriber_id=subscriber_id, lang=language
        )
        if not sent:
            return error_response(request, 429)
        return RedirectResponse(f"{url}?done=data_link&lang={language}", status_code=303)
    chosen = [n for n in newsletters or [] if common.known(pages, n)]
    # The page's select always posts (FastAPI reads its empty "site's" choice as absent).
    zone = timezone.strip() if timezone_shown == "1" else None
    if action == "save" and zone and not is_known_timezone(zone):
        return RedirectResponse(f"{url}?done=bad_timezone&lang={language}", status_code=303)
    with transaction(services.sessions) as session:
        require_subscriber(session, subscriber_id)
        if action == "advertising":
            done = _advertising(session, subscriber_id, set(ad_newsletters or []), request, ip)
        else:
            done = _apply(session, subscriber_id, action, chosen, name, weeks, newsletter, ip)
        if action == "save" and zone is not None:
            service.update_profile(
                session, subscriber_id=subscriber_id, timezone=zone, how=How.PREFERENCES
            )
    return RedirectResponse(f"{url}?done={done}&lang={language}", status_code=303)


def _apply(
    session: Session,
    subscriber_id: int,
    action: str,
    chosen: list[str],
    name: str,
    weeks: int,
    newsletter: str,
    ip: str,
) -> str:
    """Run one state-changing action; returns the notice to show."""
    if action == "resubscribe":
        try:
            service.resubscribe(
                session, subscriber_id=subscriber_id, newsletter_id=newsletter, ip=ip
            )
        except Suppressed:
            return "refused"
        return "resubscribed"
    if action in ("pause", "resume"):
        pause = weeks if action == "pause" else 0
        service.update_preferences(session, subscriber_id=subscriber_id, pause_weeks=pause)
        return "paused" if pause else "resumed"
    if action == "unsubscribe_all":
        service.unsubscribe(session, subscriber_id=subscriber_id, how=How.PREFERENCES)
        return "unsubscribed_all"
    if not chosen:
        # The store wants at least one newsletter in a choice: none ticked means leave all.
        service.update_preferences(session, subscriber_id=subscriber_id, name=name)
        service.unsubscribe(session, subscriber_id=subscriber_id, how=How.PREFERENCES)
        return "saved"
    service.update_preferences(session, subscriber_id=subscriber_id, name=name, newsletters=chosen)
    return "saved"


def _advertising(
    session: Session, subscriber_id: int, wanted: set[str], request: Request, ip: str
) -> str:
    """The advertising toggle: of the newsletters the person follows (the boxes shown),
    give consent for the ticked ones and withdraw it for the others."""
    shown = common.with_status(session, subscriber_id, *common.LIVE)
    ad_consent.set_consent(
        session,
        subscriber_id=subscriber_id,
        newsletter_ids=shown,
        wanted=wanted,
        source=How.PREFERENCES.value,
        ip=ip,
        user_agent=request.headers.get("user-agent", "")[:500],
    )
    return "advertising"


def _page_context(session: Session, pages: Pages, subscriber_id: int, token: str) -> dict[str, Any]:
    person = require_subscriber(session, subscriber_id)
    rows = _rows(session, pages, person)
    return {
        "subscriber": {"email": person.email, "name": person.name, "timezone": person.timezone},
        "zones": sorted_timezones(),
        "site_zone": pages.settings.site.timezone,
        "rows": rows,
        "paused": any(row.paused_until for row in rows),
        "action_url": f"{pages.settings.site.url}/preferences/{token}",
        "token": token,
    }


def _rows(session: Session, pages: Pages, person: Subscriber) -> list[Row]:
    current = {s.newsletter_id: s for s in subscriptions_of(session, person.id)}
    ads = ad_consent.consents_of(session, person.id)
    rows = []
    for item in pages.settings.newsletters:
        subscription = current.get(item.id)
        status = subscription.status if subscription else "none"
        paused = subscription.paused_until if subscription else None
        given = ads.get(item.id)
        ad_given = (
            given.given_at.astimezone(pages.settings.site.tz).strftime("%Y-%m-%d")
            if given is not None and given.status == "given" and given.given_at
            else ""
        )
        rows.append(Row(item, status, _local_date(pages, paused), ad_given))
    return rows


def _local_date(pages: Pages, value: datetime | None) -> str:
    if value is None or value <= datetime.now(value.tzinfo):
        return ""
    return value.astimezone(pages.settings.site.tz).strftime("%Y-%m-%d")
