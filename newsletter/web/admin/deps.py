"""What every admin route needs: the auth (404 while no account exists), the session and
its account's role (else a redirect to the login page, or 403), page rendering with the
admin texts, and the background executor for sends.

Roles are checked here only, one dependency per level: ``ViewerDep`` (any account; pages
and one's own account), ``FormEditorDep`` (writes issues and sends), ``FormOwnerDep`` /
``OwnerDep`` (subscribers' erasure and import, accounts, API keys, webhooks). A form
dependency checks the CSRF token too. A role below the route's is a 403 and the route's
body never runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime
from functools import partial
from typing import Annotated, Any

from fastapi import Depends, Form, HTTPException, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse

from newsletter.accounts import service as account_service
from newsletter.accounts.models import Role
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
    """The app's admin auth; 404 for every admin route while no account exists."""
    state = request.app.state
    auth: AdminAuth | None = getattr(state, "admin_auth", None)
    if auth is not None:
        return auth
    services: Services = state.services
    if not account_service.any_accounts(services):
        raise HTTPException(status_code=404, detail=ADMIN_DISABLED)
    keys = signing_keys(
        services.settings.secrets.secret_key,
        dev_key_path=services.settings.base_dir / ".secret_key",
    )
    auth = AdminAuth(secret_key=keys[0])
    state.admin_auth = auth
    return auth


AuthDep = Annotated[AdminAuth, Depends(get_auth)]


def get_services(request: Request) -> Services:
    """The app's services."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def active_session(request: Request, auth: AdminAuth, services: Services) -> AdminSession | None:
    """The request's session with its account, when its cookie is validly signed and its
    server-side record is active (not logged out, expired or ended); else None."""
    session = auth.session(request)
    if session is None:
        return None
    account = admin_actions.session_account(services, session)
    if account is None:
        return None
    return replace(
        session,
        account_id=account.id,
        email=account.email,
        role=account.role,
        has_totp=account.has_totp,
    )


#: Paths an account must still reach while an owner requires a second factor it lacks.
SETUP_PATHS = ("/admin/account", "/admin/logout")


def get_viewer(request: Request, auth: AuthDep, services: ServicesDep) -> AdminSession:
    """Any logged-in account's session, or a redirect to the login page (or to setting up
    a second factor, while an owner requires one the account lacks)."""
    session = active_session(request, auth, services)
    if session is None:
        raise HTTPException(status_code=303, headers={"Location": LOGIN_PATH})
    if (
        not session.has_totp
        and not request.url.path.startswith(SETUP_PATHS)
        and account_service.totp_required(services)
    ):
        raise HTTPException(status_code=303, headers={"Location": "/admin/account?totp=required"})
    return session


ViewerDep = Annotated[AdminSession, Depends(get_viewer)]
#: The form field every admin form carries (see ``render``: ``csrf_token``).
CsrfField = Annotated[str, Form(alias="csrf_token")]


def _at_least(role: Role, session: AdminSession) -> AdminSession:
    if session.role.level < role.level:
        raise HTTPException(status_code=403, detail=f"this needs the {role} role")
    return session


def get_owner(viewer: ViewerDep) -> AdminSession:
    """An owner's session (pages only owners see); 403 for the other roles."""
    return _at_least(Role.OWNER, viewer)


OwnerDep = Annotated[AdminSession, Depends(get_owner)]


def get_form_viewer(viewer: ViewerDep, csrf: CsrfField = "") -> AdminSession:
    """Any account posting a form about itself (logout, its sessions, password, TOTP),
    once the form proved it came from its own pages (403)."""
    AdminAuth.check_csrf(viewer, csrf)
    return viewer


FormViewerDep = Annotated[AdminSession, Depends(get_form_viewer)]


def get_form_editor(viewer: FormViewerDep) -> AdminSession:
    """An editor or owner posting a form (issues, sends); 403 for a viewer."""
    return _at_least(Role.EDITOR, viewer)


#: For every route that writes issues or sends: logged in as editor+, CSRF checked.
FormEditorDep = Annotated[AdminSession, Depends(get_form_editor)]


def get_form_owner(viewer: FormViewerDep) -> AdminSession:
    """An owner posting a form (erase, import, accounts, keys, webhooks); else 403."""
    return _at_least(Role.OWNER, viewer)


FormOwnerDep = Annotated[AdminSession, Depends(get_form_owner)]


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

    level = editor.role.level if editor else 0
    values = {
        "t": partial(_catalog(request).text, lang),
        "csrf_token": editor.csrf if editor else "",
        "local": local,
        "logged_in": editor is not None,
        "me": editor,
        # Which write forms a page shows: those of the routes this role may post to
        # (FormEditorDep, FormOwnerDep); a viewer sees the pages read-only.
        "can_edit": level >= Role.EDITOR.level,
        "can_own": level >= Role.OWNER.level,
        **(context or {}),
    }
    return pages.render(request, f"admin/{name}", values, status_code=status_code, lang=lang)


def redirect(path: str) -> RedirectResponse:
    """303 See Other: the answer to every successful form post."""
    return RedirectResponse(path, status_code=303)
