"""``python -m benchmarks [--quick] [--only NAME...] [--json FILE]``: run every benchmark.

Each module (see benchmarks/README.md) runs in its own interpreter, so its peak memory is
its own and one failure does not stop the others. Prints the machine and one block of
figures per benchmark; exits 1 if any benchmark failed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks._runner import discover, elapsed, machine, run_child


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="reduced sizes (make bench)")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these modules")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write all figures as JSON")
    parser.add_argument(
        "--timeout", type=float, default=None, help="seconds per benchmark (600 quick, 3600 full)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the selected benchmarks and report; the exit status says whether all ran."""
    args = _parse(argv)
    names = discover()
    unknown = sorted(set(args.only or ()) - set(names))
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)} (have: {', '.join(names)})")
        return 2
    selected = [n for n in names if not args.only or n in args.only]
    timeout = args.timeout or (600.0 if args.quick else 3600.0)
    report: dict[str, Any] = {"machine": machine(), "quick": args.quick, "results": {}}
    for key, value in report["machine"].items():
        print(f"{key:>8}: {value}")
    failed = []
    for name in selected:
        started = time.perf_counter()
        print(f"\n{name} ...", flush=True)
        figures, error = run_child(name, quick=args.quick, timeout=timeout)
        if figures is None:
            failed.append(name)
            report["results"][name] = {"error": error}
            print(f"  FAILED ({elapsed(started)}): {error}")
            continue
        report["results"][name] = figures
        for key, value in figures.items():
            print(f"  {key:<32} {value}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
