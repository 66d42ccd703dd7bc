"""Routes: the editors' dashboard under /admin (login, issues, sends).

Thin routes: each parses its form, checks the CSRF token, calls one function of
:mod:`newsletter.web.admin.actions` and redirects (or renders). People live in
:mod:`newsletter.web.admin.subscribers`. While no account exists every route here answers
404. Accounts, sessions and the second factor are in :mod:`newsletter.web.admin.accounts`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from newsletter.abtest import service as abtest
from newsletter.accounts import service as account_service
from newsletter.errors import NewsletterError, QuietHoursError
from newsletter.tracking.report import engagement_csv, engagement_for_send, recent_engagement
from newsletter.web.admin import accounts as admin_accounts
from newsletter.web.admin import actions
from newsletter.web.admin import integrations as admin_integrations
from newsletter.web.admin import sequences as admin_sequences
from newsletter.web.admin import store as admin_store
from newsletter.web.admin import subscribers as admin_subscribers
from newsletter.web.admin.charts import line_chart
from newsletter.web.admin.deps import (
    AuthDep,
    CsrfField,
    FormEditorDep,
    FormViewerDep,
    KnownIssueDep,
    RowId,
    ServicesDep,
    ViewerDep,
    active_session,
    executor,
    redirect,
    render,
)
from newsletter.web.deps import client_ip
from newsletter.web.security import ISSUE_CONTENT_POLICY
from subscribers.errors import SubscriberError

router = APIRouter(prefix="/admin", include_in_schema=False)


@router.get("/login")
def login_page(request: Request, auth: AuthDep, services: ServicesDep) -> Response:
    """The login form (or the dashboard when already logged in)."""
    if active_session(request, auth, services) is not None:
        return redirect("/admin/issues")
    return _login(request, auth)


def _login(
    request: Request,
    auth: AuthDep,
    *,
    error: str = "",
    status: int = 200,
    wait: int = 0,
    email: str = "",
) -> Response:
    token, nonce = auth.login_form(request)
    context = {"login_token": token, "login_error": error, "wait_seconds": wait, "email": email}
    page = render(request, "login.html", context, status_code=status)
    if nonce is not None:
        auth.set_login_cookie(page, nonce)
    if wait:
        page.headers["Retry-After"] = str(wait)
    return page


@router.post("/login")
def login(
    request: Request,
    auth: AuthDep,
    services: ServicesDep,
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=4096)] = "",
    code: Annotated[str, Form(max_length=64)] = "",
    csrf: CsrfField = "",
) -> Response:
    """Check email, password and (when set up) the second factor, throttled per address
    and per account; start a session of that account."""
    auth.check_login_token(request, csrf)
    client = client_ip(request)
    result = account_service.login(
        services,
        email=email,
        password=password,
        code=code,
        ip=client,
        free=services.settings.web.login_rate_limit,
    )
    if result.account is None:
        limited = result.error == "too_many"
        actions.login_failed(services, ip=client, limited=limited)
        status = 429 if limited else 401
        return _login(
            request, auth, error=result.error, status=status, wait=result.wait_seconds, email=email
        )
    response = redirect("/admin/issues")
    editor = auth.new_session(response, secure=request.url.scheme == "https")
    actions.start_session(services, editor, result.account, ip=client)
    return response


@router.post("/logout")
def logout(editor: FormViewerDep, auth: AuthDep, services: ServicesDep) -> Response:
    """End the session server-side (its cookie stops working everywhere) and drop it."""
    actions.end_session(services, editor)
    response = redirect("/admin/login")
    auth.end_session(response)
    return response


@router.get("")
@router.get("/")
def home(editor: ViewerDep) -> Response:
    """The dashboard starts at the issues."""
    return redirect("/admin/issues")


@router.get("/issues")
def issues(request: Request, editor: ViewerDep, services: ServicesDep) -> Response:
    """Every issue with its status and its local publication instant."""
    with services.sessions() as session:
        rows = admin_store.issue_rows(session)
        log = admin_store.admin_actions(session, limit=15)
    context = {
        "issues": rows,
        "log": log,
        "failures": actions.login_failures(services),
        "quiet_windows": {
            n.id: n.quiet_hours for n in services.settings.newsletters if n.quiet_hours
        },
    }
    return render(request, "issues.html", context, editor=editor)


@router.post("/issues/sync")
def sync(editor: FormEditorDep, services: ServicesDep) -> Response:
    """Read ``issues/`` again (new, changed and removed files)."""
    from newsletter.catalog import sync_issues

    sync_issues(services)
    actions.record(services, "sync", actor=editor.actor)
    return redirect("/admin/issues?done=synced")


def _issue_page(
    request: Request,
    editor: ViewerDep,
    services: ServicesDep,
    row: admin_store.IssueRow,
    *,
    status_code: int = 200,
    **extra: object,
) -> Response:
    with services.sessions() as session:
        row = admin_store.issue_row(session, row.slug) or row  # as it is after the action
    try:
        subject, html, text = actions.preview_html(services, row.slug)
        preview_error = ""
    except NewsletterError as exc:
        subject, html, text, preview_error = row.title, "", "", str(exc)
    context = {
        "issue": row,
        "subject": subject,
        "preview_html": html,
        "preview_text": text,
        "preview_error": preview_error,
        "audience": actions.audience(services, row.newsletter_id),
        "done": request.query_params.get("done", ""),
        "zone": services.settings.site.timezone,
        **extra,
    }
    page = render(request, "issue.html", context, editor=editor, status_code=status_code)
    page.headers["Content-Security-Policy"] = ISSUE_CONTENT_POLICY  # the previews' images
    return page


@router.get("/issues/{slug}")
def issue(
    request: Request, editor: ViewerDep, row: KnownIssueDep, services: ServicesDep
) -> Response:
    """One issue: status, preview at phone and desktop width, and the editor's actions."""
    return _issue_page(request, editor, services, row)


