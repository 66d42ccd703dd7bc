"""Send one issue to 1,000,000 subscribers through the SendGrid backend to the local emulator.

End to end, ledger included: ``start_send`` renders the issue, fans the audience out into
the ledger (one ``INSERT … SELECT``), then claims, sends (the real ``sendgrid`` client over
loopback, 1,000 personalizations per request) and settles every batch. The emulator runs
in its own process (``python -m newsletter.delivery.emulator``) and counts duplicates.
Targets (PRODUCT.md): ≥ 20,000 recipients/s and ≤ 250 MB peak memory (this process).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import text

from benchmarks._runner import REPO, peak_rss_mb
from newsletter import db
from newsletter.delivery import RunOptions, start_send
from newsletter.services import Services
from newsletter.settings import load_settings

ISSUE = """---
title: "벤치마크 호 / Benchmark issue"
date: 2026-01-05 09:00:00 +0900
newsletter: weekly
preheader: "성능 측정용 글"
---
## 이번 주의 소식

이 글은 배달 엔진의 처리량을 재기 위해 쓴 짧은 글입니다. 한국어와 English가 섞여 있습니다.

- 첫째 항목: 묶음 발송
- 둘째 항목: 원장(ledger) 기록
- Third item: [a link](https://example.org/)

끝까지 읽어 주셔서 고맙습니다.
"""


def make_project(base: Path, *, backend: str, extra: dict[str, Any] | None = None) -> Path:
    """A project in ``base`` with one issue file; returns its config path."""
    (base / "issues").mkdir(parents=True, exist_ok=True)
    (base / "issues" / "2026-01-05-bench.md").write_text(ISSUE, encoding="utf-8")
    config: dict[str, Any] = {
        "site": {"name": "Bench", "url": "https://news.example.org", "postal_address": "1 St"},
        "sender": {"from_email": "editor@example.org", "from_name": "Bench"},
        "database": {"url": os.environ.get("BENCH_DATABASE_URL") or "sqlite:///bench.db"},
        "delivery": {"backend": backend, **(extra or {})},
        "templates_dir": str(REPO / "templates"),
        "newsletters": [{"id": "weekly", "name": "Weekly", "default": True}],
    }
    path = base / "config.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path


def add_subscribers(services: Services, count: int, *, chunk: int = 20_000) -> None:
    """``count`` confirmed subscribers of ``weekly``, inserted in large set-based chunks."""
    now = "2026-01-01 00:00:00"
    people = text(
        "INSERT INTO subscribers (id, email, email_normalized, email_hash, name, locale, "
        "timezone, status, created_at, updated_at) VALUES (:id, :e, :e, :h, :n, '', '', "
        "'active', :now, :now)"
    )
    follows = text(
        "INSERT INTO subscriptions (subscriber_id, newsletter_id, status, source, created_at, "
        "confirmed_at) VALUES (:id, 'weekly', 'active', 'import', :now, :now)"
    )
    for start in range(1, count + 1, chunk):
        ids = range(start, min(start + chunk, count + 1))
        with db.transaction(services.sessions) as session:
            session.execute(
                people,
                [
                    {
                        "id": i,
                        "e": f"r{i}@example.net",
                        "h": f"{i:064x}",
                        "n": f"독자{i}",
                        "now": now,
                    }
                    for i in ids
                ],
            )
            session.execute(follows, [{"id": i, "now": now} for i in ids])


def start_emulator() -> tuple[subprocess.Popen[str], str]:
    """The emulator in its own process; returns it and its URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "newsletter.delivery.emulator", "--port", "0", "--api-key", "k"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    return process, process.stdout.readline().strip()


def emulator_stats(url: str) -> dict[str, Any]:
    """The emulator's counters (requests, recipients, duplicates)."""
    with urllib.request.urlopen(f"{url}/_emulator/stats", timeout=30) as response:
        stats: dict[str, Any] = json.loads(response.read())
    return stats


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by process ``pid`` (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main(quick: bool = False) -> dict[str, Any]:
    """Measure one full send; returns the figures."""
    size = 50_000 if quick else int(os.environ.get("BENCH_SUBSCRIBERS", "1000000"))
    helpers = int(os.environ.get("BENCH_HELPERS", "1"))
    emulator, url = start_emulator()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-send-") as tmp:
            os.environ["SENDGRID_API_KEY"] = "k"
            config = make_project(Path(tmp), backend="sendgrid", extra={"sendgrid": {"host": url}})
            services = Services.open(load_settings(config))
            add_subscribers(services, size)
            before = peak_rss_mb()
            emulator_cpu = cpu_seconds(emulator.pid)
            cpu = time.process_time()
            started = time.perf_counter()
            # One helper process: the sender is CPU-bound and a process has one GIL.
            result = start_send(services, "bench", options=RunOptions(helper_processes=helpers))
            elapsed = time.perf_counter() - started
            cpu = time.process_time() - cpu
            helper_cpu = _children_cpu()
            helper_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            emulator_cpu = cpu_seconds(emulator.pid) - emulator_cpu
            services.close()
        stats = emulator_stats(url)
    finally:
        emulator.terminate()
        emulator.wait()
    return {
        "subscribers": size,
        "status": result.status,
        "accepted": result.counts.get("accepted", 0),
        "seconds": round(elapsed, 2),
        "recipients_per_s": round(result.counts.get("accepted", 0) / elapsed),
        # CPU seconds per 1,000 recipients: what the figure would be on idle cores
        # (the development machine is shared; wall-clock rates drop with its load).
        "helper_processes": helpers,
        "sender_cpu_s": round(cpu + helper_cpu, 1),
        "emulator_cpu_s": round(emulator_cpu, 1),
        "sender_cpu_ms_per_1000": round((cpu + helper_cpu) / size * 1e6, 1),
        "load_average_1m": round(os.getloadavg()[0], 1),
        "requests": stats["accepted_requests"],
        "emulator_recipients": stats["recipients"],
        "duplicates": stats["duplicates"],
        "peak_rss_mb_before_send": before,
        "peak_rss_mb": peak_rss_mb(),
        "helper_peak_rss_mb": round(helper_peak, 1),
    }


if __name__ == "__main__":
    from benchmarks._runner import run_one

    run_one(main)
