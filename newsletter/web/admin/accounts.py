"""Routes: one's own account (sessions, password, second factor), the owners' accounts
page, and the pages reached without a session (set a password through a link, forgot
the password). Every route is thin: it calls :mod:`newsletter.accounts.service`."""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from newsletter.accounts import service as account_service
from newsletter.accounts import totp
from newsletter.delivery.transactional import send_transactional
from newsletter.errors import AccountError
from newsletter.web.admin import actions
from newsletter.web.admin.auth import AdminSession
from newsletter.web.admin.deps import (
    AuthDep,
    CsrfField,
    FormOwnerDep,
    FormViewerDep,
    OwnerDep,
    ServicesDep,
    ViewerDep,
    redirect,
    render,
)
from newsletter.web.deps import client_ip

router = APIRouter(include_in_schema=False)
Text = Annotated[str, Form(max_length=4096)]
Email = Annotated[str, Form(max_length=320)]
Role = Annotated[str, Form(max_length=16)]


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"  # a secret, a code or a link may be on it
    return response


# --- one's own account ---------------------------------------------------------------------


@router.get("/account")
def account(request: Request, me: ViewerDep, services: ServicesDep) -> Response:
    """One's sessions (end the others), password change, second factor."""
    return _account_page(request, me, services)


def _account_page(
    request: Request,
    me: AdminSession,
    services: ServicesDep,
    *,
    status_code: int = 200,
    **extra: Any,
) -> Response:
    secret = "" if me.has_totp else totp.new_secret()
    context = {
        "sessions": actions.my_sessions(services, me),
        "current_key": me.key,
        "totp_secret": secret,
        "totp_uri": totp.provisioning_uri(secret, me.email) if secret else "",
        "totp_required": account_service.totp_required(services),
        "codes_left": account_service.recovery_codes_left(services, me.account_id),
        "done": request.query_params.get("done", ""),
        "totp_notice": request.query_params.get("totp", ""),
        **extra,
    }
    page = render(request, "account.html", context, editor=me, status_code=status_code)
    return _no_store(page)


@router.post("/account/sessions/end-others")
def end_other_sessions(me: FormViewerDep, services: ServicesDep) -> Response:
    """End every other session of this account (other browsers, a lost laptop)."""
    actions.end_other_sessions(services, me)
    return redirect("/admin/account?done=sessions_ended")


@router.post("/account/password")
def change_password(
    request: Request,
    me: FormViewerDep,
    services: ServicesDep,
    current: Text = "",
    new: Text = "",
) -> Response:
    """Change one's password: every session of the account ends (log in again)."""
    try:
        account_service.change_password(services, me.account_id, current, new)
    except AccountError as exc:
        return _account_page(request, me, services, error=str(exc), status_code=422)
    return redirect("/admin/login?done=password_set")


