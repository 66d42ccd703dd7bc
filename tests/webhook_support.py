"""Signing SendGrid Event Webhook posts in tests, the way SendGrid signs them."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

SIGNATURE = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP = "X-Twilio-Email-Event-Webhook-Timestamp"


@dataclass
class SendgridSigner:
    """An EC P-256 key pair; ``public_key_b64`` is the form SendGrid shows operators."""

    private_key: ec.EllipticCurvePrivateKey

    @classmethod
    def generate(cls) -> SendgridSigner:
        return cls(ec.generate_private_key(ec.SECP256R1()))

    @property
    def public_key_b64(self) -> str:
        der = self.private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return base64.b64encode(der).decode("ascii")

    def headers(self, body: bytes, *, timestamp: str | None = None) -> dict[str, str]:
        """The two headers SendGrid sends: base64 DER ECDSA over ``timestamp + body``."""
        stamp = timestamp or str(int(time.time()))
        signature = self.private_key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        return {
            SIGNATURE: base64.b64encode(signature).decode("ascii"),
            TIMESTAMP: stamp,
            "Content-Type": "application/json",
        }


def event(
    kind: str,
    email: str,
    *,
    n: int = 0,
    message_id: str = "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0",
    timestamp: int = 1_763_700_000,
    **extra: Any,
) -> dict[str, Any]:
    """A SendGrid event as posted (custom_args appear as top-level string fields)."""
    data: dict[str, Any] = {
        "email": email,
        "timestamp": timestamp + n,
        "event": kind,
        "sg_event_id": f"sg-{kind}-{email}-{n}",
        "sg_message_id": message_id,
        "smtp-id": "<14c5d75ce93.dfd.64b469@ismtpd-555>",
    }
    data.update(extra)
    return data


def body_of(events: Sequence[Mapping[str, Any]]) -> bytes:
    """The JSON body SendGrid would post (compact separators, as SendGrid sends)."""
    return json.dumps(list(events), separators=(",", ":"), ensure_ascii=False).encode()
