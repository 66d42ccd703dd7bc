"""The embeddable sign-up form: ``GET /embed/{newsletter}`` and the JSON answers of
``POST /subscribe`` for it.

The snippet (``templates/web/embed_snippet.html``) posts to ``/subscribe`` from any site:
that route needs no cookie or CSRF token (a sign-up only ever sends a confirmation email to
the address given, so a forged one achieves nothing the form itself does not), and keeps
its honeypot and rate limits. To ``Accept: application/json`` it answers JSON with
``Access-Control-Allow-Origin: *``, so the snippet's script on another origin can read it;
no credentials are involved, so ``*`` gives nothing away.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from newsletter.web import common
from newsletter.web.deps import PagesDep
from newsletter.web.security import EMBED_POLICY
from newsletter.web.templating import Pages

router = APIRouter(tags=["subscribers"])

#: Headers of every JSON answer to the embedded form.
CORS = {"Access-Control-Allow-Origin": "*", "Cache-Control": "no-store", "Vary": "Accept"}


@router.get("/embed/{newsletter}", response_class=Response)
def snippet(newsletter: str, request: Request, pages: PagesDep) -> Response:
    """The HTML snippet of a sign-up form for ``newsletter`` (``?lang=ko|en``)."""
    chosen = common.newsletter_or_404(pages, newsletter)
    lang = pages.language(request)
    html = pages.environment.get_template("embed_snippet.html").render(
        lang=lang, t=lambda key, **v: pages.catalog.text(lang, key, **v), newsletter=chosen
    )
    headers = {**CORS, "Content-Security-Policy": EMBED_POLICY}  # meant for other sites
    return Response(html, media_type="text/html; charset=utf-8", headers=headers)


def wants_json(request: Request) -> bool:
    """Whether the caller asked for JSON (the embedded form's script does)."""
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def done(pages: Pages, language: str) -> JSONResponse:
    """The one answer to every accepted sign-up, as JSON."""
    message = pages.catalog.text(language, "subscribe.done_body")
    return JSONResponse({"ok": True, "message": message}, headers=CORS)


def refused(pages: Pages, language: str, *, key: str, field: str) -> JSONResponse:
    """A sign-up refused for ``field`` (422), as JSON."""
    error = pages.catalog.text(language, key)
    return JSONResponse(
        {"ok": False, "error": error, "field": field}, status_code=422, headers=CORS
    )


def too_many(pages: Pages, language: str) -> JSONResponse:
    """The rate limit's answer, as JSON."""
    error = pages.catalog.text(language, "common.rate_limited_body")
    return JSONResponse({"ok": False, "error": error}, status_code=429, headers=CORS)
