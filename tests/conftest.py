"""Shared fixtures: a project in a temp dir, its migrated database, and part requirements.

Tests that need a system part (Chromium, PostgreSQL, an SMTP sink) call :func:`require`:
on a laptop a missing part skips the test; in CI (``CI=true``) it fails it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from newsletter.services import Services
from newsletter.settings import Settings, load_settings

pytest_plugins = [
    "tests.fixtures.advertising",
    "tests.fixtures.issues",
    "tests.fixtures.subscribers",
    "tests.fixtures.delivery",
    "tests.fixtures.web",
    "tests.fixtures.postgres",
    "tests.fixtures.api",
    "tests.fixtures.tracking",
]

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO.parent / "shared" / "seeds"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
#: How Chromium runs here (see the machine notes): headless, as root, and without the
#: background networking that this closed network refuses.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def require(available: bool, what: str) -> None:
    """Skip (on a laptop) or fail (in CI) a test whose system part is missing."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"CI lacks a required part: {what}")
    pytest.skip(f"missing part: {what}")


def seed_path(prefix: str) -> Path:
    """The seed file whose name starts with ``prefix`` (``000`` brunch, ``001`` Jekyll)."""
    matches = sorted(SEEDS.glob(f"{prefix}_*.txt"))
    require(bool(matches), f"seed {prefix}_*.txt in {SEEDS}")
    return matches[0]


def database_url_for_tests() -> str:
    """The database of a test project: ``$TEST_DATABASE_URL`` if set (shared, as is), a fresh
    PostgreSQL database per test with ``--db=postgres`` (see tests/fixtures/postgres.py),
    else a SQLite file in the project dir."""
    # Imported here: the fixture plugin must be imported by pytest first (assert rewriting).
    from tests.fixtures.postgres import project_database_url

    return os.environ.get("TEST_DATABASE_URL") or project_database_url() or "sqlite:///test.db"


def base_config(tmp_path: Path) -> dict[str, Any]:
    """A config for a project living in ``tmp_path`` (SQLite file, outbox, issues dir)."""
    return {
        "site": {
            "name": "Test Letters",
            "url": "https://news.example.org",
            "language": "ko",
            "timezone": "Asia/Seoul",
            "postal_address": "1 Test Street, Testville",
        },
        "sender": {"from_email": "editor@example.org", "from_name": "Test Letters"},
        "database": {"url": database_url_for_tests()},
        "delivery": {"backend": "outbox", "outbox_dir": "outbox"},
        "issues_dir": "issues",
        "templates_dir": str(REPO / "templates"),
        "newsletters": [
            {"id": "weekly", "name": "Weekly", "description": "Every Monday.", "default": True},
            {"id": "letters", "name": "Letters", "description": "Now and then.", "language": "en"},
        ],
    }


def write_config(tmp_path: Path, config: dict[str, Any]) -> Path:
    """Write ``config`` as ``tmp_path/config.yaml`` and return its path."""
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    (tmp_path / "issues").mkdir(exist_ok=True)
    return path


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    """``config.yaml`` of a fresh project in ``tmp_path``."""
    return write_config(tmp_path, base_config(tmp_path))


@pytest.fixture
def settings(config_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings of the fresh project, with a fixed secret key."""
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", "test-secret-key-0123456789abcdef")
    return load_settings(config_path)


@pytest.fixture
def services(settings: Settings) -> Iterator[Services]:
    """The fresh project's services over a migrated database."""
    opened = Services.open(settings)
    yield opened
    opened.close()


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Debian's Chromium binary, required by browser tests."""
    found = shutil.which(CHROMIUM) or (CHROMIUM if Path(CHROMIUM).exists() else None)
    require(found is not None, f"Chromium at {CHROMIUM} (apt-get install chromium)")
    assert found is not None
    return found
