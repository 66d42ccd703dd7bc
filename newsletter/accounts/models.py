"""The accounts' tables (migrations 0011, 0013).

- ``admin_accounts``: the people (email, role, Argon2id hash, TOTP secret).
- ``admin_sessions``: makes a session revocable: the signed cookie names a session id,
  valid only while its row says so (logout, expiry, removal, a role or password change
  end it); the row names its account.
- ``admin_login_failures``: failed logins per address and hour, for the issues page.
- ``admin_recovery_codes``: TOTP recovery codes by hash, each used once.
- ``admin_login_throttle``: failed logins per key (an address, an account, an account
  from an address) and until when the next try waits.
- ``admin_policy``: the owners' switches (``require_totp``).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from subscribers.db import Base


class Role(StrEnum):
    """What an account may do: a viewer reads, an editor also writes issues and sends, an
    owner also erases and imports subscribers and manages accounts, API keys and webhooks."""

    VIEWER = "viewer"
    EDITOR = "editor"
    OWNER = "owner"

    @property
    def level(self) -> int:
        """0 viewer, 1 editor, 2 owner: a role may do what every lower one may."""
        return list(Role).index(self)


class AdminAccount(Base):
    """One person who may log in to the dashboard."""

    __tablename__ = "admin_accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    # Argon2id (PHC string); None until the person sets a password through their link.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    # The 30-second step of the last TOTP code accepted (migration 0014): that code and
    # earlier ones are refused, so an overheard code cannot be replayed.
    totp_last_step: Mapped[int | None]
    created_at: Mapped[datetime]
    password_changed_at: Mapped[datetime | None]


class AdminRecoveryCode(Base):
    """One TOTP recovery code (sha256 of it: the codes are random); used once."""

    __tablename__ = "admin_recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("admin_accounts.id", ondelete="CASCADE"))
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None]


class AdminLoginThrottle(Base):
    """Failed logins under one key and until when the next try must wait."""

    __tablename__ = "admin_login_throttle"

    key: Mapped[str] = mapped_column(String(400), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    last_failure_at: Mapped[datetime]
    blocked_until: Mapped[datetime]


class AdminPolicy(Base):
    """The owners' switches, one row per name (``require_totp``: ``"1"`` or ``"0"``)."""

    __tablename__ = "admin_policy"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))


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
    # The account logged in (migration 0013); a row without one is from before accounts
    # and no longer logs anybody in.
    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("admin_accounts.id", ondelete="CASCADE"), index=True
    )


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
