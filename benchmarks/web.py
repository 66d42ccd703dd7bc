"""One-click unsubscribe (RFC 8058) under load on loopback: requests/s and latency.

A real ``uvicorn`` server runs the app in its own process (as ``newsletter serve`` would)
over a fresh SQLite project with confirmed subscribers. A load generator in this process
keeps ``CONNECTIONS`` keep-alive HTTP/1.1 connections busy with
``POST /unsubscribe/{token}`` and the body ``List-Unsubscribe=One-Click``, each token a
different (subscriber, newsletter), so nearly every request is a first-time unsubscribe
that writes (subscription, event) and commits. Target (PRODUCT.md): >= 1,000 requests/s
with p99 <= 50 ms.

When ``wrk`` is installed (Debian package ``wrk``) a second run drives the same server
with it, on tokens of its own: a load generator in C takes less of the two cores away from
the server than the Python one does (``wrk_*`` figures).
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import insert

from benchmarks._runner import REPO

BODY = b"List-Unsubscribe=One-Click"
CONNECTIONS = 32
WRK_THREADS = 2

#: wrk's Lua for a paths file (arguments: the file, the thread count): each thread takes
#: every n-th path; a script adds its own ``request`` function that picks from ``paths``.
WRK_PATHS_LUA = """
local paths = {}
local counter = 0
local threads = 0

setup = function(thread)
  thread:set("offset", threads)
  threads = threads + 1
end

