"""The embedded default backend: every message a complete RFC 5322 file in a Maildir."""

from __future__ import annotations

import mailbox
from pathlib import Path

from newsletter.delivery.backends.base import Backend
from newsletter.delivery.dkim import DkimSigner
from newsletter.delivery.message import Batch, Outcome, RecipientResult, build_message
from newsletter.errors import PermanentBackendError


class OutboxBackend(Backend):
    """Writes each message into the Maildir at ``path`` (readable with ``mutt -f``),
    DKIM-signed when a ``signer`` is given."""

    name = "outbox"

    def __init__(self, path: Path, *, signer: DkimSigner | None = None) -> None:
        self.path = path
        self.signer = signer

    def build_payload(self, batch: Batch) -> list[bytes]:
        """One complete message per recipient."""
        messages = [
            build_message(batch.content, recipient, eight_bit=True)
            for recipient in batch.recipients
        ]
        if self.signer is not None:
            messages = [self.signer.sign(message) for message in messages]
        # What a delivering MTA records of the envelope sender (the VERP return path) in a
        # Maildir; outside the DKIM signature, as it would be.
        return [
            f"Return-Path: <{r.return_path}>\r\n".encode("ascii") + message
            if r.return_path
            else message
            for r, message in zip(batch.recipients, messages, strict=True)
        ]

    def post(self, payload: list[bytes]) -> list[str]:
        """Add every message to the Maildir; returns the Maildir keys."""
        try:
            # Made by hand: Maildir(create=True) fails when two senders create it at once.
            for folder in ("tmp", "new", "cur"):
                (self.path / folder).mkdir(parents=True, exist_ok=True)
            box = mailbox.Maildir(self.path, create=False)
            return [box.add(message) for message in payload]
        except OSError as exc:
            raise PermanentBackendError(f"cannot write to outbox {self.path}: {exc}") from exc

    def parse_results(self, batch: Batch, response: list[str]) -> list[RecipientResult]:
        """Every written message is accepted; its Maildir key is the provider id."""
        return [
            RecipientResult(recipient, Outcome.ACCEPTED, provider_id=key)
            for recipient, key in zip(batch.recipients, response, strict=True)
        ]
