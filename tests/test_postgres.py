"""PostgreSQL as a first-class backend: migrations, schema, concurrent starts, real server."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, inspect, text
from sqlalchemy.pool import NullPool

from newsletter import db
from newsletter.services import Services
from subscribers.db import Base
from tests.conftest import REPO, base_config, write_config

pytestmark = pytest.mark.postgres


def _import_migrated_models() -> None:
    # The tables Alembic knows are the ones migrations/env.py imports: import the same.
    tree = ast.parse((REPO / "migrations" / "env.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                importlib.import_module(alias.name)


@pytest.fixture
def engine(empty_postgres_url: str) -> Iterator[Engine]:
    """An engine on an empty PostgreSQL database."""
    created = create_engine(empty_postgres_url, poolclass=NullPool)
    yield created
    created.dispose()


def _current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def test_every_migration_upgrades_one_by_one(engine: Engine) -> None:
    script = ScriptDirectory.from_config(db.alembic_config(engine))
    chain = [rev.revision for rev in reversed(list(script.walk_revisions()))]
    assert chain[0] == "0001"
    for revision in chain:
        db.upgrade(engine, revision)
        assert _current_revision(engine) == revision
    assert chain[-1] == script.get_current_head()


def test_migrated_schema_matches_the_models(engine: Engine) -> None:
    db.upgrade(engine)
    _import_migrated_models()
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_datetimes_are_naive_utc_timestamps(engine: Engine) -> None:
    db.upgrade(engine)
    columns = {c["name"]: c["type"] for c in inspect(engine).get_columns("issues")}
    assert getattr(columns["publish_at"], "timezone", None) is False
    with engine.connect() as conn:
        assert conn.execute(text("SHOW server_encoding")).scalar_one() == "UTF8"


def test_upgrade_is_idempotent_on_postgres(engine: Engine) -> None:
    db.upgrade(engine)
    db.upgrade(engine)
    assert _current_revision(engine) is not None


_UPGRADE = "import sys; from sqlalchemy import create_engine; from newsletter import db; "
_UPGRADE += "db.upgrade(create_engine(sys.argv[1])); print('migrated')"


def test_processes_starting_together_migrate_once(empty_postgres_url: str) -> None:
    # serve and several workers may start at once on a fresh database.
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _UPGRADE, empty_postgres_url],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    results = [proc.communicate(timeout=120) for proc in procs]
    assert [proc.returncode for proc in procs] == [0] * 3, [err[-500:] for _, err in results]
    engine = create_engine(empty_postgres_url, poolclass=NullPool)
    try:
        assert _current_revision(engine) is not None
    finally:
        engine.dispose()


def test_services_open_a_postgres_project(tmp_path: Path, empty_postgres_url: str) -> None:
    from newsletter.settings import load_settings

    config = base_config(tmp_path)
    config["database"] = {"url": empty_postgres_url}
    settings = load_settings(write_config(tmp_path, config))
    services = Services.open(settings)
    try:
        assert services.engine.dialect.name == "postgresql"
        assert "subscribers" in inspect(services.engine).get_table_names()
        assert not (tmp_path / "test.db").exists()
    finally:
        services.close()


def test_korean_text_round_trips(postgres_url: str) -> None:
    engine = create_engine(postgres_url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO newsletters (id, name, description, created_at)"
                    " VALUES ('k', :name, '', now())"
                ),
                {"name": "주간 뉴스레터 🌙"},
            )
            name = conn.execute(text("SELECT name FROM newsletters WHERE id = 'k'")).scalar_one()
    finally:
        engine.dispose()
    assert name == "주간 뉴스레터 🌙"
