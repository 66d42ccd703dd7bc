"""The signed tokens of tracked links: ``/l/{token}`` and ``/o/{token}``.

A token is two signed halves, so that it fits render-once, personalize-by-substitution:

- the *reader part* ``{send}.{who}.{mode}{provider}.{mac}`` is a personal value (the
  ``track`` marker), made once per recipient: ``who`` is the delivery id with
  ``per_reader`` and a random number with ``aggregate`` (nothing ties it to a person);
  ``provider`` is the mailbox provider's one-letter code, so the click is counted under it
  without a lookup;
- the *link part* ``.{index}.{mac}`` is the same for every recipient of the send and is
  written into the rendered HTML once.

Each half has its own HMAC-SHA256 (truncated to 72 bits, base64url) over the send id, so
a half of another send or an altered field does not verify. Numbers are base 36.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass

from newsletter.tracking.providers import PROVIDER_CODES

MAC_CHARS = 12
_NUMBER = re.compile(r"[0-9a-z]{1,13}")
_MAC = re.compile(r"[A-Za-z0-9_-]{12}")
MODES = {"a": "aggregate", "p": "per_reader"}


@dataclass(frozen=True, slots=True)
class TrackToken:
    """What a verified token says: the send, the reader, the link (or pixel) index."""

    send_id: int
    who: int
    mode: str  # "a" aggregate, "p" per_reader
    provider: str  # a key of PROVIDER_CODES
    index: int

    @property
    def reader(self) -> str:
        """The key that makes a reader unique within the send (``p12`` or ``a93…``)."""
        return f"{self.mode}{self.who:x}"

    @property
    def delivery_id(self) -> int | None:
        """The ledger row with ``per_reader``; None with ``aggregate``."""
        return self.who if self.mode == "p" else None


def b36(number: int) -> str:
    """``number`` (≥ 0) in base 36, lower case."""
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
        if not number:
            return out


class TrackSigner:
    """Signs and verifies tracking tokens: the first key signs, every key verifies."""

    def __init__(self, keys: Sequence[str]) -> None:
        self._keys = [
            hashlib.sha256(b"newsletter-tracking\0" + key.encode("utf-8")).digest()
            for key in keys
            if key
        ]
        if not self._keys:
            raise ValueError("no tracking key")

    def reader_part(self, send_id: int, who: int, *, mode: str, provider: str) -> str:
        """The personal half: ``{send}.{who}.{mode}{provider}.{mac}``."""
        head = f"{b36(send_id)}.{b36(who)}.{mode}{provider}"
        return f"{head}.{self._mac(self._keys[0], 'r', head)}"

    def link_part(self, send_id: int, index: int) -> str:
        """The shared half: ``.{index}.{mac}``, bound to the send."""
        return f".{b36(index)}.{self._mac(self._keys[0], 'l', f'{b36(send_id)}.{b36(index)}')}"

    def loads(self, token: str) -> TrackToken | None:
        """The token's content when both halves verify; None for anything else."""
        parts = token.split(".")
        if len(parts) != 6 or len(token) > 120:
            return None
        send, who, flags, reader_mac, index, link_mac = parts
        if not (_NUMBER.fullmatch(send) and _NUMBER.fullmatch(who) and _NUMBER.fullmatch(index)):
            return None
        if len(flags) != 2 or flags[0] not in MODES or flags[1] not in PROVIDER_CODES:
            return None
        if not (_MAC.fullmatch(reader_mac) and _MAC.fullmatch(link_mac)):
            return None
        head = f"{send}.{who}.{flags}"
        if not self._verifies("r", head, reader_mac):
            return None
        if not self._verifies("l", f"{send}.{index}", link_mac):
            return None
        return TrackToken(
            send_id=int(send, 36),
            who=int(who, 36),
            mode=flags[0],
            provider=PROVIDER_CODES[flags[1]],
            index=int(index, 36),
        )

    def _verifies(self, kind: str, message: str, mac: str) -> bool:
        return any(hmac.compare_digest(self._mac(key, kind, message), mac) for key in self._keys)

    @staticmethod
    def _mac(key: bytes, kind: str, message: str) -> str:
        digest = hmac.new(key, f"{kind}|{message}".encode("ascii"), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:9]).decode("ascii")
