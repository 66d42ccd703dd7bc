"""The API's request layer below routing: body size limit and ``Idempotency-Key``.

- A body larger than ``api.max_body_bytes`` is refused with 413 before any route runs.
- A POST with ``Idempotency-Key`` (per API key) runs once: the first answer is stored and
  replayed to every repeat with the same body (``Idempotent-Replayed: true``); a repeat
  with another body is 409, and so is a repeat while the first is still running. Answers
  that a retry should not keep (5xx, 401, 403, 409, 429) are not stored.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import timedelta

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from newsletter.api import keys, store
from newsletter.api.problems import MEDIA_TYPE, TYPE_BASE
from newsletter.db import transaction
from newsletter.services import Services
from subscribers.db import utcnow

_NOT_KEPT = {401, 403, 408, 409, 429}


class ApiRequestLayer:
    """ASGI middleware of the API app (see the module docstring)."""

    def __init__(self, app: ASGIApp, *, services: Services) -> None:
        self.app = app
        self.services = services
        self.max_body = services.settings.api.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body:
            await _problem(scope, send, 413, "Body too large", self._too_large())
            return
        body = await self._read_body(receive)
        if body is None:
            await _problem(scope, send, 413, "Body too large", self._too_large())
            return
        replay = _replayer(body)
        idem = headers.get("idempotency-key", "")
        if scope["method"] == "POST" and idem:
            await self._idempotent(scope, replay, send, headers, idem, body)
            return
        await self.app(scope, replay, send)

    def _too_large(self) -> str:
        return f"the body is larger than {self.max_body} bytes"

    async def _read_body(self, receive: Receive) -> bytes | None:
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    async def _idempotent(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        headers: dict[str, str],
        idem: str,
        body: bytes,
    ) -> None:
        secret = headers.get("authorization", "").partition(" ")[2].strip()
        if len(idem) > 255:
            detail = "Idempotency-Key is longer than 255 characters"
            await _problem(scope, send, 422, "Invalid input", detail, "header.idempotency-key")
            return
        digest = hashlib.sha256(
            b"\0".join([scope["path"].encode(), scope.get("query_string", b""), body])
        ).hexdigest()
        claim = await run_in_threadpool(self._claim, secret, idem, digest)
        if claim is None:  # no valid key: the route answers 401
            await self.app(scope, receive, send)
            return
        key_id, stored = claim
        if stored == "conflict":
            detail = "this Idempotency-Key was used with another request body"
            await _problem(scope, send, 409, "Conflict", detail, "header.idempotency-key")
        elif stored == "running":
            detail = "the first request with this Idempotency-Key is still running"
            await _problem(scope, send, 409, "Conflict", detail, "header.idempotency-key")
        elif isinstance(stored, tuple):
            status, content_type, text = stored
            extra = [(b"idempotent-replayed", b"true")]
            await _send(send, status, content_type, text.encode(), extra)
        else:
            await self._first(scope, receive, send, key_id, idem)

    def _claim(
        self, secret: str, idem: str, digest: str
    ) -> tuple[int, str | tuple[int, str, str] | None] | None:
        now = utcnow()
        with transaction(self.services.sessions) as session:
            key = keys.authenticate(session, secret)
            if key is None:
                return None
            ttl: timedelta = self.services.settings.api.idempotency_ttl
            store.prune_idempotency(session, before=now - ttl)
            if store.reserve_idempotency(session, key.id, idem, request_hash=digest, now=now):
                return key.id, None
            record = store.idempotency_record(session, key.id, idem)
            if record is None or record.request_hash != digest:
                return key.id, "conflict"
            if record.status_code is None:
                return key.id, "running"
            return key.id, (record.status_code, record.content_type, record.body)

    async def _first(
        self, scope: Scope, receive: Receive, send: Send, key_id: int, idem: str
    ) -> None:
        answer = _Captured()

        async def capture(message: Message) -> None:
            answer.take(message)
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            await run_in_threadpool(self._settle, key_id, idem, answer)

    def _settle(self, key_id: int, idem: str, answer: _Captured) -> None:
        with transaction(self.services.sessions) as session:
            if answer.status >= 500 or answer.status in _NOT_KEPT:
                store.release_idempotency(session, key_id, idem)
                return
            store.complete_idempotency(
                session,
                key_id,
                idem,
                status=answer.status,
                content_type=answer.content_type,
                body=bytes(answer.body).decode("utf-8", "replace"),
            )


@dataclass
class _Captured:
    """The answer of the first request, as it goes out."""

    status: int = 500
    content_type: str = ""
    body: bytearray = field(default_factory=bytearray)

    def take(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = int(message["status"])
            for name, value in message.get("headers", []):
                if name.lower() == b"content-type":
                    self.content_type = value.decode("latin-1")
        elif message["type"] == "http.response.body":
            self.body.extend(message.get("body", b""))


def _replayer(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


async def _send(
    send: Send, status: int, content_type: str, body: bytes, extra: list[tuple[bytes, bytes]]
) -> None:
    headers = [
        (b"content-type", content_type.encode("latin-1")),
        (b"content-length", str(len(body)).encode()),
        *extra,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _problem(
    scope: Scope, send: Send, status: int, title: str, detail: str, name: str = ""
) -> None:
    document = {
        "type": TYPE_BASE + title.lower().replace(" ", "-"),
        "title": title,
        "status": status,
        "detail": detail,
        "instance": _full_path(scope),
        "errors": [{"field": name or "body", "message": detail}],
    }
    await _send(send, status, MEDIA_TYPE, json.dumps(document).encode(), [])


def _full_path(scope: Scope) -> str:
    root, path = str(scope.get("root_path", "")), str(scope["path"])
    return path if path.startswith(root) else root + path
