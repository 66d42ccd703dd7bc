"""FastAPI dependencies shared by the subscriber pages and the archive.

Routes take what they need as parameters (``services: ServicesDep``, ``pages: PagesDep``);
everything comes from ``app.state``, filled once by ``create_app``. The dependencies are
``async`` on purpose: FastAPI runs a sync dependency in the thread pool, a hop per request.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, FastAPI, Request

from newsletter.services import Services
from newsletter.web import handlers, templating
from newsletter.web.emails import Mailer
from newsletter.web.oneclick import OneClickFastPath
from newsletter.web.templating import Pages


async def get_services(request: Request) -> Services:
    """The app's ``Services``."""
    services: Services = request.app.state.services
    return services


async def get_pages(request: Request) -> Pages:
    """The app's page renderer."""
    pages: Pages = request.app.state.pages
    return pages


async def get_mailer(request: Request) -> Mailer:
    """The app's confirmation/welcome mailer."""
    mailer: Mailer = request.app.state.mailer
    return mailer


def client_ip(request: Request) -> str:
    """The client's address, as :mod:`newsletter.web.clientaddr` decided it (forwarded
    headers count only from ``web.trusted_proxies``): the one source for every caller."""
    return request.client.host if request.client else ""


async def get_client_ip(request: Request) -> str:
    """:func:`client_ip` as a dependency."""
    return client_ip(request)


ServicesDep = Annotated[Services, Depends(get_services)]
PagesDep = Annotated[Pages, Depends(get_pages)]
MailerDep = Annotated[Mailer, Depends(get_mailer)]
ClientIp = Annotated[str, Depends(get_client_ip)]


def install(app: FastAPI, services: Services) -> None:
    """Give ``app`` what the subscriber pages need: pages, mailer, error handlers, and the
    one-click unsubscribe fast path."""
    pages = templating.install(app, services)
    app.state.mailer = Mailer(services, pages.catalog)
    handlers.install(app)
    app.add_middleware(OneClickFastPath, services=services)
