"""Alembic environment: runs over the engine handed in by ``newsletter.db.upgrade``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

import newsletter.abtest.models
import newsletter.automations.feeds.models  # noqa: F401
import subscribers.ad_consent
import subscribers.models  # noqa: F401
from subscribers.db import Base

config = context.config
engine = config.attributes.get("engine") or create_engine(config.get_main_option("sqlalchemy.url"))

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    context.run_migrations()
