"""The optional second factor: TOTP (RFC 6238, pyotp) and single-use recovery codes."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time

import pyotp

ISSUER = "newsletter"
RECOVERY_CODES = 10


#: What a TOTP secret looks like here: base32, 16 to 64 characters (pyotp makes 32).
SECRET_PATTERN = re.compile(r"[A-Z2-7]{16,64}")


def is_secret(text: str) -> bool:
    """Whether ``text`` can be a TOTP secret (anything else never reaches pyotp)."""
    return SECRET_PATTERN.fullmatch(text) is not None


def new_secret() -> str:
    """A fresh base32 TOTP secret."""
    return pyotp.random_base32()


def provisioning_uri(secret: str, email: str, *, issuer: str = ISSUER) -> str:
    """The ``otpauth://`` URI an authenticator app reads (by QR code or typed in)."""
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=issuer)


def verify_code(secret: str, code: str) -> bool:
    """Whether ``code`` is the current 6-digit code (or the one before/after: clock drift)."""
    return accepted_step(secret, code, after=None) is not None


def accepted_step(
    secret: str, code: str, *, after: int | None, now: float | None = None
) -> int | None:
    """The time step ``code`` belongs to (current, previous or next: clock drift), when it
    is later than ``after`` (the step of the last code accepted); else None."""
    digits = "".join(code.split())
    if len(digits) != 6 or not digits.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    moment = time.time() if now is None else now
    current = int(moment // totp.interval)
    for step in (current - 1, current, current + 1):
        if (after is None or step > after) and hmac.compare_digest(totp.generate_otp(step), digits):
            return step
    return None


def new_recovery_codes(count: int = RECOVERY_CODES) -> list[str]:
    """Random codes like ``3f9a1-0c2de`` (shown once; only their hashes are kept)."""
    codes = []
    for _ in range(count):
        raw = secrets.token_hex(5)
        codes.append(f"{raw[:5]}-{raw[5:]}")
    return codes


def recovery_hash(code: str) -> str:
    """The stored form of a recovery code (dashes, spaces and case do not matter)."""
    normal = "".join(ch for ch in code.lower() if ch.isalnum())
    return hashlib.sha256(normal.encode()).hexdigest()


def looks_like_recovery_code(code: str) -> bool:
    """A recovery code has 10 hex characters; a TOTP code 6 digits."""
    normal = "".join(ch for ch in code.lower() if ch.isalnum())
    return len(normal) == 10
