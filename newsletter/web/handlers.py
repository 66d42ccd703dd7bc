"""The web app's one mapping from the project's exceptions to HTTP statuses and pages.

Both roots are handled here: ``NewsletterError`` and ``SubscriberError``. A browser (its
``Accept`` names HTML) gets a page in its language; anything else gets ``{"error": ...}``.
An invalid token of any kind is the same 404 as a page that does not exist.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from newsletter import errors
from newsletter.api.errors import ApiError
from newsletter.web.templating import Pages
from subscribers import errors as subscriber_errors

log = logging.getLogger(__name__)

#: The ``detail`` of the 404 that every ``/admin`` route answers without an admin password:
#: a browser gets a page saying how to enable the dashboard instead of "not found".
ADMIN_DISABLED = (
    "the admin dashboard is not enabled: add an owner (newsletter users add EMAIL --role owner)"
    " or set NEWSLETTER_ADMIN_PASSWORD"
)

#: The first matching class in this order decides the status.
STATUSES: tuple[tuple[type[Exception], int], ...] = (
    (subscriber_errors.InvalidToken, 404),
    (subscriber_errors.SubscriberNotFound, 404),
    (subscriber_errors.InvalidAddress, 422),
    (subscriber_errors.ImportRejected, 422),
    (subscriber_errors.Suppressed, 409),
    (subscriber_errors.SubscriberError, 400),
    (errors.IssueNotFound, 404),
    (errors.SendNotFound, 404),
    (errors.IssueError, 422),
    (errors.CheckFailed, 422),
    (errors.SendStateError, 409),
    (errors.BackendError, 502),
    (errors.SchedulerError, 409),
    # The dashboard's integrations page: an unknown key or endpoint, a refused value.
    (ApiError, 422),
    (errors.AccountError, 422),
    (errors.ConfigError, 500),
    (errors.NewsletterError, 500),
)


def status_for(exc: Exception) -> int:
    """The HTTP status for one of the project's exceptions."""
    return next((status for kind, status in STATUSES if isinstance(exc, kind)), 500)


def error_response(request: Request, status: int, message: str | None = None) -> Response:
    """An error as a page in the reader's language, or as JSON for non-browsers."""
    if "text/html" not in request.headers.get("accept", ""):
        return JSONResponse({"error": message or _default_message(status)}, status_code=status)
    pages: Pages = request.app.state.pages
    lang = pages.language(request)
    text = pages.catalog.text
    if status == 404 and message == ADMIN_DISABLED:
        title = text(lang, "common.admin_disabled_title")
        body = text(lang, "common.admin_disabled_body")
    elif status == 404:
        title, body = text(lang, "common.not_found_title"), text(lang, "common.not_found_body")
    elif status == 429:
        title, body = (
            text(lang, "common.rate_limited_title"),
            text(lang, "common.rate_limited_body"),
        )
    elif status >= 500:
        title, body = text(lang, "common.error_title"), text(lang, "common.server_error_body")
    else:
        title, body = text(lang, "common.error_title"), message or ""
    context = {"title": title, "body": body, "status_code": status}
    return pages.render(request, "message.html", context, status_code=status, lang=lang)


def _default_message(status: int) -> str:
    return {404: "not found", 429: "too many requests"}.get(status, "request failed")


def install(app: FastAPI) -> None:
    """Register the handlers on ``app``."""

    async def project_error(request: Request, exc: Exception) -> Response:
        status = status_for(exc)
        if status >= 500:
            log.error("%s on %s %s: %s", type(exc).__name__, request.method, request.url.path, exc)
        # 404s never say why: a tampered token and a foreign one look the same.
        message = None if status == 404 else str(exc)
        return error_response(request, status, message)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code in (404, 405, 429) or exc.status_code >= 500:
            response = error_response(request, exc.status_code, str(exc.detail))
        else:
            response = JSONResponse({"detail": exc.detail}, status_code=exc.status_code)
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        return response

    async def refused_by_database(request: Request, exc: Exception) -> Response:
        # The database refused a value it cannot store (a NUL byte in PostgreSQL text, a
        # number past a column's range): the request's input was bad, not the server.
        log.warning(
            "%s %s: the database refused a value: %s", request.method, request.url.path, exc
        )
        return error_response(request, 400, "a value in the request cannot be stored")

    app.add_exception_handler(errors.NewsletterError, project_error)
    app.add_exception_handler(DataError, refused_by_database)
    app.add_exception_handler(subscriber_errors.SubscriberError, project_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
