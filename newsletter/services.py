"""The running pieces one process shares: settings, the database engine, sessions.

Built once by the CLI, the web app, the scheduler or a worker with :meth:`Services.open`,
then passed in. Nothing here is created at import time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from newsletter import db
from newsletter.settings import Settings
from subscribers.newsletters import sync_newsletters
from subscribers.tokens import TokenSigner, signing_keys

if TYPE_CHECKING:
    from newsletter.delivery.verp import VerpSigner


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
        sessions = db.session_factory(engine)
        if migrate:
            db.upgrade(engine)
            with db.transaction(sessions) as session:
                sync_newsletters(session, settings.newsletters)
        return cls(settings=settings, engine=engine, sessions=sessions)

    @cached_property
    def secret_keys(self) -> list[str]:
        """``NEWSLETTER_SECRET_KEY`` (comma-separated, newest first, for rotation), else a
        dev secret in ``<base_dir>/.secret_key``."""
        return signing_keys(
            self.settings.secrets.secret_key, dev_key_path=self.settings.base_dir / ".secret_key"
        )

    @cached_property
    def tokens(self) -> TokenSigner:
        """The signer of confirm/unsubscribe/preferences links."""
        return TokenSigner(self.secret_keys)

    @cached_property
    def verp(self) -> VerpSigner:
        """The signer of VERP return paths and unsubscribe mailtos (``delivery.bounce_domain``)."""
        from newsletter.delivery.verp import VerpSigner  # delivery/ imports this module

        return VerpSigner(self.secret_keys)

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()
