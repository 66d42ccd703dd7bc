"""The web app (FastAPI): subscriber pages, archive, admin, webhooks, health."""

from __future__ import annotations

import logging

from fastapi import FastAPI

from newsletter.api.app import PREFIX, create_api
from newsletter.outgoing_webhooks.runner import webhooks_lifespan
from newsletter.scheduler.lifespan import scheduler_lifespan
from newsletter.services import Services
from newsletter.tracking import routes as tracking_routes
from newsletter.tracking.recorder import tracking_lifespan
from newsletter.web import admin, archive, deps, public, webhooks
from newsletter.web.clientaddr import ClientAddress
from newsletter.web.security import SecurityHeaders

log = logging.getLogger("newsletter.web")


def create_app(
    services: Services, *, scheduler: bool = False, outgoing_webhooks: bool = False
) -> FastAPI:
    """Build the app over ``services``; with ``scheduler`` the scheduler runs in its lifespan,
    with ``outgoing_webhooks`` their delivery loop (both are on in ``newsletter serve``)."""
    lifespan = scheduler_lifespan(services) if scheduler else None
    if outgoing_webhooks:
        lifespan = webhooks_lifespan(services, lifespan)
    app = FastAPI(
        title=services.settings.site.name, docs_url=None, redoc_url=None, lifespan=lifespan
    )
    app.state.services = services
    # /l/ and /o/: their hits are written in batches by the lifespan (every second, at exit).
    app.router.lifespan_context = tracking_lifespan(
        tracking_routes.install(app, services), app.router.lifespan_context
    )
    deps.install(app, services)  # pages, mailer, error handlers
    app.add_middleware(SecurityHeaders)  # CSP, nosniff, referrer policy on every response
    # Added last, so outermost: every route and middleware sees the decided client address.
    app.add_middleware(ClientAddress, trusted=services.settings.web.trusted_networks)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    for module in (public, archive, admin, webhooks):
        app.include_router(module.router)
    app.mount(PREFIX, create_api(services, mailer=app.state.mailer))
    _bootstrap_accounts(services)
    return app


def _bootstrap_accounts(services: Services) -> None:
    """The first owner from NEWSLETTER_ADMIN_PASSWORD where no account exists (it says so);
    a hint when the dashboard has no account at all."""
    from newsletter.accounts import service as account_service

    if account_service.bootstrap_owner(services, services.settings.web.admin_email):
        return
    if not account_service.any_accounts(services):
        log.warning(
            "the admin dashboard (/admin) is off: add an owner with `newsletter users add EMAIL "
            "--role owner`, or set NEWSLETTER_ADMIN_PASSWORD to enable it (the first start "
            "then creates an owner with that password)"
        )
