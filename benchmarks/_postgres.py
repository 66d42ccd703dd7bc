"""A throwaway PostgreSQL database for a benchmark, on the server in ``$BENCH_POSTGRES_URL``."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

SERVER_ENV = "BENCH_POSTGRES_URL"


def server_url() -> str | None:
    """The PostgreSQL server benchmarks may use: ``$BENCH_POSTGRES_URL``, else the test
    server ``$TEST_POSTGRES_URL``, else none (PostgreSQL figures are left out)."""
    return os.environ.get(SERVER_ENV) or os.environ.get("TEST_POSTGRES_URL") or None


@contextmanager
def temporary_database(server: str) -> Iterator[str]:
    """Create an empty database on ``server``, yield its URL, drop it afterwards."""
    name = f"nlbench_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
