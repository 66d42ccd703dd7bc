"""Routes: "download or erase my data", /data/{token}, reached only from a mailed link.

The preferences link lives for years in every email and gets forwarded; exporting (consent
IPs, user agents) and erasing for good need more than holding it. The preferences page
therefore only *mails* a data link (:func:`request_data_link`) to the address; that link
(``TokenPurpose.DATA``) works for ``tokens.DATA_MAX_AGE`` (one hour). Its page has the two
actions; erasure has a confirmation step. Forms carry a CSRF token bound to the data
token and the browser session, like the preferences page.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from newsletter.db import transaction
from newsletter.services import Services
from newsletter.tracking.privacy import erase_clicks, export_clicks
from newsletter.web import common, csrf, ratelimit
from newsletter.web.deps import PagesDep, ServicesDep
from newsletter.web.emails import Mailer
from newsletter.web.templating import Pages
from subscribers import privacy
from subscribers.events import How
from subscribers.queries import require_subscriber
from subscribers.tokens import TokenPurpose

router = APIRouter(tags=["subscribers"])

ACTIONS = ("export", "erase", "erase_confirm")


def request_data_link(
    services: Services,
    mailer: Mailer,
    background: BackgroundTasks,
    *,
    subscriber_id: int,
    lang: str,
) -> bool:
    """Mail the person a data link (after the response); ``False`` when over the limit
    (the per-address sign-up limit, so nobody floods an inbox through a forwarded link)."""
    with transaction(services.sessions) as session:
        person = require_subscriber(session, subscriber_id)
        limits = [
            (
                ratelimit.Limit(
                    "data-link", services.settings.web.subscribe_rate_limit_per_address
                ),
                person.email,
            )
        ]
        if not ratelimit.allow(session, limits):
            return False
        to, name = person.email, person.name
    background.add_task(
        mailer.send_data_link, to=to, subscriber_id=subscriber_id, name=name, lang=lang
    )
    return True


@router.get("/data/{token}", response_class=HTMLResponse)
def data_page(token: str, request: Request, services: ServicesDep, pages: PagesDep) -> Response:
    """The data page: download, or erase (never changes state)."""
    data = services.tokens.loads(token, TokenPurpose.DATA)
    session_id = csrf.session_id(request) or csrf.new_session_id()
    with transaction(services.sessions) as session:
        context = _context(session, pages, data.subscriber_id, token)
    context["csrf_token"] = pages.csrf.token(token, session_id)
    response = pages.render(request, "mydata.html", context)
    csrf.set_session_cookie(response, session_id, secure=request.url.scheme == "https")
    return response


@router.post("/data/{token}", response_class=HTMLResponse)
def data_action(
    token: str,
    request: Request,
    services: ServicesDep,
    pages: PagesDep,
    action: Annotated[str, Form(max_length=32)] = "",
    csrf_token: Annotated[str, Form(max_length=128)] = "",
    lang: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """``export`` (a JSON download), ``erase`` (the confirmation step), ``erase_confirm``."""
    data = services.tokens.loads(token, TokenPurpose.DATA)
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
    if action == "export":
        return _export(services, data.subscriber_id)
    with transaction(services.sessions) as session:
        if action == "erase_confirm":
            privacy.erase(session, subscriber_id=data.subscriber_id, how=How.PREFERENCES)
            erase_clicks(session, data.subscriber_id)
            return pages.render(request, "erased.html", lang=language)
        context = _context(session, pages, data.subscriber_id, token)
    context["csrf_token"] = pages.csrf.token(token, csrf.session_id(request) or "")
    return pages.render(request, "erase_confirm.html", context, lang=language)


def _context(session: Session, pages: Pages, subscriber_id: int, token: str) -> dict[str, Any]:
    person = require_subscriber(session, subscriber_id)
    return {
        "subscriber": {"email": person.email, "name": person.name},
        "action_url": f"{pages.settings.site.url}/data/{token}",
        "token": token,
    }


def _export(services: Services, subscriber_id: int) -> Response:
    with transaction(services.sessions) as session:
        payload = privacy.export_person(session, subscriber_id=subscriber_id)
        payload["clicks"] = export_clicks(session, subscriber_id)
    body = json.dumps(payload, ensure_ascii=False, indent=2)
    headers = {
        "Content-Disposition": 'attachment; filename="my-newsletter-data.json"',
        "Cache-Control": "no-store",
    }
    return Response(body, media_type="application/json; charset=utf-8", headers=headers)
