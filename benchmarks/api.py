"""The integration surface: API subscriber creation per second, webhook deliveries per second.

``api_create_*``: a real ``uvicorn`` server in its own process (as ``newsletter serve``)
over a fresh SQLite project; ``CONNECTIONS`` keep-alive clients POST
``/api/v1/subscribers`` with a Bearer key, each a new address, double opt-in (each sends its
confirmation email to the Maildir outbox after the answer). Every request is authenticated
(a hash lookup), counted against the key's rate limit (set high, so it counts but never
refuses) and commits its subscriber, subscription, consent record and event. A second
run creates ``"confirmed": true`` subscribers with a consent source: no email to render.

``webhook_*``: the same project with one endpoint; ``EVENTS`` sign-ups fill the outbox
(by trigger), then the relay and the dispatcher (as in ``serve``) sign and POST
every message to a receiver in its own process that answers 204 (8 attempts at a time,
outcomes written in one transaction a batch); deliveries per second
from the first relay to the last delivery.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from benchmarks._runner import REPO, peak_rss_mb

CONNECTIONS = 8
SECRET = "bench-secret-key-0123456789abcdef"

_SERVER = """
import sys
import uvicorn
from newsletter.services import Services
from newsletter.settings import load_settings
from newsletter.web import create_app

app = create_app(Services.open(load_settings(sys.argv[1])))
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning",
            access_log=False)
"""

_RECEIVER = """
import sys
import uvicorn

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})

uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
            access_log=False)
"""


def _project(tmp: Path) -> Path:
    config = {
        "site": {"name": "Bench", "url": "https://bench.example.org"},
        "database": {"url": f"sqlite:///{tmp / 'bench.db'}"},
        "delivery": {"outbox_dir": str(tmp / "outbox")},
        "newsletters": [{"id": "weekly", "name": "Weekly", "default": True}],
        "templates_dir": str(REPO / "templates"),
        "api": {"rate_limit_per_minute": 10_000_000},
        "web": {"subscribe_rate_limit_per_ip": 0, "subscribe_rate_limit_per_address": 0},
    }
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(script: str, *args: str, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "NEWSLETTER_SECRET_KEY": SECRET, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen([sys.executable, "-c", script, *args, str(port)], env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("a server did not start")


def _key(config: Path) -> str:
    from newsletter.api import keys
    from newsletter.db import transaction
    from newsletter.services import Services
    from newsletter.settings import load_settings

    services = Services.open(load_settings(config))
    with transaction(services.sessions) as session:
        secret = keys.create_key(session, "bench", scopes=["subscribers:write"]).secret
    services.close()
    return secret


async def _create(url: str, key: str, count: int, *, confirmed: bool) -> tuple[float, int]:
    headers = {"Authorization": f"Bearer {key}"}
    extra = {"confirmed": True, "consent": {"source": "benchmark"}} if confirmed else {}
    prefix = "c" if confirmed else "d"
    numbers = iter(range(count))
    errors = 0

    async def client_loop(client: httpx.AsyncClient) -> None:
        nonlocal errors
        for i in numbers:
            answer = await client.post(
                "/api/v1/subscribers",
                json={"email": f"{prefix}{i}@example.com", **extra},
                headers=headers,
            )
            errors += answer.status_code != 201

    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        await asyncio.gather(*(client_loop(client) for _ in range(CONNECTIONS)))
    return time.perf_counter() - started, errors


def _api_creation(tmp: Path, count: int) -> dict[str, Any]:
    config = _project(tmp)
    key = _key(config)
    port = _free_port()
    server = _start(_SERVER, str(config), port=port)
    url = f"http://127.0.0.1:{port}"
    try:
        double, errors = asyncio.run(_create(url, key, count, confirmed=False))
        single, more_errors = asyncio.run(_create(url, key, count, confirmed=True))
    finally:
        server.terminate()
        server.wait(10)
    return {
        "api_create_requests": count,
        "api_create_connections": CONNECTIONS,
        "api_create_errors": errors + more_errors,
        "api_create_double_opt_in_per_s": round(count / double, 1),
        "api_create_confirmed_per_s": round(count / single, 1),
    }


def _webhooks(tmp: Path, events: int) -> dict[str, Any]:
    from newsletter.db import transaction
    from newsletter.outgoing_webhooks.dispatch import deliver_due
    from newsletter.outgoing_webhooks.relay import relay
    from newsletter.outgoing_webhooks.service import add_endpoint
    from newsletter.services import Services
    from newsletter.settings import load_settings
    from subscribers import service

    os.environ["NEWSLETTER_SECRET_KEY"] = SECRET
    services = Services.open(load_settings(_project(tmp)))
    port = _free_port()
    receiver = _start(_RECEIVER, port=port)
    try:
        with transaction(services.sessions) as session:
            add_endpoint(session, f"http://127.0.0.1:{port}/in", events=["subscriber.created"])
        with transaction(services.sessions) as session:
            for i in range(events):
                service.subscribe(session, email=f"hook{i}@example.com", newsletters=["weekly"])
        delivered = 0
        started = time.perf_counter()
        with httpx.Client(timeout=10) as client:
            while relay(services) or delivered < events:
                done = deliver_due(services, client, limit=200)
                if not done:
                    break
                delivered += done
        seconds = time.perf_counter() - started
    finally:
        receiver.terminate()
        receiver.wait(10)
        services.close()
    return {
        "webhook_events": events,
        "webhook_delivered": delivered,
        "webhook_deliveries_per_s": round(delivered / seconds, 1),
    }


def main(quick: bool = False) -> dict[str, Any]:
    """Both figures, in temp projects."""
    with tempfile.TemporaryDirectory() as one, tempfile.TemporaryDirectory() as two:
        figures = _api_creation(Path(one), 500 if quick else 5000)
        figures |= _webhooks(Path(two), 500 if quick else 5000)
    figures["peak_rss_mb"] = peak_rss_mb()
    return figures


if __name__ == "__main__":
    from benchmarks._runner import run_one

    run_one(main)
