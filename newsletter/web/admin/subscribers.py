"""Routes: people in the dashboard: search, one person's record, unsubscribe, erase, import."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from newsletter.automations.sunset import store as sunset_store
from newsletter.events.store import events_for_email
from newsletter.tracking.privacy import reader_clicks
from newsletter.web.admin import actions
from newsletter.web.admin import store as admin_store
from newsletter.web.admin.charts import line_chart
from newsletter.web.admin.deps import (
    FormEditorDep,
    FormOwnerDep,
    RowId,
    ServicesDep,
    ViewerDep,
    redirect,
    render,
)
from subscribers.errors import SubscriberError
from subscribers.queries import get_subscriber

router = APIRouter(include_in_schema=False)
#: An uploaded CSV larger than this is refused (use `newsletter subscribers import`).
MAX_UPLOAD_BYTES = 200 * 1024 * 1024


@router.get("/subscribers")
def subscribers(
    request: Request, editor: ViewerDep, services: ServicesDep, q: str = ""
) -> Response:
    """Search people; growth of each newsletter as a chart; the import form."""
    with services.sessions() as session:
        people = admin_store.search_subscribers(session, q)
        subs = admin_store.subscriptions(session, [p.id for p in people])
        growth = {
            n.id: admin_store.subscriber_growth(session, n.id)
            for n in services.settings.newsletters
        }
        sunsets = {
            n.id: sunset_store.dashboard_counts(session, n.id)
            for n in services.settings.newsletters
            if n.sunset is not None
        }
    charts = {
        newsletter_id: line_chart(
            [(float(i), float(total)) for i, (_day, total) in enumerate(series)],
            x_labels=[day for day, _total in series],
        )
        for newsletter_id, series in growth.items()
    }
    context = {
        "q": q,
        "people": people,
        "subs": subs,
        "charts": charts,
        "sunsets": sunsets,
        "newsletters": services.settings.newsletters,
        "done": request.query_params.get("done", ""),
    }
    return render(request, "subscribers.html", context, editor=editor)


@router.get("/subscribers/{subscriber_id}")
def subscriber(
    request: Request, subscriber_id: RowId, editor: ViewerDep, services: ServicesDep
) -> Response:
    """One person: subscriptions, consent records, events, provider events."""
    with services.sessions() as session:
        person = get_subscriber(session, subscriber_id)
        if person is None:
            return render(request, "missing.html", {}, editor=editor, status_code=404)
        context = {
            "person": person,
            "subscriptions": admin_store.subscriptions(session, [subscriber_id])[subscriber_id],
            "consents": admin_store.consent_records(session, subscriber_id),
            "events": admin_store.events_of(session, subscriber_id),
            "provider_events": events_for_email(session, person.email_normalized, limit=50),
            "clicks": reader_clicks(session, subscriber_id),
            "done": request.query_params.get("done", ""),
        }
    return render(request, "subscriber.html", context, editor=editor)


@router.post("/subscribers/{subscriber_id}/unsubscribe")
def unsubscribe(
    subscriber_id: RowId,
    editor: FormEditorDep,
    services: ServicesDep,
) -> Response:
    """Unsubscribe the person from every newsletter."""
    actions.unsubscribe_person(services, subscriber_id, actor=editor.actor)
    return redirect(f"/admin/subscribers/{subscriber_id}?done=unsubscribed")


@router.post("/subscribers/{subscriber_id}/erase")
def erase(
    subscriber_id: RowId,
    editor: FormOwnerDep,
    services: ServicesDep,
    confirm: Annotated[str, Form()] = "",
) -> Response:
    """Erase the person (only with the confirmation box ticked)."""
    if confirm != "yes":
        return redirect(f"/admin/subscribers/{subscriber_id}?done=erase_unconfirmed")
    actions.erase_person(services, subscriber_id, actor=editor.actor)
    return redirect(f"/admin/subscribers/{subscriber_id}?done=erased")


@router.post("/subscribers/import")
async def import_csv(
    request: Request,
    editor: FormOwnerDep,
    services: ServicesDep,
    file: Annotated[UploadFile, File()],
    newsletter: Annotated[str, Form()] = "",
    confirmed: Annotated[str, Form()] = "",
    partial: Annotated[str, Form()] = "",
) -> Response:
    """Import a CSV with the CLI's rules; show the same summary the CLI prints."""
    newsletter_id = newsletter or services.settings.default_newsletter.id
    with tempfile.TemporaryDirectory(prefix="admin-import-") as tmp:
        # The browser's file name is never a path here (``..``, ``/``, NUL): a fixed one.
        path = Path(tmp) / "import.csv"
        path.write_bytes(await file.read(MAX_UPLOAD_BYTES + 1))
        if path.stat().st_size > MAX_UPLOAD_BYTES:
            error = "file too large for the dashboard: use `newsletter subscribers import`"
            return _import_page(request, editor, error=error, status=413)
        try:
            summary = await run_in_threadpool(
                actions.import_subscribers,
                services,
                path,
                newsletter_id=newsletter_id,
                confirmed=confirmed == "yes",
                partial=partial == "yes",
                actor=editor.actor,
            )
        except SubscriberError as exc:
            return _import_page(request, editor, error=str(exc).replace(tmp, ""), status=422)
    return _import_page(request, editor, summary=summary.as_dict(), newsletter=newsletter_id)


def _import_page(
    request: Request, editor: ViewerDep, *, status: int = 200, **context: object
) -> Response:
    return render(request, "import_result.html", context, editor=editor, status_code=status)
