"""The SMTP backend: reused connections, several in parallel, 4xx deferred and 5xx failed.

A message-level problem never raises: once one message of a batch is accepted, raising
would make the caller resend the whole batch. Each recipient gets its own result instead
(``DEFERRED`` for 4xx replies and dropped connections, ``FAILED`` for 5xx replies).
"""

from __future__ import annotations

import queue
import smtplib
import ssl
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from newsletter.delivery.backends.base import Backend
from newsletter.delivery.message import Batch, Outcome, RecipientResult, build_message
from newsletter.errors import ConfigError
from newsletter.settings import SmtpSettings


@dataclass(frozen=True, slots=True)
class Envelope:
    """One message ready for the wire: sender, recipient and the RFC 5322 bytes."""

    sender: str
    recipient: str
    data: bytes


class SmtpBackend(Backend):
    """Sends through an SMTP server with up to ``settings.connections`` open connections."""

    name = "smtp"

    def __init__(self, settings: SmtpSettings, *, password: str | None = None) -> None:
        if settings.username and not password:
            raise ConfigError("delivery.smtp.username is set but NEWSLETTER_SMTP_PASSWORD is not")
        self.settings = settings
        self.password = password
        self._idle: queue.SimpleQueue[smtplib.SMTP] = queue.SimpleQueue()
        self._pool = ThreadPoolExecutor(settings.connections, thread_name_prefix="smtp")

    def build_payload(self, batch: Batch) -> list[Envelope]:
        """One complete message per recipient, as bytes with CRLF line ends."""
        return [
            _envelope(batch.content.from_email, r.email, build_message(batch.content, r))
            for r in batch.recipients
        ]

    def post(self, payload: list[Envelope]) -> list[tuple[Outcome, str]]:
        """Send every envelope over the pooled connections, in parallel."""
        return list(self._pool.map(self._deliver, payload))

    def parse_results(
        self, batch: Batch, response: list[tuple[Outcome, str]]
    ) -> list[RecipientResult]:
        """Pair each recipient with its outcome (the error text when refused)."""
        return [
            RecipientResult(recipient, outcome, error=error)
            for recipient, (outcome, error) in zip(batch.recipients, response, strict=True)
        ]

    def close(self) -> None:
        """Say QUIT on every idle connection and stop the sending threads."""
        self._pool.shutdown(wait=True)
        while True:
            try:
                connection = self._idle.get_nowait()
            except queue.Empty:
                return
            try:
                connection.quit()
            except (smtplib.SMTPException, OSError):
                connection.close()

    def _deliver(self, envelope: Envelope) -> tuple[Outcome, str]:
        try:
            connection = self._checkout()
        except (smtplib.SMTPException, OSError) as exc:
            return _classify(exc)
        try:
            # An internationalized address needs the server's SMTPUTF8 (RFC 6531).
            options = [] if envelope.recipient.isascii() else ["SMTPUTF8"]
            refused = connection.sendmail(
                envelope.sender, [envelope.recipient], envelope.data, mail_options=options
            )
        except smtplib.SMTPServerDisconnected as exc:
            connection.close()
            return Outcome.DEFERRED, f"connection lost: {exc}"
        except (smtplib.SMTPException, OSError) as exc:
            self._checkin(connection)
            return _classify(exc)
        self._checkin(connection)
        if refused:
            code, reply = next(iter(refused.values()))
            return _reply_outcome(code), f"{code} {reply.decode(errors='replace')}"
        return Outcome.ACCEPTED, ""

    def _checkout(self) -> smtplib.SMTP:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            return self._connect()

    def _checkin(self, connection: smtplib.SMTP) -> None:
        try:
            connection.rset()
        except (smtplib.SMTPException, OSError):
            connection.close()
            return
        self._idle.put(connection)

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        timeout = s.timeout.total_seconds()
        connection: smtplib.SMTP
        if s.tls:
            connection = smtplib.SMTP_SSL(
                s.host, s.port, timeout=timeout, context=ssl.create_default_context()
            )
        else:
            connection = smtplib.SMTP(s.host, s.port, timeout=timeout)
            if s.starttls:
                connection.starttls(context=ssl.create_default_context())
        if s.username and self.password:
            connection.login(s.username, self.password)
        return connection


def _envelope(sender: str, recipient: str, data: bytes) -> Envelope:
    return Envelope(sender=sender, recipient=recipient, data=data)


def _reply_outcome(code: int) -> Outcome:
    return Outcome.DEFERRED if 400 <= code < 500 else Outcome.FAILED


def _classify(exc: Exception) -> tuple[Outcome, str]:
    """Translate an smtplib error into an outcome: 4xx and network trouble are deferred."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, reply = next(iter(exc.recipients.values()))
        return _reply_outcome(code), f"{code} {reply.decode(errors='replace')}"
    if isinstance(exc, smtplib.SMTPResponseException):
        raw = exc.smtp_error
        message = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
        return _reply_outcome(exc.smtp_code), f"{exc.smtp_code} {message}"
    return Outcome.DEFERRED, f"{type(exc).__name__}: {exc}"
