"""Errors of ``/api/v1`` as ``application/problem+json`` (RFC 9457), in one place.

Every error the API answers is a problem document: ``type``, ``title``, ``status``,
``detail``, ``instance`` and, for bad input, ``errors``: a list of ``{field, message}``
naming each field that was refused (``email``, ``query.limit``, ``header.idempotency-key``).
The project's own exceptions get the statuses of :mod:`newsletter.web.handlers`.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from newsletter import errors
from newsletter.api.errors import Problem
from newsletter.web.handlers import status_for
from subscribers import errors as subscriber_errors

log = logging.getLogger(__name__)
MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "https://newsletter.invalid/problems/"

#: The field a subscriber-store error is about, when it is about one.
_FIELDS: tuple[tuple[type[Exception], str, int], ...] = (
    (subscriber_errors.InvalidAddress, "email", 422),
    (subscriber_errors.UnknownNewsletter, "newsletters", 422),
    (subscriber_errors.InvalidTimezone, "timezone", 422),
)
#: Statuses the API gives where the web app's mapping has none of its own.
_STATUSES: tuple[tuple[type[Exception], int], ...] = (
    (errors.SchedulerError, 409),
    (errors.RenderError, 422),
)


class FieldError(BaseModel):
    """One refused input field."""

    field: str
    message: str


class ProblemDocument(BaseModel):
    """An RFC 9457 problem details document."""

    type: str
    title: str
    status: int
    detail: str
    instance: str
    errors: list[FieldError] = []


#: The error responses every operation may give, for the OpenAPI document.
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ProblemDocument, "content": {MEDIA_TYPE: {}}, "description": title}
    for status, title in (
        (400, "Bad request"),
        (401, "Missing or invalid API key"),
        (403, "The key lacks the scope"),
        (404, "Not found"),
        (409, "Conflict"),
        (413, "Body too large"),
        (415, "Unsupported media type"),
        (422, "Invalid input"),
        (429, "Rate limited"),
    )
}


def problem_response(
    request: Request,
    status: int,
    title: str,
    detail: str = "",
    *,
    fields: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """A problem document response."""
    body = ProblemDocument(
        type=TYPE_BASE + title.lower().replace(" ", "-"),
        title=title,
        status=status,
        detail=detail or title,
        instance=request.url.path,
        errors=fields or [],
    )
    return JSONResponse(
        body.model_dump(), status_code=status, media_type=MEDIA_TYPE, headers=headers
    )


def _field_of(loc: tuple[Any, ...]) -> str:
    where, *rest = [str(part) for part in loc] or ["body"]
    if where == "body":
        return ".".join(rest) or "body"
    return ".".join([where, *rest])


def install(app: FastAPI) -> None:
    """Register the problem handlers on the API app."""

    async def problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Problem)
        fields = [FieldError(field=exc.field, message=exc.detail)] if exc.field else []
        return problem_response(
            request, exc.status, exc.title, exc.detail, fields=fields, headers=exc.headers
        )

    async def invalid(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        fields = [
            FieldError(field=_field_of(tuple(e.get("loc", ()))), message=str(e.get("msg", "")))
            for e in exc.errors()
        ]
        detail = "; ".join(f"{f.field}: {f.message}" for f in fields[:5])
        return problem_response(request, 422, "Invalid input", detail, fields=fields)

    async def project_error(request: Request, exc: Exception) -> JSONResponse:
        for kind, field, status in _FIELDS:
            if isinstance(exc, kind):
                fields = [FieldError(field=field, message=str(exc))]
                return problem_response(request, status, "Invalid input", str(exc), fields=fields)
        status = next((s for k, s in _STATUSES if isinstance(exc, k)), None) or status_for(exc)
        if status >= 500:
            log.error("%s on %s %s: %s", type(exc).__name__, request.method, request.url, exc)
            return problem_response(request, status, "Server error")
        title = {404: "Not found", 409: "Conflict"}.get(status, "Refused")
        return problem_response(request, status, title, "" if status == 404 else str(exc))

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        title = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, "Error")
        return problem_response(
            request, exc.status_code, title, str(exc.detail), headers=dict(exc.headers or {})
        )

    async def crash(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return problem_response(request, 500, "Server error")

    app.add_exception_handler(Problem, problem)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(errors.NewsletterError, project_error)
    app.add_exception_handler(subscriber_errors.SubscriberError, project_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, crash)
