"""Signed one-time set-password links.

The token names the account and a fingerprint of its current password hash (or of "no
password"), signed with the site's secret key. Setting a password changes the hash, so a
link works once; it also expires (24 h from the CLI, 1 h by email).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from newsletter.accounts.models import AdminAccount
from newsletter.errors import AccountError

#: How long a link from ``newsletter users add|reset`` works.
CLI_LINK_AGE = 24 * 3600
#: How long a link sent by "forgot my password" works.
EMAIL_LINK_AGE = 3600
PATH = "/admin/password"


@dataclass(frozen=True)
class LinkData:
    """What a valid link names."""

    account_id: int
    fingerprint: str


def fingerprint(account: AdminAccount) -> str:
    """What changes when the link has been used (the password hash) or the account replaced."""
    seed = f"{account.id}:{account.email}:{account.created_at.isoformat()}:{account.password_hash}"
    return hashlib.sha256(seed.encode()).hexdigest()[:24]


class LinkSigner:
    """Makes and reads set-password tokens with the site's secret key."""

    def __init__(self, secret_key: str) -> None:
        self._serializer = URLSafeTimedSerializer(secret_key, salt="newsletter-account-password")

    def dumps(self, account: AdminAccount, *, max_age: int) -> str:
        """A token for ``account`` valid ``max_age`` seconds."""
        return self._serializer.dumps({"a": account.id, "f": fingerprint(account), "m": max_age})

    def loads(self, token: str) -> LinkData:
        """The link's data; :class:`AccountError` when forged, malformed or expired."""
        try:
            data: Any
            data, issued = self._serializer.loads(
                token, max_age=CLI_LINK_AGE, return_timestamp=True
            )
        except SignatureExpired:
            raise AccountError("this link has expired: ask an owner for a new one") from None
        except BadSignature:
            raise AccountError("this link is not valid") from None
        if not (
            isinstance(data, dict)
            and isinstance(data.get("a"), int)
            and isinstance(data.get("f"), str)
            and isinstance(data.get("m"), int)
        ):
            raise AccountError("this link is not valid")
        if (datetime.now(UTC) - issued).total_seconds() > data["m"]:
            raise AccountError("this link has expired: ask an owner for a new one")
        return LinkData(account_id=data["a"], fingerprint=data["f"])
