"""Benchmark: import 1,000,000 generated subscribers from a CSV file (PRODUCT.md: ≤ 30 s).

    python -m benchmarks.import_csv [--quick]       # --quick: 100,000 rows

Generates a CSV with Korean and English names, ~1% duplicates and 0.1% invalid rows, and
imports it (``--confirmed --partial``) into a fresh migrated project database through the
real code path (``Services`` + ``subscribers.bulk.import_csv``), one transaction, commit
included. Reports wall and CPU seconds, rows per second and peak RSS. With
``$BENCH_POSTGRES_URL`` set it also runs against a throwaway PostgreSQL database.
Also times signing and verifying unsubscribe tokens (one per recipient in a send).
"""

from __future__ import annotations

import csv
import random
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import _postgres
from newsletter import db
from newsletter.services import Services
from newsletter.settings import load_settings
from subscribers.bulk import import_csv
from subscribers.tokens import TokenPurpose, TokenSigner

GIVEN = ["민준", "서연", "도윤", "지우", "Alex", "Sam", "Jordan", "하은", "Taylor", "예준"]
FAMILY = ["김", "이", "박", "최", "Kim", "Lee", "Park", "정", "Smith", "강"]


def generate(path: Path, rows: int, *, seed: int = 7) -> None:
    """Write ``rows`` data rows (plus a header) of plausible subscribers to ``path``."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["email", "name"])
        for i in range(rows):
            if i % 1000 == 999:
                writer.writerow([f"broken-{i}@", "x"])  # invalid
                continue
            n = rng.randrange(i) if i % 100 == 50 else i  # ~1% duplicates
            name = f"{rng.choice(FAMILY)}{rng.choice(GIVEN)}"
            writer.writerow([f"reader.{n}@mail{n % 97}.example.com", name])


def _import_once(project: Path, csv_path: Path, database_url: str) -> dict[str, Any]:
    config = project / "config.yaml"
    config.write_text(
        f'database: {{url: "{database_url}"}}\nnewsletters: [{{id: weekly, name: Weekly}}]\n',
        encoding="utf-8",
    )
    services = Services.open(load_settings(config))
    try:
        cpu0, started = time.process_time(), time.perf_counter()
        with db.transaction(services.sessions) as session:
            summary = import_csv(
                session, csv_path, newsletter_id="weekly", confirmed=True, partial=True
            )
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu0
    finally:
        services.close()
    return {
        "seconds": round(wall, 2),
        "cpu_seconds": round(cpu, 2),
        "rows_per_s": round(summary.rows / wall),
        "imported": summary.imported,
        "duplicates": summary.duplicates,
        "invalid": summary.invalid,
    }


def main(quick: bool = False) -> dict[str, Any]:
    """Generate the file, import it into SQLite (and PostgreSQL if configured), report."""
    rows = 100_000 if quick else 1_000_000
    figures: dict[str, Any] = {"rows": rows}
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        csv_path = project / "subscribers.csv"
        generate(csv_path, rows)
        for key, value in _import_once(project, csv_path, "sqlite:///bench.db").items():
            figures[f"sqlite_{key}"] = value
        figures["sqlite_peak_rss_mb"] = _peak_rss_mb()
        server = _postgres.server_url()
        if server:
            with _postgres.temporary_database(server) as url:
                for key, value in _import_once(project, csv_path, url).items():
                    figures[f"postgres_{key}"] = value
    figures["peak_rss_mb"] = _peak_rss_mb()
    figures.update(_tokens(20_000 if quick else 200_000))
    return figures


def _tokens(count: int) -> dict[str, float]:
    """Token signing/verification speed: the delivery engine signs one link per recipient."""
    signer = TokenSigner(["newest-secret", "older-secret"])
    started = time.perf_counter()
    tokens = [signer.dumps(TokenPurpose.UNSUBSCRIBE, i, "weekly") for i in range(count)]
    signed = time.perf_counter() - started
    started = time.perf_counter()
    for token in tokens[: count // 4]:
        signer.loads(token, TokenPurpose.UNSUBSCRIBE)
    verified = time.perf_counter() - started
    return {
        "token_sign_us": round(signed / count * 1e6, 2),
        "token_signs_per_s": round(count / signed),
        "token_verify_us": round(verified / (count // 4) * 1e6, 2),
        "token_length": len(tokens[-1]),
    }


def _peak_rss_mb() -> int:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


if __name__ == "__main__":
    from benchmarks._runner import run_one

    run_one(main)
