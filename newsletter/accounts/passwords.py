"""Argon2id password hashes (argon2-cffi's defaults: RFC 9106 low-memory profile)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from newsletter.errors import AccountError

_HASHER = PasswordHasher()
#: Verified against when the email is unknown, so both cases cost the same time.
_DUMMY = _HASHER.hash("no such account: a dummy password")
MIN_LENGTH = 10
MAX_LENGTH = 1024


class WeakPassword(AccountError):
    """A new password that is too short or too long."""


def check_new_password(password: str) -> None:
    """Raise :class:`WeakPassword` unless the password is 10 to 1024 characters."""
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"a password needs at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"a password has at most {MAX_LENGTH} characters")


def hash_password(password: str) -> str:
    """The Argon2id hash (PHC string) of a new password."""
    check_new_password(password)
    return _HASHER.hash(password)


def verify_password(stored: str | None, given: str) -> bool:
    """Whether ``given`` matches ``stored`` (a dummy check when there is no hash)."""
    try:
        return _HASHER.verify(stored or _DUMMY, given[:MAX_LENGTH]) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def hash_password_unchecked(password: str) -> str:
    """The hash of an existing password (NEWSLETTER_ADMIN_PASSWORD), not length-checked."""
    return _HASHER.hash(password)