init = function(args)
  local step = tonumber(args[2])
  local n = 0
  for line in io.lines(args[1]) do
    if n % step == offset then paths[#paths + 1] = line end
    n = n + 1
  end
end
"""

_WRK_SCRIPT = (
    WRK_PATHS_LUA
    + """
request = function()
  counter = counter + 1
  local path = paths[(counter % #paths) + 1]
  return wrk.format("POST", path,
    {["Content-Type"] = "application/x-www-form-urlencoded"}, "List-Unsubscribe=One-Click")
end
"""
)

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


def _project(tmp: Path) -> Path:
    config = {
        "site": {"name": "Bench", "url": "https://bench.example.org"},
        "database": {"url": f"sqlite:///{tmp / 'bench.db'}"},
        "delivery": {"outbox_dir": str(tmp / "outbox")},
        "newsletters": [
            {"id": "weekly", "name": "Weekly", "default": True},
            {"id": "letters", "name": "Letters"},
        ],
        "templates_dir": str(REPO / "templates"),
    }
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def _seed(config: Path, subscribers: int) -> list[str]:
    """Confirmed subscribers of both newsletters; returns one unsubscribe path per pair."""
    from newsletter.services import Services
    from newsletter.settings import load_settings
    from subscribers.addresses import address_hash
    from subscribers.db import utcnow
    from subscribers.models import Subscriber, Subscription

    services = Services.open(load_settings(config))
    now = utcnow()
    people = []
    for i in range(1, subscribers + 1):
        email = f"reader{i}@example.com"
        people.append(
            {
                "id": i,
                "email": email,
                "email_normalized": email,
                "email_hash": address_hash(email),
                "name": "",
                "status": "active",
                "created_at": now,
                "updated_at": now,
            }
        )
    follows = [
        {
            "subscriber_id": i,
            "newsletter_id": newsletter,
            "status": "active",
            "source": "import",
            "created_at": now,
            "confirmed_at": now,
        }
        for i in range(1, subscribers + 1)
        for newsletter in ("weekly", "letters")
    ]
    with services.engine.begin() as connection:
        connection.execute(insert(Subscriber), people)
        connection.execute(insert(Subscription), follows)
    sign = services.tokens.dumps
    paths = [
        f"/unsubscribe/{sign('unsubscribe', row['subscriber_id'], row['newsletter_id'])}"
        for row in follows
    ]
    services.close()
    random.Random(8058).shuffle(paths)
    return paths


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_server(config: Path, port: int, secret: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "NEWSLETTER_SECRET_KEY": secret, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen([sys.executable, "-c", _SERVER, str(config), str(port)], env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the server did not start")


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    if length:
        await reader.readexactly(length)
    return status


async def _worker(
    port: int, paths: list[str], start: int, stop_at: float, record: list[tuple[float, int]]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    index = start
    while time.perf_counter() < stop_at:
        path = paths[index % len(paths)]
        index += CONNECTIONS
        request = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(BODY)}\r\n\r\n"
        ).encode() + BODY
        began = time.perf_counter()
        writer.write(request)
        status = await _read_response(reader)
        record.append((time.perf_counter() - began, status))
    writer.close()


async def _load(
    port: int, paths: list[str], seconds: float
) -> tuple[float, list[tuple[float, int]]]:
    record: list[tuple[float, int]] = []
    began = time.perf_counter()
    stop_at = began + seconds
    await asyncio.gather(*(_worker(port, paths, i, stop_at, record) for i in range(CONNECTIONS)))
    return time.perf_counter() - began, record


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wrk(
    port: int, paths: list[str], seconds: float, tmp: Path, script: str = _WRK_SCRIPT
) -> dict[str, Any]:
    """Drive the server with ``wrk`` running ``script`` (by default the one-click POST);
    its requests/s, p50/p99 and count of answers that are not 2xx or 3xx."""
    wrk = shutil.which("wrk")
    if wrk is None:
        return {"wrk": "not installed"}
    (tmp / "paths.txt").write_text("\n".join(paths) + "\n", encoding="utf-8")
    (tmp / "load.lua").write_text(script, encoding="utf-8")
    command = [
        wrk,
        f"-t{WRK_THREADS}",
        f"-c{CONNECTIONS}",
        f"-d{int(seconds)}s",
        "--latency",
        "-s",
        str(tmp / "load.lua"),
        f"http://127.0.0.1:{port}",
        "--",
        str(tmp / "paths.txt"),
        str(WRK_THREADS),
    ]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rate = re.search(r"Requests/sec:\s*([\d.]+)", output)
    errors = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", output)
    return {
        "wrk_requests_per_s": float(rate[1]) if rate else None,
        "wrk_p50_ms": _wrk_ms(output, "50%"),
        "wrk_p99_ms": _wrk_ms(output, "99%"),
        "wrk_errors": int(errors[1]) if errors else 0,
    }


def _wrk_ms(output: str, label: str) -> float | None:
    match = re.search(rf"^\s*{re.escape(label)}\s+([\d.]+)(us|ms|s)\s*$", output, re.M)
    if not match:
        return None
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[match[2]]
    return round(float(match[1]) * scale, 2)


def _percentile(sorted_values: list[float], fraction: float) -> float:
    index = min(len(sorted_values) - 1, round(fraction * (len(sorted_values) - 1)))
    return sorted_values[index]


def main(quick: bool = False) -> dict[str, Any]:
    """Measure one-click unsubscribes per second and their latency percentiles."""
    subscribers = 5_000 if quick else 30_000
    seconds = 3.0 if quick else 10.0
    with tempfile.TemporaryDirectory(prefix="bench-web-") as folder:
        tmp = Path(folder)
        secret = "bench-secret-key-0123456789abcdef"
        os.environ["NEWSLETTER_SECRET_KEY"] = secret
        config = _project(tmp)
        paths = _seed(config, subscribers)
        port = _free_port()
        server = _start_server(config, port, secret)
        try:
            # Warm-up on the last tokens (not measured), then the measured run.
            # Warm-up (not measured); then each generator on tokens of its own.
            warm, python_paths, wrk_paths = paths[:1000], paths[1000::2], paths[1001::2]
            asyncio.run(_load(port, warm, 1.0))
            cpu_before = _cpu_seconds(server.pid)
            elapsed, record = asyncio.run(_load(port, python_paths, seconds))
            server_cpu = _cpu_seconds(server.pid) - cpu_before
            wrk_figures = _wrk(port, wrk_paths, seconds, tmp)
        finally:
            server.terminate()
            server.wait(timeout=30)
    latencies = sorted(latency * 1000 for latency, _status in record)
    errors = sum(1 for _latency, status in record if status != 200)
    return {
        "subscribers": subscribers,
        "connections": CONNECTIONS,
        "requests": len(record),
        "errors": errors,
        "requests_per_s": round(len(record) / elapsed, 1),
        "p50_ms": round(_percentile(latencies, 0.50), 2),
        "p99_ms": round(_percentile(latencies, 0.99), 2),
        "max_ms": round(latencies[-1], 2),
        # CPU the server spent per request: the figure least disturbed by other load.
        "server_cpu_ms_per_request": round(server_cpu * 1000 / max(1, len(record)), 3),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "http_parser": "httptools" if importlib.util.find_spec("httptools") else "h11",
        **wrk_figures,
    }


if __name__ == "__main__":
    from benchmarks._runner import run_one

    run_one(main)
