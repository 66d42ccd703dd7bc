"""Routes: ``/keep/{token}``, the "yes, keep sending" answer of the sunset's email.

GET shows the question and a button and never changes state (link scanners and
prefetchers follow GETs: a machine must not answer for the reader); POST records the yes
(:func:`newsletter.automations.sunset.service.answer_yes`). A token that does not verify,
or names no episode of that reader, is the same 404 as any bad token.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from newsletter.automations.sunset import service as sunset
from newsletter.services import Services
from newsletter.web import common
from newsletter.web.deps import PagesDep, ServicesDep
from newsletter.web.templating import Pages
from subscribers.errors import InvalidToken
from subscribers.tokens import INVALID_MESSAGE, TokenData, TokenPurpose

router = APIRouter(tags=["subscribers"])
_TITLES = {sunset.Answer.ASK: "sunset.page_title", sunset.Answer.LEFT: "sunset.left_title"}


@router.get("/keep/{token}", response_class=HTMLResponse)
def keep_page(token: str, request: Request, services: ServicesDep, pages: PagesDep) -> Response:
    """The question and its button (or, not subscribed by choice, the preferences link)."""
    data = _token(services, token)
    answer = _found(sunset.keep_status(services, data))
    return _page(request, pages, services, data, answer, token=token)


@router.post("/keep/{token}", response_class=HTMLResponse)
def keep(
    token: str,
    request: Request,
    services: ServicesDep,
    pages: PagesDep,
    lang: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """Record the yes: the reader keeps getting the newsletter."""
    data = _token(services, token)
    answer = _found(sunset.answer_yes(services, data))
    language = common.language(request, pages, lang)
    return _page(request, pages, services, data, answer, token=token, lang=language)


def _token(services: Services, token: str) -> TokenData:
    return services.tokens.loads(token, TokenPurpose.KEEP)


def _found(answer: sunset.Answer | None) -> sunset.Answer:
    if answer is None:
        raise InvalidToken(INVALID_MESSAGE)
    return answer


def _page(
    request: Request,
    pages: Pages,
    services: Services,
    data: TokenData,
    answer: sunset.Answer,
    *,
    token: str,
    lang: str | None = None,
) -> Response:
    context = {
        "token": token,
        "answer": answer.value,
        "title_key": _TITLES.get(answer, "sunset.kept_title"),
        "newsletter": common.newsletter_or_404(pages, data.newsletter_id),
        "preferences_url": common.preferences_url(services, data.subscriber_id),
    }
    return pages.render(request, "keep.html", context, lang=lang)
