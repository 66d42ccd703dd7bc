"""The running pieces one process shares: settings, the database engine, sessions.

Built once by the CLI, the web app, the scheduler or a worker with :meth:`Services.open`,
then passed in. Nothing here is created at import time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from newsletter import db
from newsletter.settings import Settings


@dataclass
class Services:
    """Settings plus the database they point at, migrated to the latest schema."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session] = field(repr=False)

    @classmethod
    def open(cls, settings: Settings, *, migrate: bool = True) -> Services:
        """Connect to the configured database and (by default) apply pending migrations."""
        engine = db.create_db_engine(settings)
        if migrate:
            db.upgrade(engine)
        return cls(settings=settings, engine=engine, sessions=db.session_factory(engine))

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()
