"""Start-up of the ``newsletter`` command: ``--help``, ``--version``, ``issues list``.

Each figure is the median wall time of a fresh process (the installed console script,
``<venv>/bin/newsletter``), against ``python -c pass`` with the same interpreter as the
floor no command can beat. ``issues list`` runs in a temp project with three issue files
and a migrated SQLite database. Target (PRODUCT.md): ``--help`` ≤ 0.3 s median.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ISSUE = "---\ntitle: 벤치마크 {n}\ndate: 2026-12-0{n} 09:00\n---\n본문 {n}.\n"


def _command() -> list[str]:
    script = Path(sys.executable).parent / "newsletter"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "newsletter"]


def _median_ms(command: list[str], rounds: int, cwd: Path, env: dict[str, str]) -> float:
    """Median wall time of ``command``; its CPU time goes to ``_CPU`` (under load, wall time
    grows with the machine's other work, CPU time much less)."""
    timings, cpu = [], []
    for _ in range(rounds):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run(command, cwd=cwd, env=env, check=True, capture_output=True)
        timings.append((time.perf_counter() - started) * 1000)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append((after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) * 1000)
    _CPU[command[-1]] = round(statistics.median(cpu), 1)
    return round(statistics.median(timings), 1)


_CPU: dict[str, float] = {}


def main(quick: bool = False) -> dict[str, Any]:
    """Median milliseconds of each command's start-up, and of the interpreter alone."""
    rounds = 11 if quick else 31
    newsletter = _command()
    with tempfile.TemporaryDirectory() as temp:
        project = Path(temp)
        env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
        env["NEWSLETTER_SECRET_KEY"] = "bench-secret-key-0123456789abcdef"
        env["COLUMNS"] = "160"
        (project / "issues").mkdir()
        for n in (1, 2, 3):
            (project / "issues" / f"2026-12-0{n}-bench-{n}.md").write_text(
                ISSUE.format(n=n), encoding="utf-8"
            )
        subprocess.run([*newsletter, "db", "upgrade"], cwd=project, env=env, check=True)
        floor = _median_ms([sys.executable, "-c", "pass"], rounds, project, env)
        help_ms = _median_ms([*newsletter, "--help"], rounds, project, env)
        figures: dict[str, Any] = {
            "command": " ".join(newsletter),
            "rounds": rounds,
            "python_pass_median_ms": floor,
            "help_median_ms": help_ms,
            "help_over_floor_ms": round(help_ms - floor, 1),
            "version_median_ms": _median_ms([*newsletter, "--version"], rounds, project, env),
            "issues_list_median_ms": _median_ms(
                [*newsletter, "issues", "list"], rounds, project, env
            ),
            "python_pass_cpu_median_ms": _CPU["pass"],
            "help_cpu_median_ms": _CPU["--help"],
            "issues_list_cpu_median_ms": _CPU["list"],
            "load_average_1min": round(os.getloadavg()[0], 1),
        }
        return figures


if __name__ == "__main__":
    from benchmarks._runner import run_one

    run_one(main)
