"""``/l/{token}`` (302 to the link) and ``/o/{token}`` (the open pixel).

The answer comes from the token and the in-memory link cache: no database read before the
302 once a send's links are cached, and the hit goes to the batching recorder. Anything
but a verified token of a stored link is a 404: the target is never taken from the request.
"""

from __future__ import annotations

import base64
import re

from fastapi import APIRouter, FastAPI, Request, Response
from starlette.concurrency import run_in_threadpool

from newsletter.services import Services
from newsletter.tracking.classify import request_reason
from newsletter.tracking.models import LinkKind
from newsletter.tracking.recorder import HitRecorder, LinkCache, PendingHit
from newsletter.tracking.rewrite import LinkRow
from newsletter.tracking.service import track_signer
from newsletter.tracking.tokens import TrackSigner, TrackToken
from subscribers.db import utcnow

router = APIRouter(include_in_schema=False)
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
_NOT_IN_A_HEADER = re.compile(r"[^\x21-\x7e]")
NO_STORE = {"cache-control": "no-store, private", "referrer-policy": "no-referrer"}


def install(app: FastAPI, services: Services) -> HitRecorder:
    """Give ``app`` the tracking routes' state; the recorder, for the lifespan to flush."""
    recorder = HitRecorder(services)
    app.state.track_signer = track_signer(services)
    app.state.track_links = LinkCache(services)
    app.state.track_hits = recorder
    app.include_router(router)
    return recorder


def location(url: str) -> str:
    """The ``Location`` for ``url``: its exact bytes, with only what no header may carry
    (controls, spaces, non-ASCII) percent-encoded as a browser would."""
    return _NOT_IN_A_HEADER.sub(
        lambda m: "".join(f"%{byte:02X}" for byte in m[0].encode("utf-8")), url
    )


@router.api_route("/l/{token}", methods=["GET", "HEAD"])
async def follow_link(token: str, request: Request) -> Response:
    """302 to the link the token names, recording the hit."""
    found = await _resolve(request, token, (LinkKind.LINK, LinkKind.TRAP))
    if found is None:
        return Response(status_code=404, headers=NO_STORE)
    verified, link = found
    _record(request, verified, link.kind)
    return Response(status_code=302, headers={"location": location(link.url), **NO_STORE})


@router.api_route("/o/{token}", methods=["GET", "HEAD"])
async def open_pixel(token: str, request: Request) -> Response:
    """A transparent 1×1 GIF, recording the open."""
    found = await _resolve(request, token, (LinkKind.OPEN,))
    if found is None:
        return Response(status_code=404, headers=NO_STORE)
    _record(request, found[0], LinkKind.OPEN)
    return Response(PIXEL, media_type="image/gif", headers=NO_STORE)


async def _resolve(
    request: Request, token: str, kinds: tuple[str, ...]
) -> tuple[TrackToken, LinkRow] | None:
    signer: TrackSigner = request.app.state.track_signer
    verified = signer.loads(token)
    if verified is None:
        return None
    cache: LinkCache = request.app.state.track_links
    link = cache.cached(verified.send_id, verified.index)
    if link is None:
        link = await run_in_threadpool(cache.load, verified.send_id, verified.index)
    if link is None or link.kind not in kinds:
        return None
    return verified, link


def _record(request: Request, token: TrackToken, kind: str) -> None:
    headers = request.headers
    reason = request_reason(
        method=request.method,
        kind=kind,
        user_agent=headers.get("user-agent", ""),
        headers={
            name: headers.get(name, "") for name in ("purpose", "sec-purpose", "x-purpose", "x-moz")
        },
        client=request.client.host if request.client else "",
    )
    recorder: HitRecorder = request.app.state.track_hits
    recorder.record(PendingHit(token, kind, utcnow(), request.method, reason))
