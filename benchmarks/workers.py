"""Throughput of one send with 1, 2 and 4 ``newsletter worker`` processes on PostgreSQL.

Each run starts N real worker processes (``python -m newsletter worker``), waits until
they are idle, then queues a send of a new issue to the same audience: the first worker to
poll claims the send and fans it out, the others join it within their 2 s poll and claim
its batches with ``SKIP LOCKED``. Two figures per run: end to end on the send's own clock
(``started_at`` claimed → ``finished_at`` last batch settled, fan-out and joining
included), and steady (once all N take part, from the ledger's settle times). The SendGrid
emulator runs in its own process.

Two series: the emulator answering at once (CPU-bound: on 2 cores workers, emulator and
PostgreSQL share the same two cores), and answering after a fixed delay per request, like
a real provider across the internet (I/O-bound: what more workers are for).

Needs PostgreSQL: ``$BENCH_POSTGRES_URL`` (or ``$TEST_POSTGRES_URL``), a server URL.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from benchmarks._postgres import server_url, temporary_database
from benchmarks._runner import REPO
from benchmarks.send_sendgrid import (
    ISSUE,
    add_subscribers,
    emulator_stats,
    make_project,
    start_emulator,
)
from newsletter.delivery import create_send
from newsletter.delivery.models import Delivery, Send
from newsletter.services import Services
from newsletter.settings import load_settings

WORKER_COUNTS = (1, 2, 4)


def _queue_latency(url: str, *, requests: int, delay: float) -> None:
    faults = json.dumps([{"kind": "slow", "delay": delay}] * requests).encode()
    request = urllib.request.Request(f"{url}/_emulator/faults", data=faults, method="POST")
    with urllib.request.urlopen(request, timeout=30):
        pass


def _run_send(services: Services, config: Path, slug: str, workers: int) -> dict[str, Any]:
    """Start ``workers`` processes, then queue the send of ``slug``; its figures."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "newsletter", "--config", str(config), "worker"]
    logs = [config.parent / f"{slug}-worker{n}.log" for n in range(workers)]
    procs = []
    for log in logs:
        with log.open("wb") as out:
            procs.append(subprocess.Popen(command, cwd=REPO, env=env, stdout=out))
    try:
        # Start-up (imports) is not what is measured: queue the send once all are idle.
        while not all("waiting" in log.read_text() for log in logs):
            if any(p.poll() is not None for p in procs):
                raise RuntimeError("a worker exited during start-up")
            time.sleep(0.1)
        send_id = create_send(services, slug)
        while True:
            with services.sessions() as session:
                send = session.scalars(select(Send).where(Send.id == send_id)).one()
            if send.status not in ("queued", "sending"):
                break
            if any(p.poll() is not None for p in procs):
                raise RuntimeError("a worker exited during the benchmark")
            time.sleep(0.2)
    finally:
        for proc in procs:
            # SIGTERM: a process started in the background inherits SIGINT ignored.
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
    assert send.started_at is not None and send.finished_at is not None
    seconds = (send.finished_at - send.started_at).total_seconds()
    return {
        "status": send.status,
        "total": send.total,
        "seconds": seconds,
        "steady_per_s": _steady_rate(services, send_id, workers),
    }


def _steady_rate(services: Services, send_id: int, workers: int) -> float:
    """Recipients/s once all ``workers`` take part: from the ledger's settle times.

    The window starts when the last of the first ``workers`` runners settled its first
    batch (joiners poll every 2 s, start-up and fan-out are excluded) and ends at the
    last settle.
    """
    with services.sessions() as session:
        firsts = sorted(
            session.scalars(
                select(func.min(Delivery.updated_at))
                .where(Delivery.send_id == send_id)
                .group_by(Delivery.worker)
            )
        )
        start = firsts[min(workers, len(firsts)) - 1]
        end = session.scalar(
            select(func.max(Delivery.updated_at)).where(Delivery.send_id == send_id)
        )
        settled = session.scalar(
            select(func.count()).where(Delivery.send_id == send_id, Delivery.updated_at > start)
        )
    assert end is not None and settled is not None
    window = (end - start).total_seconds()
    return settled / window if window > 0 else 0.0


def _series(
    services: Services, config: Path, url: str, *, size: int, batch: int, delay: float
) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for workers in WORKER_COUNTS:
        slug = f"bench-{workers}w-{int(delay * 1000)}ms"
        issues = config.parent / "issues"
        (issues / f"2026-01-05-{slug}.md").write_text(ISSUE, encoding="utf-8")
        if delay:
            _queue_latency(url, requests=size // batch + 10, delay=delay)
        run = _run_send(services, config, slug, workers)
        if run["status"] != "sent" or run["total"] != size:
            raise RuntimeError(f"{slug}: {run}")
        figures[f"{workers}_workers_recipients_per_s"] = round(size / run["seconds"])
        figures[f"{workers}_workers_steady_recipients_per_s"] = round(run["steady_per_s"])
        figures["duplicates"] = figures.get("duplicates", 0) + emulator_stats(url)["duplicates"]
        with urllib.request.urlopen(f"{url}/_emulator/reset", data=b"", timeout=30):
            pass
    return figures


def main(quick: bool = False) -> dict[str, Any]:
    """Three sends per series (1, 2, 4 workers) of one audience; recipients/s of each."""
    server = server_url()
    if not server:
        return {"skipped": "needs a PostgreSQL server in $BENCH_POSTGRES_URL"}
    size = 20_000 if quick else int(os.environ.get("BENCH_SUBSCRIBERS", "200000"))
    batch = 500 if quick else 1000
    delay = 0.5  # a provider across the internet, 500 recipients per request
    emulator, url = start_emulator()
    figures: dict[str, Any] = {"subscribers": size, "batch_size": batch, "duplicates": 0}
    try:
        with (
            temporary_database(server) as database,
            tempfile.TemporaryDirectory(prefix="bench-workers-") as tmp,
        ):
            os.environ.update(
                {
                    "BENCH_DATABASE_URL": database,
                    "SENDGRID_API_KEY": "k",
                    "NEWSLETTER_SECRET_KEY": "b",
                }
            )
            extra = {"batch_size": batch, "sendgrid": {"host": url}}
            config = make_project(Path(tmp), backend="sendgrid", extra=extra)
            services = Services.open(load_settings(config))
            try:
                add_subscribers(services, size)
                series_delays = [(f"latency_{int(delay * 1e3)}ms", delay)]
                if not quick:  # --quick keeps all benchmarks together to a few minutes
                    series_delays.insert(0, ("no_latency", 0.0))
                for prefix, latency in series_delays:
                    series = _series(services, config, url, size=size, batch=batch, delay=latency)
                    figures["duplicates"] += series.pop("duplicates")
                    figures.update({f"{prefix}_{k}": v for k, v in series.items()})
            finally:
                services.close()
    finally:
        emulator.terminate()
        emulator.wait()
    figures["load_average_1m"] = round(os.getloadavg()[0], 1)
    return figures


if __name__ == "__main__":
    from benchmarks._runner import run_one

    run_one(main)
