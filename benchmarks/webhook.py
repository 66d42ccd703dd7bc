"""SendGrid Event Webhook ingestion: signed 1,000-event posts to a real ``uvicorn`` server.

The server runs in its own process (as ``newsletter serve`` would) over a fresh SQLite
project with subscribers and a send ledger, so the figure includes the HTTP round trip,
signature verification, JSON parsing, the idempotent insert and the ledger/subscriber
effects. Posts are signed before the clock starts; a second pass re-posts every body to
measure duplicate handling. Target (PRODUCT.md): >= 20,000 events/s ingested.
"""

from __future__ import annotations

import base64
import http.client
import json
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
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from benchmarks._postgres import server_url, temporary_database
from benchmarks._runner import REPO

EVENTS_PER_POST = 1000
#: Per 1,000 events, a list in fair health: hard bounces and complaints are the costly ones
#: (each goes through the subscriber store's service functions).
HARD_BOUNCES_PER_POST = 5
URL_PATH = "/webhooks/sendgrid"

_SERVER = """
import sys
import uvicorn
from newsletter.services import Services
from newsletter.settings import load_settings
from newsletter.web import create_app

app = create_app(Services.open(load_settings(sys.argv[1])))
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning", access_log=False)
"""


def _project(tmp: Path, database_url: str | None = None) -> Path:
    config = {
        "site": {"name": "Bench", "url": "https://bench.example.org"},
        "database": {"url": database_url or f"sqlite:///{tmp / 'bench.db'}"},
        "newsletters": [{"id": "weekly", "name": "Weekly", "default": True}],
        "templates_dir": str(REPO / "templates"),
    }
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def _events(post: int, *, kinds: list[str]) -> list[dict[str, Any]]:
    base = post * EVENTS_PER_POST
    events = []
    for i in range(EVENTS_PER_POST):
        n = base + i
        kind = kinds[i % len(kinds)]
        event: dict[str, Any] = {
            "email": f"reader{n}@example.org",
            "timestamp": 1_763_700_000 + n,
            "event": "bounce" if kind in ("bounce", "blocked") else kind,
            "sg_event_id": f"bench-{n}",
            "sg_message_id": f"msg{n // 1000}.filter0001.{n}",
            "send_id": "1",
            "delivery_id": str(n + 1),
        }
        if kind in ("bounce", "blocked", "dropped"):
            event["type"] = kind
            event["reason"] = "550 5.1.1 user unknown"
        events.append(event)
    return events


def _mix(*, hard_bounces: int) -> list[str]:
    rare = ["bounce"] * hard_bounces + ["dropped"] * 3 + ["spamreport", "unsubscribe"]
    common = ["deferred"] * 40 + ["blocked"] * 20
    return ["delivered"] * (EVENTS_PER_POST - len(rare) - len(common)) + common + rare


def _signed(
    key: ec.EllipticCurvePrivateKey, events: list[dict[str, Any]]
) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(events, separators=(",", ":")).encode()
    stamp = str(int(time.time()))
    signature = key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return body, {
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
        "Content-Type": "application/json",
    }


def _start_server(config: Path, public_key: str) -> tuple[subprocess.Popen[bytes], int]:
    # uvicorn binds the port itself, as `newsletter serve` does: a listening socket handed
    # over by file descriptor loses TCP_NODELAY on its connections (+40 ms per response).
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    env = {**os.environ, "SENDGRID_WEBHOOK_PUBLIC_KEY": public_key}
    env["NEWSLETTER_SECRET_KEY"] = "bench-secret-key-0123456789abcdef"
    server = subprocess.Popen(
        [sys.executable, "-c", _SERVER, str(config), str(port)], cwd=REPO, env=env
    )
    with httpx.Client() as client:
        for _ in range(300):
            try:
                if client.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    return server, port
            except httpx.TransportError:
                time.sleep(0.05)
    server.kill()
    raise RuntimeError("the webhook server did not start")


def _post_all(port: int, posts: list[tuple[bytes, dict[str, str]]]) -> tuple[float, int]:
    # http.client sends headers and body in one write (no Nagle/delayed-ACK stall).
    stored = 0
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        started = time.perf_counter()
        for body, headers in posts:
            connection.request("POST", URL_PATH, body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
            if response.status != 200:
                raise RuntimeError(f"webhook answered {response.status}: {payload[:200]!r}")
            stored += json.loads(payload)["stored"]
        return time.perf_counter() - started, stored
    finally:
        connection.close()


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main(quick: bool = False) -> dict[str, Any]:
    """Post signed 1,000-event bodies and report events ingested per second (SQLite, and
    PostgreSQL too when ``$BENCH_POSTGRES_URL`` names a server)."""
    count = 10 if quick else 50
    key = ec.generate_private_key(ec.SECP256R1())
    fair = [
        _signed(key, _events(p, kinds=_mix(hard_bounces=HARD_BOUNCES_PER_POST)))
        for p in range(count)
    ]
    # The same again with ten times the hard bounces: a list in poor health.
    poor = [_signed(key, _events(count + p, kinds=_mix(hard_bounces=50))) for p in range(count)]
    figures = {
        "events_per_post": EVENTS_PER_POST,
        "hard_bounces_per_post": HARD_BOUNCES_PER_POST,
        **_run(key, fair, poor, database_url=None),
    }
    server = server_url()
    if server:
        with temporary_database(server) as url:
            pg = _run(key, fair, poor, database_url=url)
        figures.update({f"postgres_{name}": value for name, value in pg.items()})
    return figures


def _run(
    key: ec.EllipticCurvePrivateKey,
    fair: list[tuple[bytes, dict[str, str]]],
    poor: list[tuple[bytes, dict[str, str]]],
    *,
    database_url: str | None,
) -> dict[str, Any]:
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with tempfile.TemporaryDirectory(prefix="bench-webhook-") as tmp:
        config = _project(Path(tmp), database_url)
        _seed(config, events=(len(fair) + len(poor)) * EVENTS_PER_POST)
        server, port = _start_server(config, base64.b64encode(public).decode())
        try:
            _post_all(port, fair[:1])  # warm-up: first request, imports, caches
            cpu_before = _cpu_seconds(server.pid)
            seconds, stored = _post_all(port, fair[1:])
            cpu = _cpu_seconds(server.pid) - cpu_before
            dup_seconds, dup_stored = _post_all(port, fair[1:])
            poor_seconds, _ = _post_all(port, poor)
        finally:
            server.terminate()
            server.wait(timeout=10)
    events = (len(fair) - 1) * EVENTS_PER_POST
    return {
        "events": events,
        "events_per_s": round(events / seconds),
        "ms_per_post": round(seconds / (len(fair) - 1) * 1000, 1),
        # The server's own CPU time: steadier than wall time on a shared, loaded machine.
        "events_per_server_cpu_s": round(events / cpu) if cpu > 0 else None,
        "load_average_1m": round(os.getloadavg()[0], 2),
        "stored": stored,
        "duplicate_events_per_s": round(events / dup_seconds),
        "duplicates_stored": dup_stored,
        "events_per_s_50_hard_bounces_per_post": round(len(poor) * EVENTS_PER_POST / poor_seconds),
    }


def _seed(config: Path, *, events: int) -> None:
    """Subscribers and a send ledger matching the events' addresses and delivery ids."""
    from benchmarks._webhook_seed import seed

    seed(config, count=events)


if __name__ == "__main__":
    from benchmarks._runner import run_one

    run_one(main)
