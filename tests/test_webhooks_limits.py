"""POST /webhooks/sendgrid refuses early: a body over the limit (413, never read whole), a
stale or malformed timestamp (before the body is read), bad or deeply nested JSON (400)."""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func
from sqlalchemy import select as sql_select

from newsletter.events.store import ProviderEventRecord
from newsletter.services import Services
from newsletter.settings import load_settings
from newsletter.web import create_app
from tests.fixtures.web import live_server
from tests.webhook_support import SIGNATURE, TIMESTAMP, SendgridSigner, body_of, event

URL = "/webhooks/sendgrid"
SIGNER = SendgridSigner.generate()
MB = 1024 * 1024


@pytest.fixture
def open_services(config_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Services]:
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", "test-secret-key-0123456789abcdef")
    monkeypatch.setenv("SENDGRID_WEBHOOK_PUBLIC_KEY", SIGNER.public_key_b64)
    monkeypatch.setenv("NEWSLETTER_WEB__WEBHOOK_MAX_BYTES", str(MB))
    services = Services.open(load_settings(config_path))
    yield services
    services.close()


@pytest.fixture
def client(open_services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(open_services)) as test_client:
        yield test_client


def stored(services: Services) -> int:
    with services.sessions() as session:
        return int(session.scalar(sql_select(func.count()).select_from(ProviderEventRecord)) or 0)


def _post_streaming(url: str, head: str, *, total: int) -> tuple[int, bytes]:
    """Send ``head`` then up to ``total`` bytes of chunked body until the server answers;
    returns (body bytes sent, the answer)."""
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=30)
    sent = 0
    chunk = b"[" + b" " * (64 * 1024 - 2) + b"]"
    frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    try:
        sock.sendall(head.encode())
        sock.setblocking(False)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            writing = [sock] if sent < total else []
            readable, writable, _ = select.select([sock], writing, [], 1)
            if readable:
                break
            if not writing:
                deadline = min(deadline, time.monotonic() + 5)  # all sent: wait a little
            if writable:
                try:
                    sent += sock.send(frame)
                except BlockingIOError:
                    continue
                except OSError:  # the server answered and closed: read what it said
                    break
        sock.settimeout(5)
        try:
            answer = sock.recv(4096)
        except OSError:
            answer = b""
    finally:
        sock.close()
    return sent, answer


@pytest.mark.parametrize("signed", [False, True])
def test_a_100_mb_body_is_refused_without_being_read(
    config_path: Path, monkeypatch: pytest.MonkeyPatch, signed: bool
) -> None:
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", "test-secret-key-0123456789abcdef")
    monkeypatch.setenv("SENDGRID_WEBHOOK_PUBLIC_KEY", SIGNER.public_key_b64)
    monkeypatch.setenv("NEWSLETTER_WEB__WEBHOOK_MAX_BYTES", str(MB))
    headers = ""
    if signed:  # a fresh, well-formed timestamp: only the size can refuse it
        headers = (
            f"{SIGNATURE}: {SIGNER.headers(b'x')[SIGNATURE]}\r\n{TIMESTAMP}: {int(time.time())}\r\n"
        )
    with live_server(config_path, lambda: Services.open(load_settings(config_path))) as (
        url,
        _services,
    ):
        host = urlsplit(url).netloc
        chunked = (
            f"POST {URL} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"{headers}Transfer-Encoding: chunked\r\n\r\n"
        )
        sent, answer = _post_streaming(url, chunked, total=100 * MB)
        declared = (
            f"POST {URL} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"{headers}Content-Length: {100 * MB}\r\n\r\n"
        )
        sent_declared, answer_declared = _post_streaming(url, declared, total=100 * MB)
    expected = b" 413 " if signed else b" 403 "
    assert expected in answer[:20], answer[:40]
    # The server stopped reading near the limit: far from the 100 MB offered.
    assert sent < 30 * MB, sent
    assert expected in answer_declared[:20], answer_declared[:40]
    assert sent_declared < 30 * MB, sent_declared


def test_a_body_over_the_limit_is_413_through_the_app(
    client: TestClient, open_services: Services
) -> None:
    events = [event("delivered", f"r{n}@example.org", n=n, pad="x" * 1000) for n in range(1100)]
    body = body_of(events)
    assert len(body) > MB
    response = client.post(URL, content=body, headers=SIGNER.headers(body))
    assert response.status_code == 413
    assert stored(open_services) == 0
    small = body_of(events[:10])
    assert client.post(URL, content=small, headers=SIGNER.headers(small)).status_code == 200


#: Offsets from the clock when the test runs (not when it is collected), or raw values.
STALE = [-5 * 365 * 86400, -11 * 60, 11 * 60]  # five years old, just stale, from the future


@pytest.mark.parametrize(
    ("stamp", "status"),
    [
        *((offset, 403) for offset in STALE),
        ("not-a-number", 400),
        ("", 403),
        ("1e9", 400),
        ("-1", 400),
        ("99999999999999999999999", 400),
    ],
)
def test_a_stale_or_malformed_timestamp_is_refused(
    client: TestClient, open_services: Services, stamp: str | int, status: int
) -> None:
    if isinstance(stamp, int):
        stamp = str(int(time.time()) + stamp)
    body = body_of([event("bounce", "gone@example.org")])
    headers = SIGNER.headers(body, timestamp=stamp) if stamp else SIGNER.headers(body)
    if not stamp:
        headers[TIMESTAMP] = ""
    response = client.post(URL, content=body, headers=headers)
    assert response.status_code == status, response.text
    assert stored(open_services) == 0


def test_a_fresh_timestamp_within_the_window_is_accepted(
    client: TestClient, open_services: Services
) -> None:
    body = body_of([event("bounce", "gone@example.org")])
    for offset in (-9 * 60, 0, 9 * 60):
        headers = SIGNER.headers(body, timestamp=str(int(time.time()) + offset))
        assert client.post(URL, content=body, headers=headers).status_code == 200
    assert stored(open_services) == 1


@pytest.mark.parametrize("depth", [10, 100, 5_000, 100_000])
def test_deeply_nested_signed_json_is_a_400(
    client: TestClient, open_services: Services, depth: int
) -> None:
    nested = "[" * depth + "]" * depth
    body = f'[{{"event":"bounce","email":"x@example.org","extra":{nested}}}]'.encode()
    response = client.post(URL, content=body, headers=SIGNER.headers(body))
    assert response.status_code == 400, response.text
    bare = ("[" * depth + "]" * depth).encode()
    assert client.post(URL, content=bare, headers=SIGNER.headers(bare)).status_code == 400
    assert stored(open_services) == 0


@pytest.mark.parametrize("body", [b"", b"{", b"\xff\xfe", b"[1,2]", b'{"a":1}', b"null"])
def test_signed_bytes_that_are_not_events_are_a_400(client: TestClient, body: bytes) -> None:
    assert client.post(URL, content=body, headers=SIGNER.headers(body)).status_code == 400