@router.post("/issues/{slug}/check")
def check(
    request: Request, editor: FormEditorDep, row: KnownIssueDep, services: ServicesDep
) -> Response:
    """Run the preflight check and show its findings on the issue page."""
    try:
        report = actions.run_check(services, row.slug, actor=editor.actor)
    except NewsletterError as exc:
        return _issue_page(request, editor, services, row, error=str(exc), status_code=422)
    return _issue_page(request, editor, services, row, report=report)


@router.post("/issues/{slug}/test")
def test_send(
    request: Request,
    editor: FormEditorDep,
    row: KnownIssueDep,
    services: ServicesDep,
    to: Annotated[str, Form()] = "",
) -> Response:
    """Send the issue to a few addresses now (not recorded in the ledger)."""
    try:
        sent = actions.send_test(
            services, row.slug, addresses=actions.parse_addresses(to), actor=editor.actor
        )
    except (NewsletterError, SubscriberError) as exc:
        return _issue_page(request, editor, services, row, error=str(exc), status_code=400)
    return _issue_page(request, editor, services, row, tested=sent)


@router.post("/issues/{slug}/schedule")
def schedule(
    request: Request,
    editor: FormEditorDep,
    row: KnownIssueDep,
    services: ServicesDep,
    at: Annotated[str, Form()] = "",
) -> Response:
    """Schedule (or reschedule) at a local time, or back at the file's date when empty."""
    try:
        actions.schedule(services, row.slug, at=at, actor=editor.actor)
    except NewsletterError as exc:
        return _issue_page(request, editor, services, row, error=str(exc), status_code=409)
    return redirect(f"/admin/issues/{quote(row.slug)}?done=scheduled")


@router.post("/issues/{slug}/cancel")
def cancel(
    request: Request, editor: FormEditorDep, row: KnownIssueDep, services: ServicesDep
) -> Response:
    """Cancel a scheduled issue."""
    try:
        actions.cancel(services, row.slug, actor=editor.actor)
    except NewsletterError as exc:
        return _issue_page(request, editor, services, row, error=str(exc), status_code=409)
    return redirect(f"/admin/issues/{quote(row.slug)}?done=cancelled")


