"""What every admin route needs: the auth (404 when no password is set), the editor's
session (else a redirect to the login page), page rendering with the admin texts, and the
background executor for sends."""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import Executor, ThreadPoolExecutor
from datetime import datetime
from functools import partial
from typing import Annotated, Any

from fastapi import Depends, Form, HTTPException, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse

from newsletter.errors import IssueNotFound
from newsletter.resources import template_dirs
from newsletter.services import Services
from newsletter.web.admin import actions as admin_actions
from newsletter.web.admin import store as admin_store
from newsletter.web.admin.auth import AdminAuth, AdminSession
from newsletter.web.admin.store import IssueRow
from newsletter.web.handlers import ADMIN_DISABLED
from newsletter.web.i18n import LANGUAGES, Catalog
from newsletter.web.templating import Pages
from subscribers.tokens import signing_keys

LOGIN_PATH = "/admin/login"


def get_auth(request: Request) -> AdminAuth:
    """The app's admin auth; 404 for every admin route when no password is configured."""
    state = request.app.state
    auth: AdminAuth | None = getattr(state, "admin_auth", None)
    if auth is not None:
        return auth
    services: Services = state.services
    password = services.settings.secrets.admin_password
    if not password:
        raise HTTPException(status_code=404, detail=ADMIN_DISABLED)
    keys = signing_keys(
        services.settings.secrets.secret_key,
        dev_key_path=services.settings.base_dir / ".secret_key",
    )
    auth = AdminAuth(
        password=password, secret_key=keys[0], login_limit=services.settings.web.login_rate_limit
    )
    state.admin_auth = auth
    return auth


AuthDep = Annotated[AdminAuth, Depends(get_auth)]


def get_services(request: Request) -> Services:
    """The app's services."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def active_session(request: Request, auth: AdminAuth, services: Services) -> AdminSession | None:
    """The request's session when its cookie is validly signed and its server-side record
    is active (not logged out, not expired); else None."""
    session = auth.session(request)
    if session is None or not admin_actions.session_is_active(services, session):
        return None
    return session


def get_editor(request: Request, auth: AuthDep, services: ServicesDep) -> AdminSession:
    """The logged-in editor's session, or a redirect to the login page."""
    session = active_session(request, auth, services)
    if session is None:
        raise HTTPException(status_code=303, headers={"Location": LOGIN_PATH})
    return session


EditorDep = Annotated[AdminSession, Depends(get_editor)]
#: The form field every admin form carries (see ``render``: ``csrf_token``).
CsrfField = Annotated[str, Form(alias="csrf_token")]


def get_form_editor(editor: EditorDep, csrf: CsrfField = "") -> AdminSession:
    """The editor posting a form, once the form proved it came from their own pages (403)."""
    AdminAuth.check_csrf(editor, csrf)
    return editor


#: For every state-changing admin route: logged in, and the form's CSRF token checked.
FormEditorDep = Annotated[AdminSession, Depends(get_form_editor)]


def get_known_issue(slug: str, services: ServicesDep) -> IssueRow:
    """The issue of the route's ``{slug}``, looked up in the catalog only; 404 otherwise.

    Every admin route with a slug takes this after the session (and CSRF) check: a slug
    is never a file name, and nothing is read or sent for a slug the database lacks.
    """
    with services.sessions() as session:
        row = admin_store.issue_row(session, slug)
    if row is None:
        raise IssueNotFound(f"no issue {slug!r}")
    return row


#: A database id in a route's path: a positive integer that fits the ``INTEGER`` id
#: columns (32-bit on PostgreSQL), else a 422: a 20-digit number never reaches the database.
RowId = Annotated[int, PathParam(ge=1, le=2**31 - 1)]

#: The synced issue a slug route acts on.
KnownIssueDep = Annotated[IssueRow, Depends(get_known_issue)]


def executor(request: Request) -> Executor:
    """A small pool for sends started from the dashboard (created on first use)."""
    pool: Executor | None = getattr(request.app.state, "admin_executor", None)
    if pool is None:
        pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="admin-send")
        request.app.state.admin_executor = pool
    return pool


def _catalog(request: Request) -> Catalog:
    # The admin texts (templates/web/admin/i18n) over the site's own (base page, errors).
    catalog: Catalog | None = getattr(request.app.state, "admin_catalog", None)
    if catalog is None:
        pages: Pages = request.app.state.pages
        settings = pages.settings
        admin = Catalog.load(*(d / "i18n" for d in template_dirs(settings, "web/admin")))
        catalog = Catalog(
            {lang: {**pages.catalog.messages[lang], **admin.messages[lang]} for lang in LANGUAGES}
        )
        request.app.state.admin_catalog = catalog
    return catalog


def render(
    request: Request,
    name: str,
    context: Mapping[str, Any] | None = None,
    *,
    editor: AdminSession | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """Render ``templates/web/admin/<name>`` with the admin texts and the CSRF token."""
    pages: Pages = request.app.state.pages
    lang = pages.language(request)
    zone = pages.settings.site.tz

    def local(moment: datetime | None) -> str:
        return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z") if moment else "—"

    values = {
        "t": partial(_catalog(request).text, lang),
        "csrf_token": editor.csrf if editor else "",
        "local": local,
        "logged_in": editor is not None,
        **(context or {}),
    }
    return pages.render(request, f"admin/{name}", values, status_code=status_code, lang=lang)


def redirect(path: str) -> RedirectResponse:
    """303 See Other: the answer to every successful form post."""
    return RedirectResponse(path, status_code=303)
