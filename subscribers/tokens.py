"""Signed tokens for the links in every email: confirm, unsubscribe, preferences, data, keep.

A token is ``<payload>.<signature>``, both base64url without padding. The payload is
``purpose:subscriber_id[/ref]:issued_at:newsletter_id`` (``issued_at`` only for purposes
that expire; ``ref`` only when given: the consent record a confirm link confirms); the
signature is HMAC-SHA256 truncated to 128 bits, keyed per purpose from the secret, so a
token made for one purpose never verifies for another.

Key rotation: a signer holds several secrets; the first (newest) signs, all verify.
Every failure (tampered, foreign key, made up, wrong purpose, expired) raises the same
``InvalidToken``; the cause is only logged.

Signing is one HMAC over ~30 bytes with a pre-keyed hash object (a few µs), because the
delivery engine signs one unsubscribe and one preferences token per recipient.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path

from subscribers.errors import InvalidToken

log = logging.getLogger(__name__)

INVALID_MESSAGE = "this link is invalid or has expired"
DEFAULT_CONFIRM_MAX_AGE = timedelta(days=7)
_SIGNATURE_BYTES = 16


class TokenPurpose(StrEnum):
    """What a token lets its holder do; each purpose has its own signing key."""

    CONFIRM = "confirm"
    UNSUBSCRIBE = "unsubscribe"
    PREFERENCES = "preferences"
    DATA = "data"  # "download or erase my data": mailed on request, short-lived
    KEEP = "keep"  # "yes, keep sending" of the sunset's email; ``ref`` is the episode


#: Purposes whose tokens expire; the others stay valid as long as a key that signed them.
EXPIRING = frozenset({TokenPurpose.CONFIRM, TokenPurpose.DATA})
#: How long a data link works: it exports consent IPs and erases for good, and sits in a
#: mailbox that may be forwarded, so it must be used soon after it was asked for.
DATA_MAX_AGE = timedelta(hours=1)
_CODES = {
    TokenPurpose.CONFIRM: "c",
    TokenPurpose.UNSUBSCRIBE: "u",
    TokenPurpose.PREFERENCES: "p",
    TokenPurpose.DATA: "d",
    TokenPurpose.KEEP: "k",
}


@dataclass(frozen=True, slots=True)
class TokenData:
    """What a verified token says."""

    purpose: TokenPurpose
    subscriber_id: int
    newsletter_id: str | None
    issued_at: datetime | None
    ref: int | None = None


class TokenSigner:
    """Signs and verifies tokens with ``keys``: the first signs, every one verifies."""

    def __init__(
        self, keys: Sequence[str], *, confirm_max_age: timedelta = DEFAULT_CONFIRM_MAX_AGE
    ) -> None:
        usable = [key for key in keys if key]
        if not usable:
            raise ValueError("TokenSigner needs at least one non-empty secret key")
        self.confirm_max_age = confirm_max_age
        # One pre-keyed HMAC per (key, purpose): signing copies it instead of re-keying.
        self._macs = [
            {purpose: _keyed_mac(key, purpose) for purpose in TokenPurpose} for key in usable
        ]

    def dumps(
        self,
        purpose: TokenPurpose | str,
        subscriber_id: int,
        newsletter_id: str | None = None,
        *,
        ref: int | None = None,
    ) -> str:
        """A URL-safe token for ``purpose`` about ``subscriber_id`` (and one newsletter, and
        one record ``ref`` such as the consent record a confirm link confirms)."""
        kind = TokenPurpose(purpose)
        issued = str(int(time.time())) if kind in EXPIRING else ""
        who = f"{int(subscriber_id)}/{int(ref)}" if ref is not None else str(int(subscriber_id))
        payload = f"{_CODES[kind]}:{who}:{issued}:{newsletter_id or ''}"
        body = _b64encode(payload.encode("utf-8"))
        mac = self._macs[0][kind].copy()
        mac.update(body)
        return f"{body.decode('ascii')}.{_b64encode(mac.digest()[:_SIGNATURE_BYTES]).decode()}"

    def loads(
        self, token: str, purpose: TokenPurpose | str, *, max_age: timedelta | None = None
    ) -> TokenData:
        """Verify ``token`` for ``purpose``; ``InvalidToken`` on any failure, same message.

        ``max_age`` applies to expiring purposes (default: the signer's ``confirm_max_age``
        for confirm, ``DATA_MAX_AGE`` for data); unsubscribe and preferences tokens carry no
        time and never expire.
        """
        kind = TokenPurpose(purpose)
        try:
            data = self._verify(token, kind)
        except (ValueError, UnicodeError, binascii.Error) as exc:
            log.info("token rejected (%s): %s", kind, exc)
            raise InvalidToken(INVALID_MESSAGE) from None
        default = DATA_MAX_AGE if kind is TokenPurpose.DATA else self.confirm_max_age
        limit = max_age if max_age is not None else default
        if kind in EXPIRING and _expired(data.issued_at, limit):
            log.info("token rejected (%s): expired", kind)
            raise InvalidToken(INVALID_MESSAGE)
        return data

    def _verify(self, token: str, kind: TokenPurpose) -> TokenData:
        body, _, signature = token.encode("ascii").partition(b".")
        given = _b64decode(signature)
        if not body or len(given) != _SIGNATURE_BYTES:
            raise ValueError("malformed")
        if not any(_matches(macs[kind], body, given) for macs in self._macs):
            raise ValueError("bad signature")
        code, who, issued, newsletter = _b64decode(body).decode("utf-8").split(":", 3)
        if code != _CODES[kind]:
            raise ValueError("wrong purpose")
        sid, slash, ref = who.partition("/")
        return TokenData(
            purpose=kind,
            subscriber_id=int(sid),
            newsletter_id=newsletter or None,
            issued_at=datetime.fromtimestamp(int(issued), UTC) if issued else None,
            ref=int(ref) if slash else None,
        )


def _keyed_mac(key: str, purpose: TokenPurpose) -> hmac.HMAC:
    # Derive one key per purpose so that no signature can be replayed across purposes.
    derived = hmac.new(key.encode("utf-8"), f"subscribers.tokens:{purpose}".encode(), "sha256")
    return hmac.new(derived.digest(), digestmod=hashlib.sha256)


def _matches(template: hmac.HMAC, body: bytes, given: bytes) -> bool:
    mac = template.copy()
    mac.update(body)
    return hmac.compare_digest(mac.digest()[:_SIGNATURE_BYTES], given)


def _expired(issued_at: datetime | None, limit: timedelta) -> bool:
    if issued_at is None:
        return True  # an expiring purpose without a time cannot be trusted to be fresh
    return datetime.now(UTC) - issued_at > limit


def _b64encode(raw: bytes) -> bytes:
    return base64.urlsafe_b64encode(raw).rstrip(b"=")


def _b64decode(text: bytes) -> bytes:
    if b"=" in text:
        raise ValueError("padding is not part of a token")
    decoded = base64.urlsafe_b64decode(text + b"=" * (-len(text) % 4))
    # Reject non-canonical encodings so that exactly one string maps to each token.
    if _b64encode(decoded) != text:
        raise ValueError("non-canonical base64")
    return decoded


def signing_keys(configured: str | None, *, dev_key_path: Path) -> list[str]:
    """The keys to sign with: ``NEWSLETTER_SECRET_KEY`` (comma-separated, newest first),
    or else a development secret kept in ``dev_key_path`` (created 0600 on first use)."""
    if configured and configured.strip():
        keys = [key.strip() for key in configured.split(",") if key.strip()]
        if keys:
            return keys
    return [load_or_create_secret(dev_key_path)]


def load_or_create_secret(path: Path) -> str:
    """Read the secret in ``path``, or create it (random, readable by the owner only)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        existing = path.read_text(encoding="utf-8").strip()
        if existing:
            return existing
        raise ValueError(f"{path}: the secret key file is empty; delete it or fill it") from None
    secret = secrets.token_urlsafe(32)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(secret + "\n")
    return secret