@router.get("/issues/{slug}/send")
def confirm_send(
    request: Request, editor: ViewerDep, row: KnownIssueDep, services: ServicesDep
) -> Response:
    """The confirmation step: how many people will receive the issue."""
    context = {"issue": row, "audience": actions.audience(services, row.newsletter_id)}
    return render(request, "send_confirm.html", context, editor=editor)


@router.post("/issues/{slug}/send")
def send_now(
    request: Request,
    editor: FormEditorDep,
    row: KnownIssueDep,
    services: ServicesDep,
    force: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """Start the send now (after the confirmation page) and follow it.

    Inside the newsletter's quiet hours the confirmation page comes back once more, saying
    so, with a button that insists (``force``).
    """
    try:
        send_id = actions.send_now(
            services,
            row.slug,
            executor=executor(request),
            actor=editor.actor,
            force=force == "yes",
        )
    except QuietHoursError as exc:
        context = {
            "issue": row,
            "audience": actions.audience(services, row.newsletter_id),
            "quiet": str(exc),
        }
        return render(request, "send_confirm.html", context, editor=editor, status_code=409)
    except NewsletterError as exc:
        return _issue_page(request, editor, services, row, error=str(exc), status_code=409)
    return redirect(f"/admin/sends/{send_id}")


#: Issues compared side by side on a send's page.
SIDE_BY_SIDE = 5


@router.get("/sends/{send_id}")
async def send_page(
    request: Request, send_id: RowId, editor: ViewerDep, services: ServicesDep
) -> Response:
    """A send's live progress (the page refreshes itself while it runs) and its report."""
    report = await run_in_threadpool(actions.send_report, services, send_id)
    labels = [_clock(services, epoch) for epoch, _count in report.timeline]
    chart = line_chart([(float(e), float(c)) for e, c in report.timeline], x_labels=labels)
    engagement = await run_in_threadpool(engagement_for_send, services, send_id)
    ab = await run_in_threadpool(abtest.report, services, send_id)
    # The page reloads every 2 s while sending: the other issues wait until it is done.
    recent = (
        []
        if report.running
        else await run_in_threadpool(
            recent_engagement, services, engagement.newsletter_id, limit=SIDE_BY_SIDE
        )
    )
    context = {
        "report": report,
        "chart": chart,
        "done": request.query_params.get("done", ""),
        "engagement": engagement,
        "ab": ab,
        "recent": recent,
        "clicks_chart": line_chart(
            [(float(hour), float(n)) for hour, n in enumerate(engagement.first_hours)],
            x_labels=[f"+{hour}h" for hour in range(len(engagement.first_hours))],
        ),
    }
    return render(request, "send.html", context, editor=editor)


@router.get("/sends/{send_id}/engagement.csv")
async def engagement_export(send_id: RowId, editor: ViewerDep, services: ServicesDep) -> Response:
    """The send's engagement report as CSV."""
    engagement = await run_in_threadpool(engagement_for_send, services, send_id)
    headers = {
        "content-disposition": f'attachment; filename="engagement-{engagement.slug}.csv"',
        "cache-control": "no-store",
    }
    return Response(
        engagement_csv(engagement), media_type="text/csv; charset=utf-8", headers=headers
    )


def _clock(services: ServicesDep, epoch: int) -> str:
    return (
        datetime.fromtimestamp(epoch, UTC)
        .astimezone(services.settings.site.tz)
        .strftime("%H:%M:%S")
    )


@router.post("/sends/{send_id}/pause")
def pause(
    request: Request,
    send_id: RowId,
    editor: FormEditorDep,
    services: ServicesDep,
) -> Response:
    """Pause a running send before its next batch."""
    actions.pause(services, send_id, actor=editor.actor)
    return redirect(f"/admin/sends/{send_id}?done=paused")


@router.post("/sends/{send_id}/resume")
def resume(
    request: Request,
    send_id: RowId,
    editor: FormEditorDep,
    services: ServicesDep,
) -> Response:
    """Resume a paused send."""
    actions.resume(services, send_id, executor=executor(request), actor=editor.actor)
    return redirect(f"/admin/sends/{send_id}?done=resumed")


router.include_router(admin_subscribers.router)
router.include_router(admin_integrations.router)
router.include_router(admin_sequences.router)
router.include_router(admin_accounts.router)
