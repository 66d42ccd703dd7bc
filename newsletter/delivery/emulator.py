"""A local SendGrid ``/v3/mail/send`` emulator for tests and benchmarks.

``python -m newsletter.delivery.emulator --port 8025 [--api-key KEY]`` serves it on loopback.
It checks what SendGrid documents (``../shared/sendgrid/tsg_mail_v3.json``): a bearer key,
the required fields, at most 1,000 personalizations and 1,000 recipients in all, 30 MB per
request, and answers ``202`` with an ``X-Message-Id``. Faults are queued, one per request:
``429`` (with ``Retry-After``/``X-RateLimit-Reset``), ``500``, ``400``, ``slow`` (answers
after a delay), ``drop`` (closes the connection unanswered, nothing recorded), ``lost`` (records the
request, then closes the connection unanswered: accepted, but the answer is lost) and ``die``
(the process exits mid-request). Accepted requests are recorded: every recipient address,
with a count of the addresses seen more than once.

Control endpoints (no auth): ``POST /_emulator/faults`` with a JSON list of faults,
``GET /_emulator/stats``, ``POST /_emulator/reset``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import select
import socket
import threading
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MAX_PERSONALIZATIONS = 1000
MAX_RECIPIENTS = 1000
MAX_BYTES = 30 * 1024 * 1024


@dataclass
class Fault:
    """One misbehaviour, applied to the next request to ``/v3/mail/send``."""

    kind: str  # none, 429, 500, 400, slow, drop, lost, die
    retry_after: float | None = None
    reset_in: float | None = None
    delay: float = 0.0


@dataclass
class AcceptedRequest:
    """What one accepted request carried (bodies are kept only when asked)."""

    message_id: str
    recipients: list[str]
    body: dict[str, Any] | None


@dataclass
class EmulatorState:
    """Shared by the handler threads: the key, queued faults and what was accepted."""

    api_key: str = "test-key"
    keep_bodies: bool = True
    faults: deque[Fault] = field(default_factory=deque)
    accepted: list[AcceptedRequest] = field(default_factory=list)
    seen: Counter[str] = field(default_factory=Counter)
    requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_fault(self) -> Fault | None:
        """The fault for this request, if one is queued."""
        with self.lock:
            self.requests += 1
            return self.faults.popleft() if self.faults else None

    def record(self, recipients: list[str], body: dict[str, Any]) -> str:
        """Remember an accepted request; returns its message id."""
        message_id = uuid.uuid4().hex[:22]
        with self.lock:
            self.seen.update(recipients)
            kept = body if self.keep_bodies else None
            self.accepted.append(
                AcceptedRequest(message_id, recipients if self.keep_bodies else [], kept)
            )
        return message_id

    def stats(self) -> dict[str, Any]:
        """Counts for benchmarks and subprocess tests."""
        with self.lock:
            duplicates = sum(n - 1 for n in self.seen.values() if n > 1)
            return {
                "requests": self.requests,
                "accepted_requests": len(self.accepted),
                "recipients": sum(self.seen.values()),
                "unique_recipients": len(self.seen),
                "duplicates": duplicates,
            }

    def reset(self) -> None:
        """Forget everything (faults included)."""
        with self.lock:
            self.faults.clear()
            self.accepted.clear()
            self.seen.clear()
            self.requests = 0


def validate(body: Any) -> str | None:
    """The first documented limit ``body`` breaks, or None when SendGrid would take it."""
    if not isinstance(body, dict):
        return "the request body must be a JSON object"
    personalizations = body.get("personalizations")
    if not isinstance(personalizations, list) or not personalizations:
        return "personalizations: at least one personalization is required"
    if len(personalizations) > MAX_PERSONALIZATIONS:
        return f"personalizations: at most {MAX_PERSONALIZATIONS} per request"
    if not isinstance(body.get("from"), dict) or not body["from"].get("email"):
        return "from: an email address is required"
    if not body.get("subject") and not all(p.get("subject") for p in personalizations):
        return "subject: required unless every personalization has one"
    if not body.get("content") and not body.get("template_id"):
        return "content: at least one content part is required"
    total = 0
    for item in personalizations:
        if not isinstance(item, dict) or not item.get("to"):
            return "personalizations.to: every personalization needs a recipient"
        total += sum(len(item.get(k) or []) for k in ("to", "cc", "bcc"))
        substitutions = item.get("substitutions") or {}
        if sum(len(k) + len(v) for k, v in substitutions.items()) * 4 > 10_000 and (
            len(json.dumps(substitutions).encode()) > 10_000
        ):
            return "personalizations.substitutions: at most 10,000 bytes"
    if total > MAX_RECIPIENTS:
        return f"at most {MAX_RECIPIENTS} recipients per request"
    return None


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return  # quiet: tests and benchmarks read stats, not logs

    def do_GET(self) -> None:
        if self.path == "/_emulator/stats":
            self._json(200, self.server.state.stats())
        else:
            self._json(404, {"errors": [{"message": "not found"}]})

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        state = self.server.state
        if self.path == "/_emulator/faults":
            with state.lock:
                state.faults.extend(Fault(**item) for item in json.loads(raw))
            self._json(200, {"queued": len(state.faults)})
        elif self.path == "/_emulator/reset":
            state.reset()
            self._json(200, {})
        elif self.path == "/v3/mail/send":
            self._mail_send(raw)
        else:
            self._json(404, {"errors": [{"message": "not found"}]})

    def _mail_send(self, raw: bytes) -> None:
        state = self.server.state
        if self.headers.get("Authorization") != f"Bearer {state.api_key}":
            self._json(401, {"errors": [{"message": "authorization required"}]})
            return
        fault = state.next_fault()
        if fault is not None and self._apply(fault):
            return
        if len(raw) > MAX_BYTES:
            self._json(413, {"errors": [{"message": "payload too large"}]})
            return
        try:
            body = json.loads(raw)
        except ValueError:
            self._json(400, {"errors": [{"message": "invalid JSON"}]})
            return
        problem = validate(body)
        if problem:
            self._json(400, {"errors": [{"message": problem}]})
            return
        recipients = [to["email"] for p in body["personalizations"] for to in p["to"]]
        message_id = state.record(recipients, body)
        if fault is not None and fault.kind == "lost":
            self.close_connection = True
            self.connection.close()
            return
        self._reply(202, b"", {"X-Message-Id": message_id})

    def _apply(self, fault: Fault) -> bool:
        """Act out ``fault``; True when the request is answered (or dropped) by it."""
        if fault.kind == "die":
            os._exit(3)
        if fault.kind in ("none", "lost"):
            return False  # served as usual ("lost" then drops the answer)
        if fault.kind == "drop":
            self.close_connection = True
            self.connection.close()
            return True
        if fault.kind == "slow":
            time.sleep(fault.delay)
            # A client that gave up waiting has closed its end: like SendGrid's front end
            # when the connection is gone before the request is queued, take nothing.
            return self._client_gone()
        headers: dict[str, str] = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = f"{fault.retry_after:g}"
        if fault.reset_in is not None:
            headers["X-RateLimit-Reset"] = str(int(time.time() + fault.reset_in))
        status = int(fault.kind)
        body = {"errors": [{"message": f"emulated {status}"}]}
        self._reply(status, json.dumps(body).encode(), headers)
        return True

    def _client_gone(self) -> bool:
        readable, _, _ = select.select([self.connection], [], [], 0)
        if not readable:
            return False
        try:
            gone = bool(self.connection.recv(1, socket.MSG_PEEK) == b"")
        except OSError:
            gone = True
        if gone:
            self.close_connection = True
        return gone

    def _json(self, status: int, data: Any) -> None:
        self._reply(status, json.dumps(data).encode(), {"Content-Type": "application/json"})

    def _reply(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: EmulatorState


class Emulator:
    """The emulator in a background thread of this process (for tests)."""

    def __init__(self, *, api_key: str = "test-key", port: int = 0, keep_bodies: bool = True):
        self.state = EmulatorState(api_key=api_key, keep_bodies=keep_bodies)
        self._server = _Server(("127.0.0.1", port), _Handler)
        self._server.state = self.state
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The base URL to give the ``sendgrid`` client as its host."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def queue(self, *faults: Fault) -> None:
        """Apply ``faults`` to the next requests, one each."""
        with self.state.lock:
            self.state.faults.extend(faults)

    def start(self) -> Emulator:
        """Start serving; returns itself."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()


def main(argv: list[str] | None = None) -> None:
    """Serve the emulator until interrupted; prints its URL on the first line."""
    parser = argparse.ArgumentParser(prog="python -m newsletter.delivery.emulator")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--api-key", default=os.environ.get("SENDGRID_API_KEY", "test-key"))
    parser.add_argument("--keep-bodies", action="store_true", help="keep accepted bodies")
    args = parser.parse_args(argv)
    emulator = Emulator(api_key=args.api_key, port=args.port, keep_bodies=args.keep_bodies)
    print(emulator.url, flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        emulator._server.serve_forever()


if __name__ == "__main__":
    main()