@router.post("/account/totp")
def enable_totp(
    request: Request,
    me: FormViewerDep,
    services: ServicesDep,
    secret: Annotated[str, Form(max_length=64)] = "",
    code: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Turn the second factor on (the code proves the app has the secret); the recovery
    codes are shown on this answer only."""
    try:
        codes = account_service.enable_totp(services, me.account_id, secret, code)
    except AccountError as exc:
        return _account_page(request, me, services, error=str(exc), status_code=422)
    return _no_store(render(request, "recovery_codes.html", {"codes": codes}, editor=me))


@router.post("/account/totp/disable")
def disable_totp(
    request: Request, me: FormViewerDep, services: ServicesDep, password: Text = ""
) -> Response:
    """Turn one's second factor off (asks the password; refused while owners require it)."""
    try:
        account_service.disable_totp(services, me.account_id, password)
    except AccountError as exc:
        return _account_page(request, me, services, error=str(exc), status_code=422)
    return redirect("/admin/account?done=totp_off")


# --- the owners' accounts page -------------------------------------------------------------


@router.get("/users")
def users(request: Request, me: OwnerDep, services: ServicesDep) -> Response:
    """Every account with its role; add, change a role, reset, remove; require TOTP."""
    return _users_page(request, me, services)


def _users_page(
    request: Request, me: AdminSession, services: ServicesDep, **extra: Any
) -> Response:
    context = {
        "accounts": account_service.list_users(services),
        "roles": ["viewer", "editor", "owner"],
        "totp_required": account_service.totp_required(services),
        "error": "",
        "shown_link": "",
        **extra,
    }
    status = 422 if context["error"] else 200
    return _no_store(render(request, "users.html", context, editor=me, status_code=status))


def _users_change(
    request: Request, me: AdminSession, services: ServicesDep, change: Callable[[], object]
) -> Response:
    """Make ``change``; back to the accounts page, or that page with its error (422)."""
    try:
        change()
    except AccountError as exc:
        return _users_page(request, me, services, error=str(exc))
    return redirect("/admin/users")


@router.post("/users")
def add_user(
    request: Request,
    me: FormOwnerDep,
    services: ServicesDep,
    email: Email = "",
    role: Role = "",
) -> Response:
    """Add an account; its one-time set-password link is shown on this answer only."""
    try:
        new, link = account_service.add_user(
            services, email, account_service.parse_role(role), actor=me.actor
        )
    except AccountError as exc:
        return _users_page(request, me, services, error=str(exc))
    return _users_page(request, me, services, shown_link=link, shown_for=new.email)


@router.post("/users/role")
def set_role(
    request: Request,
    me: FormOwnerDep,
    services: ServicesDep,
    email: Email = "",
    role: Role = "",
) -> Response:
    """Change an account's role (its sessions end)."""
    return _users_change(
        request,
        me,
        services,
        lambda: account_service.set_role(
            services, email, account_service.parse_role(role), actor=me.actor
        ),
    )


@router.post("/users/reset")
def reset_user(
    request: Request,
    me: FormOwnerDep,
    services: ServicesDep,
    email: Email = "",
) -> Response:
    """Clear an account's password and second factor; show its new set-password link."""
    try:
        link = account_service.reset_user(services, email, actor=me.actor)
    except AccountError as exc:
        return _users_page(request, me, services, error=str(exc))
    return _users_page(request, me, services, shown_link=link, shown_for=email)


@router.post("/users/remove")
def remove_user(
    request: Request,
    me: FormOwnerDep,
    services: ServicesDep,
    email: Email = "",
) -> Response:
    """Remove an account: its open sessions are refused at their next request."""
    return _users_change(
        request, me, services, lambda: account_service.remove_user(services, email, actor=me.actor)
    )


@router.post("/users/require-totp")
def require_totp(
    me: FormOwnerDep, services: ServicesDep, required: Annotated[str, Form()] = ""
) -> Response:
    """Require (or stop requiring) a second factor of every account."""
    account_service.set_totp_required(services, required == "yes", actor=me.actor)
    return redirect("/admin/users")


# --- without a session: set a password through a link, forgot the password ------------------


@router.get("/password")
def password_page(
    request: Request, auth: AuthDep, services: ServicesDep, token: str = ""
) -> Response:
    """The set-password form of a one-time link (from ``users add|reset`` or by email)."""
    try:
        who = account_service.link_account(services, token[:2000]).email
        error = ""
    except AccountError as exc:
        who, error = "", str(exc)
    return _password_form(request, auth, token=token, who=who, error=error)


def _password_form(
    request: Request, auth: AuthDep, *, token: str, who: str, error: str
) -> Response:
    login_token, nonce = auth.login_form(request)
    context = {"login_token": login_token, "token": token, "who": who, "error": error}
    page = render(request, "password.html", context, status_code=422 if error else 200)
    if nonce is not None:
        auth.set_login_cookie(page, nonce)
    page.headers["Referrer-Policy"] = "no-referrer"
    return _no_store(page)


@router.post("/password")
def set_password(
    request: Request,
    auth: AuthDep,
    services: ServicesDep,
    token: Annotated[str, Form(max_length=2000)] = "",
    password: Text = "",
    csrf: CsrfField = "",
) -> Response:
    """Set the password (the link then stops working); log in with it."""
    auth.check_login_token(request, csrf)
    try:
        account_service.use_password_link(services, token, password)
    except AccountError as exc:
        return _password_form(request, auth, token=token, who="", error=str(exc))
    return redirect("/admin/login?done=password_set")


@router.get("/forgot")
def forgot_page(request: Request, auth: AuthDep) -> Response:
    """Ask for a password link by email."""
    token, nonce = auth.login_form(request)
    page = render(request, "forgot.html", {"login_token": token, "sent": False})
    if nonce is not None:
        auth.set_login_cookie(page, nonce)
    return page


@router.post("/forgot")
def forgot(
    request: Request,
    auth: AuthDep,
    services: ServicesDep,
    email: Email = "",
    csrf: CsrfField = "",
) -> Response:
    """Mail a one-hour set-password link to an account's address. The answer is the same
    whether or not the account exists; each request counts as a failed login of the
    client address, so it cannot be used to flood a mailbox."""
    auth.check_login_token(request, csrf)
    client = client_ip(request)
    limit = services.settings.web.login_rate_limit
    if account_service.reset_request_allowed(services, ip=client, free=limit):
        found = account_service.reset_link_for(services, email)
        if found is not None:
            address, link = found
            _mail_link(services, address, link)
    token, _nonce = auth.login_form(request)
    return render(request, "forgot.html", {"login_token": token, "sent": True})


def _mail_link(services: ServicesDep, address: str, link: str) -> None:
    site = services.settings.site.name
    text = (
        f"A password link for the {site} dashboard was asked for this address.\n\n"
        f"{link}\n\nIt works once, for one hour. If you did not ask for it, ignore this "
        "email: your password stays as it is.\n"
    )
    html = (
        f"<p>A password link for the {escape(site)} dashboard was asked for this address.</p>"
        f'<p><a href="{escape(link)}">Set a new password</a></p>'
        "<p>It works once, for one hour. If you did not ask for it, ignore this email: your "
        "password stays as it is.</p>"
    )
    send_transactional(
        services, to=address, subject=f"{site}: set your dashboard password", html=html, text=text
    )
