"""``/l/{token}`` (302 to the link) and ``/o/{token}`` (the open pixel).

The answer comes from the token and the in-memory link cache: no database read before the
302 once a send's links are cached, and the hit goes to the batching recorder. Answered
by an ASGI layer in front of FastAPI's routing (as the one-click unsubscribe is). Anything
but a verified token of a stored link is a 404: the target is never taken from the request.
"""

from __future__ import annotations

import base64
import re

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from newsletter.services import Services
from newsletter.tracking.classify import request_reason
from newsletter.tracking.models import LinkKind
from newsletter.tracking.recorder import HitRecorder, LinkCache, PendingHit
from newsletter.tracking.rewrite import LinkRow
from newsletter.tracking.service import track_signer
from newsletter.tracking.tokens import TrackSigner, TrackToken
from subscribers.db import utcnow

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
_NOT_IN_A_HEADER = re.compile(r"[^\x21-\x7e]")


def install(app: FastAPI, services: Services) -> HitRecorder:
    """Answer ``/l/`` and ``/o/`` in ``app`` (an ASGI layer in front of the routes, like the
    one-click fast path); the recorder, for the lifespan to flush."""
    recorder = HitRecorder(services)
    app.state.track_hits = recorder  # tests flush it at will
    app.add_middleware(
        TrackingFastPath, signer=track_signer(services), links=LinkCache(services), hits=recorder
    )
    return recorder


def location(url: str) -> str:
    """The ``Location`` for ``url``: its exact bytes, with only what no header may carry
    (controls, spaces, non-ASCII) percent-encoded as a browser would."""
    return _NOT_IN_A_HEADER.sub(
        lambda m: "".join(f"%{byte:02X}" for byte in m[0].encode("utf-8")), url
    )


class TrackingFastPath:
    """ASGI middleware: ``GET|HEAD /l/{token}`` → 302, ``/o/{token}`` → the pixel, else 404.

    In front of FastAPI's routing (no dependency resolution per redirect); anything else
    goes on to the app.
    """

    def __init__(
        self, app: ASGIApp, *, signer: TrackSigner, links: LinkCache, hits: HitRecorder
    ) -> None:
        self.app = app
        self.signer = signer
        self.links = links
        self.hits = hits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        route = _ROUTES.get(path[:3])
        if route is None:
            await self.app(scope, receive, send)
            return
        if scope["method"] not in ("GET", "HEAD"):
            await _answer(send, 405, [(b"allow", b"GET, HEAD"), *_NO_STORE], b"")
            return
        kinds = (LinkKind.OPEN,) if route == "o" else (LinkKind.LINK, LinkKind.TRAP)
        found = await self._resolve(path[3:], kinds)
        if found is None:
            await _answer(send, 404, _NO_STORE, b"")
            return
        token, link = found
        self._record(scope, token, link.kind)
        if route == "o":
            await _answer(send, 200, [(b"content-type", b"image/gif"), *_NO_STORE], PIXEL)
        else:
            target = location(link.url).encode("ascii")
            await _answer(send, 302, [(b"location", target), *_NO_STORE], b"")

    async def _resolve(
        self, token: str, kinds: tuple[str, ...]
    ) -> tuple[TrackToken, LinkRow] | None:
        verified = self.signer.loads(token)
        if verified is None:
            return None
        link = self.links.cached(verified.send_id, verified.index)
        if link is None:
            link = await run_in_threadpool(self.links.load, verified.send_id, verified.index)
        if link is None or link.kind not in kinds:
            return None
        return verified, link

    def _record(self, scope: Scope, token: TrackToken, kind: str) -> None:
        headers = {
            name.decode("latin-1").lower(): value.decode("latin-1")
            for name, value in scope.get("headers") or []
            if name.lower() in _READ_HEADERS
        }
        client = scope.get("client")
        reason = request_reason(
            method=scope["method"],
            kind=kind,
            user_agent=headers.get("user-agent", ""),
            headers=headers,
            client=str(client[0]) if client else "",
        )
        self.hits.record(PendingHit(token, kind, utcnow(), scope["method"], reason))


_ROUTES = {"/l/": "l", "/o/": "o"}
_READ_HEADERS = {b"user-agent", b"purpose", b"sec-purpose", b"x-purpose", b"x-moz"}
_NO_STORE = [(b"cache-control", b"no-store, private"), (b"referrer-policy", b"no-referrer")]


async def _answer(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    length = [(b"content-length", str(len(body)).encode("ascii"))]
    await send({"type": "http.response.start", "status": status, "headers": [*headers, *length]})
    await send({"type": "http.response.body", "body": body})
