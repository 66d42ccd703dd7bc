"""Render one seed-sized issue (Markdown → HTML + text) and personalize it per recipient.

The issue is the Jekyll seed from ``../shared/seeds`` when present (read, never copied),
else a generated Korean issue of the same size. Target: render ≤ 20 ms median.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from newsletter.issues import parse_issue_file
from newsletter.render import preview_values, render_issue
from newsletter.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT.parent / "shared" / "seeds"


def _issue_file(folder: Path) -> tuple[Path, str]:
    seeds = sorted(SEEDS.glob("001_*.txt"))
    if seeds:
        return seeds[0], "seed 001 (Jekyll)"
    paragraph = "작은 도구가 오래 가는 이유를 여러 사례로 살펴봅니다. " * 12
    sections = "\n\n".join(f"## 소제목 {n}\n{paragraph}\n\n{paragraph}" for n in range(12))
    path = folder / "2026-01-05-bench.md"
    path.write_text(f"---\ntitle: 벤치마크\ndate: 2026-01-05\n---\n{sections}\n", "utf-8")
    return path, "generated"


def _median_ms(action: Any, rounds: int) -> float:
    timings = []
    for _ in range(rounds):
        started = time.perf_counter()
        action()
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def main(quick: bool = False) -> dict[str, Any]:
    """Median milliseconds to render the issue and to personalize it for one recipient."""
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        settings = Settings(base_dir=folder, templates_dir=ROOT / "templates")
        path, source = _issue_file(folder)
        issue = parse_issue_file(settings, path)
        rendered = render_issue(settings, issue)  # warm: templates compiled once per process
        values = preview_values(settings, issue.slug)
        rounds = 30 if quick else 200
        html, _ = rendered.personalize(values)
        return {
            "issue": source,
            "markdown_bytes": len(issue.body.encode("utf-8")),
            "html_bytes": len(html.encode("utf-8")),
            "rounds": rounds,
            "render_median_ms": round(_median_ms(lambda: render_issue(settings, issue), rounds), 2),
            "parse_median_ms": round(
                _median_ms(lambda: parse_issue_file(settings, path), rounds), 2
            ),
            "personalize_median_ms": round(
                _median_ms(lambda: rendered.personalize(values), rounds * 10), 3
            ),
        }


if __name__ == "__main__":
    from benchmarks._runner import run_one

    run_one(main)
