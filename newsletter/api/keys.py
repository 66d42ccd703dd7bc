"""API keys: created (shown once), stored as a SHA-256 hash, listed, revoked; scopes.

Why a fast hash: a key is 32 random bytes (256 bits), so nobody can guess it from its hash
however fast the hash is; a slow password hash (Argon2) defends low-entropy *passwords*
and would cost tens of milliseconds of CPU on every API request. SHA-256 also lets the
key be found by an indexed lookup of its hash instead of comparing against every key.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from newsletter.api import store
from newsletter.api.errors import ApiKeyError
from newsletter.api.models import ApiKey
from newsletter.api.scopes import SCOPES
from subscribers.db import utcnow

KEY_PREFIX = "nlk_"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class NewKey:
    """A key just created: ``secret`` is shown once and never stored."""

    name: str
    secret: str
    scopes: tuple[str, ...]


def hash_key(secret: str) -> str:
    """The stored form of a key."""
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_scopes(values: Iterable[str]) -> tuple[str, ...]:
    """Scopes from ``a,b`` strings; ``ApiKeyError`` naming an unknown one."""
    wanted = [s.strip() for value in values for s in value.split(",") if s.strip()]
    unknown = [s for s in wanted if s not in SCOPES]
    if unknown:
        raise ApiKeyError(f"unknown scope {unknown[0]!r}; known: {', '.join(SCOPES)}")
    if not wanted:
        raise ApiKeyError(f"give at least one scope: {', '.join(SCOPES)}")
    return tuple(dict.fromkeys(wanted))


def create_key(
    session: Session, name: str, *, scopes: Iterable[str], created_by: str = ""
) -> NewKey:
    """Create a key called ``name`` with ``scopes``; the secret is in the result only."""
    if not _NAME.match(name):
        raise ApiKeyError(f"key name {name!r}: use letters, digits, '.', '_' or '-' (≤ 64)")
    if store.key_named(session, name) is not None:
        raise ApiKeyError(f"a key named {name!r} already exists")
    chosen = parse_scopes(scopes)
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    store.insert_key(
        session,
        name=name,
        prefix=secret[:12],
        key_hash=hash_key(secret),
        scopes=chosen,
        created_by=created_by,
        now=utcnow(),
    )
    return NewKey(name=name, secret=secret, scopes=chosen)


def list_keys(session: Session) -> list[ApiKey]:
    """Every key (revoked ones too), oldest first."""
    return store.all_keys(session)


def revoke_key(session: Session, name: str) -> ApiKey:
    """Revoke the key called ``name``: it stops working at once; revoking twice is a no-op."""
    key = store.key_named(session, name)
    if key is None:
        raise ApiKeyError(f"no key named {name!r}")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
    return key


def authenticate(session: Session, secret: str) -> ApiKey | None:
    """The live key whose secret this is, or None."""
    if not secret.startswith(KEY_PREFIX) or len(secret) > 200:
        return None
    return store.live_key_by_hash(session, hash_key(secret))


def key_dict(key: ApiKey) -> dict[str, object]:
    """A JSON-friendly view of a key (never its hash)."""
    return {
        "name": key.name,
        "prefix": key.prefix,
        "scopes": list(key.scopes),
        "created_at": key.created_at.isoformat(),
        "created_by": key.created_by,
        "last_used_at": key.last_used_at.isoformat() if key.last_used_at else None,
        "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None,
    }
