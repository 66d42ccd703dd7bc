"""Running benchmark modules: one in this process (``run_one``), or each in a child process."""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent

Figures = dict[str, Any]


def run_one(main: Callable[..., Figures]) -> None:
    """The ``if __name__ == "__main__"`` of a benchmark module: parse ``--quick``, print JSON."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="reduced size")
    args = parser.parse_args()
    print(json.dumps(main(quick=args.quick), indent=2, ensure_ascii=False))


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MiB (Linux reports KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def discover() -> list[str]:
    """The benchmark module names: every ``benchmarks/*.py`` not starting with ``_``."""
    return sorted(p.stem for p in BENCH_DIR.glob("*.py") if not p.stem.startswith("_"))


_CHILD = """
import json, sys, time, importlib
module = importlib.import_module("benchmarks." + sys.argv[1])
started = time.perf_counter()
figures = module.main(quick=sys.argv[2] == "1")
figures.setdefault("wall_s", round(time.perf_counter() - started, 2))
with open(sys.argv[3], "w", encoding="utf-8") as out:
    json.dump(figures, out, ensure_ascii=False)
"""


def run_child(name: str, *, quick: bool, timeout: float) -> tuple[Figures | None, str]:
    """Run one benchmark module in a fresh interpreter; (figures, "") or (None, the error)."""
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as tmp:
        out = Path(tmp) / "figures.json"
        command = [sys.executable, "-c", _CHILD, name, "1" if quick else "0", str(out)]
        try:
            done = subprocess.run(
                command, cwd=REPO, timeout=timeout, capture_output=True, text=True, check=False
            )
        except subprocess.TimeoutExpired:
            return None, f"timed out after {timeout:.0f} s"
        if done.returncode != 0 or not out.exists():
            tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
            return None, f"exit {done.returncode}: " + " | ".join(tail)
        return json.loads(out.read_text(encoding="utf-8")), ""


def machine() -> dict[str, str]:
    """What the figures were measured on: CPU, cores, memory, OS, Python, date."""
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f"{kib / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError, IndexError):
        memory = "unknown"
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory": memory,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
    }


def elapsed(started: float) -> str:
    """Seconds since ``started`` (a ``time.perf_counter()``), formatted."""
    return f"{time.perf_counter() - started:.1f} s"
