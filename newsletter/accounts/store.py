"""All SQL of the accounts: the people, their sessions, recovery codes, throttle, policy.

Functions take a ``Session`` first and do not commit (the caller owns the transaction).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from newsletter.accounts.models import (
    AdminAccount,
    AdminLoginThrottle,
    AdminPolicy,
    AdminRecoveryCode,
    AdminSessionRow,
)
from subscribers.db import utcnow
from subscribers.models import Event


def count_accounts(session: Session) -> int:
    """How many accounts exist."""
    return int(session.scalar(select(func.count()).select_from(AdminAccount)) or 0)


def account_by_email(session: Session, email: str) -> AdminAccount | None:
    """The account of a (normalized) email, or None."""
    return session.scalar(select(AdminAccount).where(AdminAccount.email == email))


def account_by_id(session: Session, account_id: int) -> AdminAccount | None:
    """The account with this id, or None."""
    return session.get(AdminAccount, account_id)


def list_accounts(session: Session) -> list[AdminAccount]:
    """Every account, by email."""
    return list(session.scalars(select(AdminAccount).order_by(AdminAccount.email)))


def add_account(session: Session, *, email: str, role: str, now: datetime) -> AdminAccount:
    """Insert an account without a password (its set-password link gives it one)."""
    account = AdminAccount(email=email, role=role, created_at=now)
    session.add(account)
    session.flush()
    return account


def delete_account(session: Session, account_id: int) -> None:
    """Delete an account, its recovery codes and its sessions' rows."""
    session.execute(delete(AdminRecoveryCode).where(AdminRecoveryCode.account_id == account_id))
    session.execute(delete(AdminSessionRow).where(AdminSessionRow.account_id == account_id))
    session.execute(delete(AdminAccount).where(AdminAccount.id == account_id))


def session_account(session: Session, key: str, *, now: datetime) -> AdminAccount | None:
    """The account of an active session (not ended, not expired), or None."""
    query = (
        select(AdminAccount)
        .join(AdminSessionRow, AdminSessionRow.account_id == AdminAccount.id)
        .where(
            AdminSessionRow.id == key,
            AdminSessionRow.ended_at.is_(None),
            AdminSessionRow.expires_at > now,
        )
    )
    return session.scalar(query)


def active_sessions(session: Session, account_id: int, *, now: datetime) -> list[AdminSessionRow]:
    """An account's active sessions, newest first."""
    query = (
        select(AdminSessionRow)
        .where(
            AdminSessionRow.account_id == account_id,
            AdminSessionRow.ended_at.is_(None),
            AdminSessionRow.expires_at > now,
        )
        .order_by(AdminSessionRow.created_at.desc())
    )
    return list(session.scalars(query))


def end_sessions(
    session: Session, account_id: int, *, now: datetime, keep: str | None = None
) -> int:
    """End every active session of an account but ``keep`` (a session key); how many."""
    query = update(AdminSessionRow).where(
        AdminSessionRow.account_id == account_id, AdminSessionRow.ended_at.is_(None)
    )
    if keep is not None:
        query = query.where(AdminSessionRow.id != keep)
    return int(getattr(session.execute(query.values(ended_at=now)), "rowcount", 0) or 0)


def logged_in_from(session: Session, account_id: int, ip: str, *, since: datetime) -> bool:
    """Whether the account logged in from ``ip`` since ``since`` (a known address)."""
    query = select(AdminSessionRow.id).where(
        AdminSessionRow.account_id == account_id,
        AdminSessionRow.ip == ip[:64],
        AdminSessionRow.created_at >= since,
    )
    return session.scalar(query.limit(1)) is not None


def replace_recovery_codes(session: Session, account_id: int, hashes: Sequence[str]) -> None:
    """Drop an account's recovery codes and store these (hashes)."""
    session.execute(delete(AdminRecoveryCode).where(AdminRecoveryCode.account_id == account_id))
    session.add_all(AdminRecoveryCode(account_id=account_id, code_hash=h) for h in hashes)


def use_recovery_code(session: Session, account_id: int, code_hash: str, *, now: datetime) -> bool:
    """Mark an unused recovery code used; False when there is none (wrong or used)."""
    result = session.execute(
        update(AdminRecoveryCode)
        .where(
            AdminRecoveryCode.account_id == account_id,
            AdminRecoveryCode.code_hash == code_hash,
            AdminRecoveryCode.used_at.is_(None),
        )
        .values(used_at=now)
    )
    return bool(getattr(result, "rowcount", 0))


def unused_recovery_codes(session: Session, account_id: int) -> int:
    """How many recovery codes the account has left."""
    query = select(func.count()).where(
        AdminRecoveryCode.account_id == account_id, AdminRecoveryCode.used_at.is_(None)
    )
    return int(session.scalar(query) or 0)


def throttles(session: Session, keys: Sequence[str]) -> list[AdminLoginThrottle]:
    """The throttle rows of these keys (absent keys have no failures)."""
    return list(session.scalars(select(AdminLoginThrottle).where(AdminLoginThrottle.key.in_(keys))))


def save_throttle(
    session: Session, key: str, *, failures: int, now: datetime, blocked_until: datetime
) -> None:
    """Write one key's failure count and its wait (insert or update)."""
    row = session.get(AdminLoginThrottle, key)
    if row is None:
        session.add(
            AdminLoginThrottle(
                key=key, failures=failures, last_failure_at=now, blocked_until=blocked_until
            )
        )
    else:
        row.failures, row.last_failure_at, row.blocked_until = failures, now, blocked_until
    session.flush()


def clear_throttles(session: Session, keys: Sequence[str]) -> None:
    """Forget these keys' failures (after a successful login)."""
    session.execute(delete(AdminLoginThrottle).where(AdminLoginThrottle.key.in_(keys)))


def policy(session: Session, name: str) -> str | None:
    """One of the owners' switches, or None when never set."""
    row = session.get(AdminPolicy, name)
    return row.value if row else None


def set_policy(session: Session, name: str, value: str) -> None:
    """Set one of the owners' switches."""
    row = session.get(AdminPolicy, name)
    if row is None:
        session.add(AdminPolicy(name=name, value=value))
    else:
        row.value = value


#: The ``kind`` of every admin action in the event log (the action itself is ``how``).
ADMIN_EVENT = "admin_action"


def record_action(
    session: Session,
    action: str,
    *,
    actor: str,
    detail: dict[str, Any] | None = None,
    subscriber_id: int | None = None,
    newsletter_id: str | None = None,
) -> None:
    """Write one admin action to the event log, naming who did it (``actor``)."""
    session.add(
        Event(
            created_at=utcnow(),
            subscriber_id=subscriber_id,
            newsletter_id=newsletter_id,
            kind=ADMIN_EVENT,
            how=action[:32],
            actor=actor[:64],
            detail=detail or {},
        )
    )
