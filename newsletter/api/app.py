"""The API app: a FastAPI app of its own, mounted at ``/api/v1`` in the web app.

Its own OpenAPI document (``/api/v1/openapi.json``), its own error handlers (RFC 9457
problem documents, :mod:`.problems`), and a request layer for the body limit and
``Idempotency-Key`` (:mod:`.middleware`). Keys and scopes: :mod:`.keys`; the caller, scope
check and per-key rate limit: :mod:`.deps`; routes are thin over :mod:`.service`.
"""

from __future__ import annotations

from fastapi import FastAPI

from newsletter.api import catalog_routes, problems, subscribers_routes
from newsletter.api.cursor import cursors_for
from newsletter.api.middleware import ApiRequestLayer
from newsletter.services import Services
from newsletter.web.emails import Mailer

PREFIX = "/api/v1"


def create_api(services: Services, *, mailer: Mailer) -> FastAPI:
    """The API app over ``services`` (mount it at :data:`PREFIX`)."""
    api = FastAPI(
        title=f"{services.settings.site.name} API",
        version="1",
        openapi_url="/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    api.state.services = services
    api.state.mailer = mailer
    api.state.cursors = cursors_for(services)
    problems.install(api)
    api.add_middleware(ApiRequestLayer, services=services)
    api.include_router(subscribers_routes.router)
    api.include_router(catalog_routes.router)
    return api
