"""VERP: a return path and an unsubscribe mailto per delivery, naming its ledger row.

With ``delivery.bounce_domain`` set, each email of a send goes out with the envelope sender
``bounces+TOKEN@bounce_domain`` and a ``List-Unsubscribe`` mailto
``unsubscribe+TOKEN@bounce_domain``. A bounce or an unsubscribe mail to either address
names its ledger row (``deliveries.id``), so ``newsletter mailbox process`` knows whose
email it was without trusting anything the message says about addresses.

The token is the delivery id (big-endian, 1 to 8 bytes) followed by an 80-bit HMAC-SHA256
tag, in lower-case base32 without padding: at most 29 characters, so the local part stays
within 37 (RFC 5321 allows 64), never holds an address, and survives a mail server that
changes its case. The tag is keyed per purpose (bounce, unsubscribe) from
``NEWSLETTER_SECRET_KEY``: a bounce token is no unsubscribe token, and every key of a
rotation verifies. A forged or altered token decodes to nothing (``None``), never to
another row.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

TAG_BYTES = 10
MAX_ID = 2**63 - 1


class VerpPurpose(StrEnum):
    """What a VERP address receives; each purpose has its own key and local-part prefix."""

    BOUNCE = "bounces"
    UNSUBSCRIBE = "unsubscribe"


@dataclass(frozen=True, slots=True)
class VerpAddress:
    """A decoded VERP address: its purpose and the ledger row it names."""

    purpose: VerpPurpose
    delivery_id: int


class VerpSigner:
    """Makes and reads VERP addresses; the first key signs, every key verifies."""

    def __init__(self, keys: Sequence[str]) -> None:
        usable = [key for key in keys if key]
        if not usable:
            raise ValueError("VerpSigner needs at least one non-empty secret key")
        self._keys = [{purpose: _derive(key, purpose) for purpose in VerpPurpose} for key in usable]

    def token(self, purpose: VerpPurpose, delivery_id: int) -> str:
        """The token naming ``delivery_id`` for ``purpose``."""
        if not 0 < delivery_id <= MAX_ID:
            raise ValueError(f"not a delivery id: {delivery_id}")
        payload = delivery_id.to_bytes((delivery_id.bit_length() + 7) // 8, "big")
        tag = _tag(self._keys[0][purpose], payload)
        return base64.b32encode(payload + tag).decode("ascii").rstrip("=").lower()

    def address(self, purpose: VerpPurpose, delivery_id: int, domain: str) -> str:
        """``bounces+TOKEN@domain`` or ``unsubscribe+TOKEN@domain``."""
        return f"{purpose.value}+{self.token(purpose, delivery_id)}@{domain}"

    def read_token(self, purpose: VerpPurpose, token: str) -> int | None:
        """The delivery id ``token`` names for ``purpose``, or ``None`` (forged, altered,
        made for another purpose or key, not a token at all)."""
        text = token.strip().upper()
        if not 18 <= len(text) <= 32 or not text.isascii() or not text.isalnum():
            return None
        try:
            raw = base64.b32decode(text + "=" * (-len(text) % 8))
        except (binascii.Error, ValueError):
            return None
        payload, given = raw[:-TAG_BYTES], raw[-TAG_BYTES:]
        if not 1 <= len(payload) <= 8 or payload[0] == 0:
            return None  # one encoding per id: no leading zero bytes
        if not any(hmac.compare_digest(_tag(keys[purpose], payload), given) for keys in self._keys):
            return None
        number = int.from_bytes(payload, "big")
        return number if 0 < number <= MAX_ID else None

    def read_address(self, address: str, domain: str) -> VerpAddress | None:
        """The purpose and delivery id of a VERP ``address`` at ``domain``, or ``None``."""
        local, at, host = address.strip().strip("<>").rpartition("@")
        if not at or host.lower().rstrip(".") != domain.lower().rstrip("."):
            return None
        prefix, plus, token = local.partition("+")
        if not plus:
            return None
        try:
            purpose = VerpPurpose(prefix.lower())
        except ValueError:
            return None
        delivery_id = self.read_token(purpose, token)
        return None if delivery_id is None else VerpAddress(purpose, delivery_id)


def _derive(key: str, purpose: VerpPurpose) -> bytes:
    return hmac.new(key.encode("utf-8"), f"newsletter.verp:{purpose}".encode(), "sha256").digest()


def _tag(key: bytes, payload: bytes) -> bytes:
    return hmac.new(key, payload, hashlib.sha256).digest()[:TAG_BYTES]
