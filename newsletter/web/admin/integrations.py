"""Routes: the dashboard's integrations page: API keys and outgoing webhooks.

The same services as ``newsletter api-keys`` and ``newsletter webhooks``; a new key or
endpoint secret is shown once, on the page that answers the form (never in a URL), and
every change is written to the audit log.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from newsletter.api import keys
from newsletter.api.errors import ApiKeyError
from newsletter.api.scopes import SCOPES
from newsletter.db import transaction
from newsletter.outgoing_webhooks import service as webhooks
from newsletter.outgoing_webhooks import store as webhook_store
from newsletter.outgoing_webhooks.kinds import EVENT_TYPES
from newsletter.services import Services
from newsletter.web.admin import store as admin_store
from newsletter.web.admin.auth import AdminSession
from newsletter.web.admin.deps import (
    FormOwnerDep,
    OwnerDep,
    RowId,
    ServicesDep,
    redirect,
    render,
)

router = APIRouter(include_in_schema=False)
PAGE = "/admin/integrations"
Choices = Annotated[list[str], Form()]
T = TypeVar("T")


@router.get("/integrations")
def integrations(request: Request, editor: OwnerDep, services: ServicesDep) -> Response:
    """Keys and endpoints, with the forms to add them."""
    return _page(request, editor, services)


@router.post("/integrations/keys")
def create_key(
    request: Request,
    editor: FormOwnerDep,
    services: ServicesDep,
    name: Annotated[str, Form(max_length=64)] = "",
    scopes: Choices = [],  # noqa: B006 - FastAPI copies defaults
) -> Response:
    """Create a key: its secret is on this page only."""
    try:
        new = _audited(
            services,
            editor,
            "api_key_created",
            lambda session: keys.create_key(session, name, scopes=scopes, created_by=editor.actor),
            lambda new: {"name": name, "scopes": list(new.scopes)},
        )
    except ApiKeyError as exc:
        return _page(request, editor, services, error=str(exc), status_code=422)
    return _page(request, editor, services, shown={"label": new.name, "secret": new.secret})


@router.post("/integrations/keys/{name}/revoke")
def revoke_key(name: str, editor: FormOwnerDep, services: ServicesDep) -> Response:
    """Revoke a key."""
    _audited(
        services,
        editor,
        "api_key_revoked",
        lambda session: keys.revoke_key(session, name),
        lambda _: {"name": name},
    )
    return redirect(PAGE)


@router.post("/integrations/webhooks")
def add_webhook(
    request: Request,
    editor: FormOwnerDep,
    services: ServicesDep,
    url: Annotated[str, Form(max_length=2000)] = "",
    events: Choices = [],  # noqa: B006 - FastAPI copies defaults
) -> Response:
    """Add an endpoint: its signing secret is on this page only."""
    try:
        new = _audited(
            services,
            editor,
            "webhook_added",
            lambda session: webhooks.add_endpoint(
                session, url, events=events, created_by=editor.actor
            ),
            lambda new: {"url": url, "events": list(new.event_types)},
        )
    except webhooks.WebhookError as exc:
        return _page(request, editor, services, error=str(exc), status_code=422)
    return _page(request, editor, services, shown={"label": new.url, "secret": new.secret})


@router.post("/integrations/webhooks/{endpoint_id}/enable")
def enable_webhook(endpoint_id: RowId, editor: FormOwnerDep, services: ServicesDep) -> Response:
    """Re-enable an endpoint disabled after repeated failure."""
    _audited(
        services,
        editor,
        "webhook_enabled",
        lambda session: webhooks.enable_endpoint(session, endpoint_id),
        lambda _: {"id": endpoint_id},
    )
    return redirect(PAGE)


@router.post("/integrations/webhooks/{endpoint_id}/remove")
def remove_webhook(endpoint_id: RowId, editor: FormOwnerDep, services: ServicesDep) -> Response:
    """Remove an endpoint and its delivery log."""
    _audited(
        services,
        editor,
        "webhook_removed",
        lambda session: webhooks.remove_endpoint(session, endpoint_id),
        lambda _: {"id": endpoint_id},
    )
    return redirect(PAGE)


def _audited(
    services: Services,
    editor: AdminSession,
    action: str,
    change: Callable[[Session], T],
    detail: Callable[[T], dict[str, Any]],
) -> T:
    """Make ``change`` and write ``action`` to the audit log, in one transaction."""
    with transaction(services.sessions) as session:
        result = change(session)
        admin_store.record_admin_action(session, action, actor=editor.actor, detail=detail(result))
    return result


def _page(
    request: Request,
    editor: AdminSession,
    services: Services,
    *,
    shown: dict[str, str] | None = None,
    error: str = "",
    status_code: int = 200,
) -> Response:
    with services.sessions() as session:
        endpoints = webhook_store.all_endpoints(session)
        context: dict[str, Any] = {
            "api_keys": keys.list_keys(session),
            "endpoints": endpoints,
            "logs": {e.id: webhooks.delivery_log(session, e.id, limit=10) for e in endpoints},
            "scopes": SCOPES,
            "event_types": EVENT_TYPES,
            "shown": shown,
            "error": error,
        }
    response = render(request, "integrations.html", context, editor=editor, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"  # a secret may be on it
    return response
