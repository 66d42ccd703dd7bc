"""Signed pagination cursors: tamper-evident, and bound to the filters they were made for."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

from itsdangerous import BadSignature, URLSafeSerializer

from newsletter.api.errors import Problem
from newsletter.services import Services
from subscribers.tokens import signing_keys

_SALT = "api-cursor-v1"


class Cursors:
    """Makes and reads cursors with the site's secret keys (the first signs)."""

    def __init__(self, keys: list[str]) -> None:
        self._serializer = URLSafeSerializer(keys, salt=_SALT)

    def dumps(self, after_id: int, filters: Mapping[str, object]) -> str:
        """A cursor that resumes after ``after_id`` under the same ``filters``."""
        return str(self._serializer.dumps({"after": after_id, "f": _digest(filters)}))

    def loads(self, cursor: str, filters: Mapping[str, object]) -> int:
        """The id to resume after; a 422 problem naming ``query.cursor`` if it was tampered
        with or made for other filters."""
        try:
            data = self._serializer.loads(cursor)
        except BadSignature:
            raise _bad("the cursor is not one this server made (tampered or truncated)") from None
        if not isinstance(data, dict) or not isinstance(data.get("after"), int):
            raise _bad("the cursor is malformed")
        if data.get("f") != _digest(filters):
            raise _bad("the cursor was made for other filters; start again without it")
        return int(data["after"])


def _digest(filters: Mapping[str, object]) -> str:
    text = json.dumps(filters, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _bad(detail: str) -> Problem:
    return Problem(422, "Invalid input", detail, field="query.cursor")


def cursors_for(services: Services) -> Cursors:
    """The cursors of this project, signed with its secret keys."""
    settings = services.settings
    keys = signing_keys(settings.secrets.secret_key, dev_key_path=settings.base_dir / ".secret_key")
    return Cursors(keys)
