"""Routes: provider webhooks: POST /webhooks/sendgrid.

The body is read as raw bytes and verified before anything is parsed: the signature covers
the bytes exactly as sent. A post that does not verify gets 403 and stores nothing.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from newsletter.provider_event_service import SendgridWebhook
from newsletter.provider_events import SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookRejected

router = APIRouter()


def _receiver(request: Request) -> SendgridWebhook:
    # Built on first use (the key is parsed once per app, not per request).
    receiver: SendgridWebhook | None = getattr(request.app.state, "sendgrid_webhook", None)
    if receiver is None:
        receiver = SendgridWebhook(request.app.state.services)
        request.app.state.sendgrid_webhook = receiver
    return receiver


@router.post("/webhooks/sendgrid", include_in_schema=False)
async def sendgrid_events(request: Request) -> JSONResponse:
    """Ingest one signed post of SendGrid events; 403 when the signature does not verify."""
    body = await request.body()
    try:
        result = await run_in_threadpool(
            _receiver(request).ingest,
            body,
            signature=request.headers.get(SIGNATURE_HEADER),
            timestamp=request.headers.get(TIMESTAMP_HEADER),
        )
    except WebhookRejected as exc:
        return JSONResponse({"error": str(exc)}, status_code=exc.status)
    return JSONResponse(
        {
            "received": result.received,
            "stored": result.stored,
            "duplicates": result.duplicates,
            "ignored": result.ignored,
        }
    )
