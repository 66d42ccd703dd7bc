"""The dashboard's own tables: its sessions and its failed logins.

``admin_sessions`` makes a session revocable: the signed cookie names a session id and
the session is valid only while its row says so (logout, expiry). Editors' accounts
(a later issue) add an account to the row; nothing else changes. ``admin_login_failures``
counts failed logins per client address and hour instead of logging each one.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from subscribers.db import Base


class AdminSessionRow(Base):
    """One login: valid from ``created_at`` until ``expires_at`` or ``ended_at``."""

    __tablename__ = "admin_sessions"
    __table_args__ = (Index("ix_admin_sessions_expires_at", "expires_at"),)

    # sha256 of the random id the cookie carries: a leaked table logs nobody in.
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    ip: Mapped[str] = mapped_column(String(64))


class AdminLoginFailure(Base):
    """Failed logins from one address in one hour: wrong passwords and rate-limited tries."""

    __tablename__ = "admin_login_failures"
    __table_args__ = (
        UniqueConstraint("window_start", "ip", name="uq_admin_login_failures_window_ip"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    window_start: Mapped[datetime]
    ip: Mapped[str] = mapped_column(String(64))
    wrong: Mapped[int] = mapped_column(default=0)
    limited: Mapped[int] = mapped_column(default=0)
    last_at: Mapped[datetime]
