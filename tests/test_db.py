from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import inspect, select

from newsletter import db
from newsletter.models import Issue
from newsletter.services import Services
from newsletter.settings import Settings


def test_migrations_create_the_tables(services: Services) -> None:
    tables = set(inspect(services.engine).get_table_names())
    assert {"issues", "subscribers", "subscriptions", "suppressions", "events"} <= tables


def test_upgrade_is_idempotent(services: Services) -> None:
    db.upgrade(services.engine)
    db.upgrade(services.engine)


def test_sqlite_path_is_relative_to_the_project(settings: Settings) -> None:
    if not settings.database.url.startswith("sqlite"):
        pytest.skip("SQLite-specific")
    assert db.database_url(settings) == f"sqlite:///{settings.base_dir / 'test.db'}"


def test_timestamps_round_trip_as_aware_utc(services: Services) -> None:
    seoul = timezone(timedelta(hours=9))
    with db.transaction(services.sessions) as session:
        session.add(
            Issue(
                slug="a",
                newsletter_id="weekly",
                title="A",
                subject="A",
                publish_at=datetime(2025, 8, 18, 20, 0, 9, tzinfo=seoul),
                source_path="a.md",
                source_hash="0" * 64,
            )
        )
    with services.sessions() as session:
        issue = session.scalars(select(Issue)).one()
    assert issue.publish_at == datetime(2025, 8, 18, 11, 0, 9, tzinfo=UTC)
    assert issue.publish_at.tzinfo is not None
