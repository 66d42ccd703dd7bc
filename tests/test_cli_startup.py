"""The ``newsletter`` command starts without the heavy parts (a behavioural guard, no timing).

``newsletter --help`` must not import FastAPI, SQLAlchemy or the web app: the commands
import them when they run. The figure itself is in docs/benchmarks.md (benchmarks/cli.py).
"""

from __future__ import annotations

import json
import subprocess
import sys

import newsletter
from newsletter.cli.subscribers import STATUSES
from subscribers.models import SubscriberStatus, SubscriptionStatus

HEAVY = (
    "fastapi",
    "starlette",
    "sqlalchemy",
    "alembic",
    "uvicorn",
    "pydantic",
    "newsletter.web",
    "mjml",
    "pygments",
    "typer.rich_utils",
)

PROBE = """
import json, sys
sys.argv = ["newsletter", *json.loads(sys.argv[1])]
from newsletter.cli import main
try:
    main()
except SystemExit:
    pass
sys.stdout.flush()
print("\\nMODULES=" + json.dumps(sorted(sys.modules)))
"""


def _modules_after(*args: str) -> tuple[str, set[str]]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(args)],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
    )
    output, _, modules = result.stdout.rpartition("MODULES=")
    assert modules, result.stdout + result.stderr
    return output, set(json.loads(modules))


def test_help_imports_no_web_or_database_module() -> None:
    output, modules = _modules_after("--help")
    assert "serve" in output and "init" in output
    loaded = sorted(m for m in modules if m.split(".")[0] in HEAVY or m.startswith(HEAVY))
    assert loaded == []


def test_a_group_help_stays_light_too() -> None:
    output, modules = _modules_after("subscribers", "--help")
    assert "import" in output
    assert not {"sqlalchemy", "fastapi", "typer.rich_utils"} & modules


def test_version() -> None:
    output, _ = _modules_after("--version")
    assert output.strip() == f"newsletter {newsletter.__version__}"


def test_status_choices_match_the_store() -> None:
    # Spelled out in the CLI so that --help needs no SQLAlchemy; must follow the enums.
    expected = [s.value for s in SubscriptionStatus] + [
        s.value
        for s in SubscriberStatus
        if s not in (SubscriberStatus.ACTIVE, SubscriberStatus.ERASED)
    ]
    assert expected == STATUSES
