"""RFC 8058 one-click unsubscribe: the shared write and an ASGI fast path for it.

Mail providers POST ``List-Unsubscribe=One-Click`` to the URL in ``List-Unsubscribe``, in
bursts after a send, with no cookies. The route ``POST /unsubscribe/{token}`` handles every
form of it; :class:`OneClickFastPath` answers the common form-urlencoded one before
FastAPI's routing and dependency machinery (several times cheaper per request), and
passes everything else (multipart bodies, the page's own form, bad tokens) through to the
route untouched, so the answers are the same either way.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from concurrent.futures import Future
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from newsletter.services import Services
from newsletter.web import store
from subscribers.errors import InvalidToken
from subscribers.events import How
from subscribers.tokens import TokenPurpose

PREFIX = "/unsubscribe/"
MAX_BODY = 4096
#: Most unsubscribes one transaction takes; a writer idle this long stops (seconds).
MAX_BATCH = 256
IDLE_STOP = 5.0
_WRITE_LOCK = threading.Lock()
_RESPONSE_BODY = b"unsubscribed\n"
_RESPONSE_HEADERS = [
    (b"content-type", b"text/plain; charset=utf-8"),
    (b"content-length", str(len(_RESPONSE_BODY)).encode()),
    (b"cache-control", b"no-store"),
]


def one_click_unsubscribe(services: Services, subscriber_id: int, newsletter_id: str) -> None:
    """Unsubscribe one subscription (a repeat changes nothing; a gone subscriber neither)."""
    # SQLite has one writer: queueing on a lock beats its sleeping busy handler.
    with _WRITE_LOCK, services.engine.begin() as connection:
        store.unsubscribe_one(connection, subscriber_id, newsletter_id, how=How.ONE_CLICK)


def is_one_click(body: bytes) -> bool:
    """Whether a form-urlencoded body says ``List-Unsubscribe=One-Click``."""
    try:
        fields = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        return False
    return ("List-Unsubscribe", "One-Click") in fields


class OneClickWriter:
    """One thread that writes queued one-click unsubscribes, many per transaction.

    Under a burst the requests waiting while a transaction commits all go into the next
    one (group commit): SQLite has one writer anyway, and one commit for many requests is
    what keeps the p99 low. The thread starts on demand and stops when idle.
    """

    def __init__(self, services: Services) -> None:
        self.services = services
        self._queue: queue.SimpleQueue[tuple[int, str, Future[None]]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._running = False

    def submit(self, subscriber_id: int, newsletter_id: str) -> Future[None]:
        """Queue one unsubscribe; the future completes once it is committed."""
        done: Future[None] = Future()
        self._queue.put((subscriber_id, newsletter_id, done))
        with self._lock:
            if not self._running:
                self._running = True
                threading.Thread(target=self._run, name="one-click-writer", daemon=True).start()
        return done

    def _run(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=IDLE_STOP)
            except queue.Empty:
                with self._lock:
                    if self._queue.empty():
                        self._running = False
                        return
                continue
            batch = [first]
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._write(batch)

    def _write(self, batch: list[tuple[int, str, Future[None]]]) -> None:
        try:
            with _WRITE_LOCK, self.services.engine.begin() as connection:
                for subscriber_id, newsletter_id, _done in batch:
                    store.unsubscribe_one(
                        connection, subscriber_id, newsletter_id, how=How.ONE_CLICK
                    )
        except Exception as exc:  # every waiting request learns the batch failed
            for *_ids, done in batch:
                done.set_exception(exc)
            return
        for *_ids, done in batch:
            done.set_result(None)


class OneClickFastPath:
    """ASGI middleware answering form-urlencoded one-click POSTs directly."""

    def __init__(self, app: ASGIApp, services: Services) -> None:
        self.app = app
        self.services = services
        self.newsletters = {n.id for n in services.settings.newsletters}
        self.writer = OneClickWriter(services)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or scope["method"] != "POST" or not path.startswith(PREFIX):
            await self.app(scope, receive, send)
            return
        body, complete = await _read_body(receive)
        target = self._target(scope, path, body) if complete else None
        if target is None:
            await self.app(scope, _replay(body, complete, receive), send)
            return
        await asyncio.wrap_future(self.writer.submit(*target))
        await send({"type": "http.response.start", "status": 200, "headers": _RESPONSE_HEADERS})
        await send({"type": "http.response.body", "body": _RESPONSE_BODY})

    def _target(self, scope: Scope, path: str, body: bytes) -> tuple[int, str] | None:
        """(subscriber, newsletter) of a valid one-click request, else None (the route's)."""
        headers = dict(scope.get("headers") or [])
        content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if content_type != b"application/x-www-form-urlencoded" or not is_one_click(body):
            return None
        token = path[len(PREFIX) :]
        try:
            data = self.services.tokens.loads(token, TokenPurpose.UNSUBSCRIBE)
        except (InvalidToken, ValueError, UnicodeError):
            return None
        if data.newsletter_id not in self.newsletters:
            return None
        return data.subscriber_id, data.newsletter_id


async def _read_body(receive: Receive) -> tuple[bytes, bool]:
    """Up to ``MAX_BODY`` bytes of the request body, and whether that was all of it."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), False
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), True
        if size > MAX_BODY:
            return b"".join(chunks), False


def _replay(body: bytes, complete: bool, receive: Receive) -> Receive:
    """A ``receive`` that gives back what was read, then the rest of the stream."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": not complete}
        return await receive()

    return replayed
