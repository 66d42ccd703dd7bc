"""The web pages' Jinja2 templates (``templates/web/``) and their shared context.

``Pages`` is built once per app by :func:`install` and kept on ``app.state.pages``. Every
page extends ``base.html``; the admin pages (``templates/web/admin/``) reuse it through
:meth:`Pages.render` as well. Each page gets ``lang``, ``t`` (the text lookup for that
language), ``site``, ``settings``, ``request`` and ``lang_links``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import urlencode

import jinja2
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse

from newsletter.resources import template_dirs
from newsletter.services import Services
from newsletter.settings import Settings
from newsletter.web.csrf import CsrfKey
from newsletter.web.i18n import LANGUAGES, Catalog, choose_language
from subscribers.tokens import signing_keys


@dataclass(frozen=True)
class Pages:
    """What every page render needs: the template environment, texts and the CSRF key."""

    settings: Settings
    environment: jinja2.Environment
    catalog: Catalog
    csrf: CsrfKey

    @classmethod
    def build(cls, settings: Settings, *, secret_key: str) -> Pages:
        """Templates and texts: the project's ``templates/web/``, then the packaged ones."""
        directories = template_dirs(settings, "web")
        environment = jinja2.Environment(
            loader=jinja2.FileSystemLoader([str(directory) for directory in directories]),
            autoescape=jinja2.select_autoescape(["html", "xml", "j2"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        environment.globals.update(site=settings.site, settings=settings)
        catalog = Catalog.load(*(directory / "i18n" for directory in directories))
        return cls(settings, environment, catalog, CsrfKey(secret_key))

    def language(self, request: Request) -> str:
        """The language of this request (``?lang=``, ``Accept-Language``, site default)."""
        return choose_language(
            explicit=request.query_params.get("lang"),
            accept_language=request.headers.get("accept-language"),
            default=self.settings.site.language,
        )

    def render(
        self,
        request: Request,
        name: str,
        context: Mapping[str, Any] | None = None,
        *,
        status_code: int = 200,
        lang: str | None = None,
    ) -> HTMLResponse:
        """Render ``templates/web/<name>`` for ``request`` as an HTML response."""
        chosen = lang or self.language(request)
        values = {
            "request": request,
            "lang": chosen,
            "t": partial(self.catalog.text, chosen),
            "lang_links": _lang_links(request),
            **(context or {}),
        }
        html = self.environment.get_template(name).render(values)
        return HTMLResponse(html, status_code=status_code, headers=_PAGE_HEADERS)


# Token pages must not be cached by shared caches. The security headers (CSP, no framing,
# no referrer, nosniff) are added to every response by ``newsletter.web.security``.
_PAGE_HEADERS = {"Cache-Control": "no-store"}


def _lang_links(request: Request) -> dict[str, str]:
    params = {k: v for k, v in request.query_params.items() if k != "lang"}
    return {lang: f"{request.url.path}?{urlencode({**params, 'lang': lang})}" for lang in LANGUAGES}


def install(app: FastAPI, services: Services) -> Pages:
    """Build the pages for ``services`` and keep them on ``app.state.pages``."""
    pages = Pages.build(services.settings, secret_key=_secret(services))
    app.state.pages = pages
    return pages


def _secret(services: Services) -> str:
    # The same secret as the token signer's (env, else the dev secret file), newest first.
    settings = services.settings
    keys = signing_keys(settings.secrets.secret_key, dev_key_path=settings.base_dir / ".secret_key")
    return keys[0]
