"""Routes: provider webhooks: POST /webhooks/sendgrid.

What can be refused without the body is refused first: no verification key, no signature,
a timestamp that is not Unix seconds (400) or further than ``web.webhook_max_age`` from now
(403: a replay). The body is then read as raw bytes, at most ``web.webhook_max_bytes`` of
it (a larger ``Content-Length``, or a stream that grows past it, is a 413 and the rest is
never read), and verified before anything is parsed: the signature covers the bytes
exactly as sent. A post that does not verify gets 403 and stores nothing; signed bytes
that are not a flat JSON array of events get 400.
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from newsletter.events.sendgrid import SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookRejected
from newsletter.events.service import SendgridWebhook

router = APIRouter()


class BodyTooLarge(Exception):
    """The request body is larger than the route takes."""


def _receiver(request: Request) -> SendgridWebhook:
    # Built on first use (the key is parsed once per app, not per request).
    receiver: SendgridWebhook | None = getattr(request.app.state, "sendgrid_webhook", None)
    if receiver is None:
        receiver = SendgridWebhook(request.app.state.services)
        request.app.state.sendgrid_webhook = receiver
    return receiver


async def read_body(request: Request, *, limit: int) -> bytes:
    """The request body, or :class:`BodyTooLarge` as soon as it passes ``limit`` bytes.

    A declared ``Content-Length`` over the limit is refused before reading anything; a
    chunked body is read piece by piece and abandoned once it grows past the limit.
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge()
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise BodyTooLarge()
    return bytes(body)


@router.post("/webhooks/sendgrid", include_in_schema=False)
async def sendgrid_events(request: Request) -> JSONResponse:
    """Ingest one signed post of SendGrid events; 403 when the signature does not verify."""
    receiver = _receiver(request)
    signature = request.headers.get(SIGNATURE_HEADER)
    timestamp = request.headers.get(TIMESTAMP_HEADER)
    limit = receiver.services.settings.web.webhook_max_bytes
    try:
        receiver.check_headers(signature=signature, timestamp=timestamp, now=time.time())
        body = await read_body(request, limit=limit)
        result = await run_in_threadpool(
            receiver.ingest, body, signature=signature, timestamp=timestamp, now=time.time()
        )
    except WebhookRejected as exc:
        return JSONResponse({"error": str(exc)}, status_code=exc.status)
    except BodyTooLarge:
        return JSONResponse(
            {"error": f"webhook body larger than {limit} bytes"},
            status_code=413,
            headers={"Connection": "close"},
        )
    return JSONResponse(
        {
            "received": result.received,
            "stored": result.stored,
            "duplicates": result.duplicates,
            "ignored": result.ignored,
        }
    )
