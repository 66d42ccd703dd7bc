"""Tracked-link redirects (``GET /l/{token}``) under load on loopback: requests/s, latency.

As benchmarks/web.py: a real ``uvicorn`` server runs the app in its own process over a
fresh SQLite project, here with ``tracking: per_reader``, one send with 20 tracked links
and tokens of 20,000 readers. ``CONNECTIONS`` keep-alive connections GET a different
reader's link each time; every answer is a 302 and every hit is written (in batches, by
the app's lifespan). Target (issue 16): >= 2,000 redirects/s with p99 <= 50 ms. With
``wrk`` installed, a second run with it (``wrk_*`` figures).
"""

from __future__ import annotations

import asyncio
import os
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import func, insert, select

from benchmarks._runner import REPO
from benchmarks.web import (
    CONNECTIONS,
    WRK_PATHS_LUA,
    _cpu_seconds,
    _free_port,
    _percentile,
    _read_response,
    _start_server,
    _wrk,
)

LINKS = 20
_WRK_SCRIPT = (
    WRK_PATHS_LUA
    + """
request = function()
  counter = counter + 1
  return wrk.format("GET", paths[(counter % #paths) + 1])
end
"""
)


def _project(tmp: Path) -> Path:
    config = {
        "site": {"name": "Bench", "url": "https://bench.example.org"},
        "database": {"url": f"sqlite:///{tmp / 'bench.db'}"},
        "delivery": {"outbox_dir": str(tmp / "outbox")},
        "newsletters": [{"id": "weekly", "name": "Weekly", "tracking": "per_reader"}],
        "templates_dir": str(REPO / "templates"),
    }
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def _seed(config: Path, readers: int) -> list[str]:
    """One send with its tracked links; one ``/l/`` path per (reader, link), shuffled."""
    from newsletter.delivery.models import Send
    from newsletter.services import Services
    from newsletter.settings import load_settings
    from newsletter.tracking.models import TrackedLink
    from newsletter.tracking.service import track_signer

    services = Services.open(load_settings(config))
    with services.engine.begin() as connection:
        connection.execute(
            insert(Send), [{"id": 1, "issue_slug": "bench", "newsletter_id": "weekly"}]
        )
        connection.execute(
            insert(TrackedLink),
            [{"send_id": 1, "link_index": 0, "kind": "trap", "url": "https://bench.example.org/"}]
            + [
                {
                    "send_id": 1,
                    "link_index": i,
                    "kind": "link",
                    "url": f"https://example.com/{i}?a=1#b",
                }
                for i in range(2, LINKS + 2)
            ],
        )
    signer = track_signer(services)
    services.close()
    parts = [signer.link_part(1, i) for i in range(2, LINKS + 2)]
    paths = [
        f"/l/{signer.reader_part(1, reader, mode='p', provider='n')}{random.choice(parts)}"
        for reader in range(1, readers + 1)
    ]
    random.Random(16).shuffle(paths)
    return paths


async def _worker(
    port: int, paths: list[str], start: int, stop_at: float, record: list[tuple[float, int]]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    index = start
    while time.perf_counter() < stop_at:
        path = paths[index % len(paths)]
        index += CONNECTIONS
        began = time.perf_counter()
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: bench\r\n\r\n".encode()
        )
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


def _stored_hits(config: Path) -> int:
    from newsletter.services import Services
    from newsletter.settings import load_settings
    from newsletter.tracking.models import Hit

    services = Services.open(load_settings(config), migrate=False)
    with services.sessions() as session:
        count = int(session.scalar(select(func.count()).select_from(Hit)) or 0)
    services.close()
    return count


def main(quick: bool = False) -> dict[str, Any]:
    """Measure tracked-link redirects per second and their latency percentiles."""
    readers = 5_000 if quick else 20_000
    seconds = 3.0 if quick else 10.0
    with tempfile.TemporaryDirectory(prefix="bench-redirect-") as folder:
        tmp = Path(folder)
        secret = "bench-secret-key-0123456789abcdef"
        os.environ["NEWSLETTER_SECRET_KEY"] = secret
        config = _project(tmp)
        paths = _seed(config, readers)
        port = _free_port()
        server = _start_server(config, port, secret)
        try:
            asyncio.run(_load(port, paths[:500], 1.0))  # warm-up: the link cache, not measured
            cpu_before = _cpu_seconds(server.pid)
            elapsed, record = asyncio.run(_load(port, paths, seconds))
            server_cpu = _cpu_seconds(server.pid) - cpu_before
            wrk_figures = _wrk(port, paths, seconds, tmp, script=_WRK_SCRIPT)
        finally:
            server.terminate()  # the lifespan writes the last hits on the way out
            server.wait(timeout=30)
        stored = _stored_hits(config)
    latencies = sorted(latency * 1000 for latency, _status in record)
    errors = sum(1 for _latency, status in record if status != 302)
    return {
        "readers": readers,
        "connections": CONNECTIONS,
        "requests": len(record),
        "errors": errors,
        "hits_stored": stored,
        "requests_per_s": round(len(record) / elapsed, 1),
        "p50_ms": round(_percentile(latencies, 0.50), 2),
        "p99_ms": round(_percentile(latencies, 0.99), 2),
        "max_ms": round(latencies[-1], 2),
        "server_cpu_ms_per_request": round(server_cpu * 1000 / max(1, len(record)), 3),
        "load_average_1m": round(os.getloadavg()[0], 2),
        **wrk_figures,
    }


if __name__ == "__main__":
    from benchmarks._runner import run_one

    run_one(main)
