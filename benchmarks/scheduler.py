"""Benchmark: how late a scheduled issue starts, under a real ``newsletter serve``.

    .venv/bin/python -m benchmarks.scheduler [--quick]

Sets up a project in a temp dir (SQLite file, outbox backend, confirmed subscribers),
starts ``newsletter serve`` on an ephemeral port, drops issue files due a few seconds
ahead (one every 1.5 s), and measures for each issue: when the scheduler started its send
(from serve's log line ``late by X s``) and when the first email reached the outbox (the
Maildir file's mtime), both relative to the issue's instant. Target (PRODUCT.md): a
scheduled issue starts within 2 s of its publication instant.
"""

from __future__ import annotations

import email
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import yaml

from newsletter.db import transaction
from newsletter.services import Services
from newsletter.settings import load_settings
from subscribers.service import Source, subscribe

REPO = Path(__file__).resolve().parent.parent
LATE = re.compile(r"starting send of (\S+) due \S+ \(late by ([0-9.]+) s\)")
SECRET = "bench-secret-key-0123456789abcdef"


def _project(folder: Path, subscribers: int) -> Path:
    config = {
        "site": {"name": "Bench", "url": "https://news.example.org", "timezone": "Asia/Seoul"},
        "database": {"url": "sqlite:///bench.db"},
        "delivery": {"backend": "outbox", "outbox_dir": "outbox"},
        "templates_dir": str(REPO / "templates"),
        "scheduler": {"sync_interval": "1s"},
        "newsletters": [{"id": "weekly", "name": "Weekly", "default": True}],
    }
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    (folder / "issues").mkdir()
    os.environ["NEWSLETTER_SECRET_KEY"] = SECRET
    services = Services.open(load_settings(path))
    with transaction(services.sessions) as session:
        for n in range(subscribers):
            subscribe(
                session,
                email=f"reader{n}@example.org",
                newsletters=["weekly"],
                source=Source.IMPORT,
                confirmed=True,
            )
    services.close()
    return path


def _write_issue(folder: Path, slug: str, instant: datetime) -> None:
    date = instant.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f +00:00")
    text = f'---\ntitle: "벤치 {slug}"\ndate: {date}\n---\n본문. Body.\n'
    (folder / "issues" / f"{slug}.md").write_text(text, encoding="utf-8")


def _first_email_by_subject(outbox: Path) -> dict[str, float]:
    first: dict[str, float] = {}
    for path in outbox.rglob("*"):
        if not path.is_file():
            continue
        with path.open("rb") as handle:
            message = email.message_from_binary_file(handle, policy=default_policy)
        slug = str(message["Subject"]).split()[-1]
        first[slug] = min(first.get(slug, float("inf")), path.stat().st_mtime)
    return first


def main(quick: bool = False) -> dict[str, Any]:
    """Run serve, schedule issues a few seconds ahead, report how late each started."""
    issues, subscribers = (3, 20) if quick else (8, 200)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        config = _project(folder, subscribers)
        env = dict(os.environ, NEWSLETTER_SECRET_KEY=SECRET, PYTHONUNBUFFERED="1")
        command = [sys.executable, "-c", "from newsletter.cli import main; main()"]
        process = subprocess.Popen(
            [*command, "--config", str(config), "serve", "--port", "0"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(process.stdout or []), daemon=True)
        reader.start()
        try:
            _wait(lambda: any("Uvicorn running" in line for line in lines), 60)
            start = datetime.now(UTC) + timedelta(seconds=3)
            instants = {f"b{i}": start + timedelta(seconds=1.5 * i) for i in range(issues)}
            for slug, instant in instants.items():
                _write_issue(folder, slug, instant)
            _wait(lambda: len(LATE.findall("".join(lines))) == issues, 30 + 2 * issues)
            time.sleep(2)  # let the last send write its outbox files
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
            reader.join(timeout=5)
        started = {m[1]: float(m[2]) * 1000 for m in LATE.finditer("".join(lines))}
        first = _first_email_by_subject(folder / "outbox")
    to_first = [(first[s] - instants[s].timestamp()) * 1000 for s in instants if s in first]
    return {
        "issues": issues,
        "subscribers": subscribers,
        "send_start_late_median_ms": round(statistics.median(started.values()), 1),
        "send_start_late_max_ms": round(max(started.values()), 1),
        "first_email_late_median_ms": round(statistics.median(to_first), 1),
        "first_email_late_max_ms": round(max(to_first), 1),
        "target": "send starts within 2000 ms of the instant",
    }


def _wait(predicate: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("the scheduler benchmark timed out")
        time.sleep(0.05)


if __name__ == "__main__":
    from benchmarks._runner import run_one

    run_one(main)
