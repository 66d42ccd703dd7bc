"""The SMTP backend: reused connections, several in parallel, 4xx deferred and 5xx failed.

A message-level problem never raises: once one message of a batch is accepted, raising
would make the caller resend the whole batch. Each recipient gets its own result instead
(``DEFERRED`` for 4xx replies and dropped connections, ``FAILED`` for 5xx replies).
"""

from __future__ import annotations

import itertools
import queue
import smtplib
import ssl
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass

from newsletter.delivery.backends.base import Backend
from newsletter.delivery.dkim import DkimSigner
from newsletter.delivery.message import (
    Batch,
    Content,
    Outcome,
    Recipient,
    RecipientResult,
    build_message,
)
from newsletter.errors import ConfigError
from newsletter.settings import SmtpSettings


@dataclass(frozen=True, slots=True)
class Envelope:
    """One message for the wire: sender, recipient, and what its RFC 5322 bytes are made of.

    The bytes are built by the sending thread (:attr:`data`), so building one message
    overlaps with the network waits of the others.
    """

    content: Content
    to: Recipient
    signer: DkimSigner | None = None

    @property
    def sender(self) -> str:
        """The envelope sender: the recipient's VERP return path, else the From address."""
        return self.to.return_path or self.content.from_email

    @property
    def recipient(self) -> str:
        return self.to.email

    def data(self, *, eight_bit: bool) -> bytes:
        """The message's bytes (raw UTF-8 bodies when the server takes 8BITMIME), signed
        with DKIM when there is a signer: then always 7-bit (RFC 6376 5.3), so that no relay
        on the way converts the body and breaks the signature."""
        if self.signer is None:
            return build_message(self.content, self.to, eight_bit=eight_bit)
        return self.signer.sign(build_message(self.content, self.to, eight_bit=False))


def dot_stuff(data: bytes) -> bytes:
    """``data`` with the dot that starts a line doubled, as on the wire (RFC 5321 4.5.2)."""
    if b"\n." in data:  # bytes.replace: an order of magnitude faster than a regex here
        data = data.replace(b"\n.", b"\n..")
    return b"." + data if data.startswith(b".") else data


class SmtpBackend(Backend):
    """Sends through an SMTP server with up to ``settings.connections`` open connections."""

    name = "smtp"
    # Two batches side by side: one is claimed and settled while the other is on the wire
    # (the connections stay ``settings.connections``: the pool is shared).
    parallel_batches = 2

    def __init__(
        self,
        settings: SmtpSettings,
        *,
        password: str | None = None,
        pipelining: bool | None = None,
        signer: DkimSigner | None = None,
    ) -> None:
        if settings.username and not password:
            raise ConfigError("delivery.smtp.username is set but NEWSLETTER_SMTP_PASSWORD is not")
        self.settings = settings
        self.password = password
        # None: pipeline when the server advertises PIPELINING (RFC 2920); True/False forces.
        self.pipelining = pipelining
        self.signer = signer
        self._idle: queue.SimpleQueue[smtplib.SMTP] = queue.SimpleQueue()
        self._pool = ThreadPoolExecutor(settings.connections, thread_name_prefix="smtp")

    def build_payload(self, batch: Batch) -> list[Envelope]:
        """One envelope per recipient (its message is built when it is sent)."""
        return [Envelope(batch.content, r, self.signer) for r in batch.recipients]

    def post(self, payload: list[Envelope]) -> list[tuple[Outcome, str]]:
        """Send every envelope over the pooled connections, in parallel.

        Each connection's thread takes the next envelope until none is left (one task per
        connection, not one per message: a future per message cost more than its bytes).
        """
        results: list[tuple[Outcome, str]] = [(Outcome.DEFERRED, "not sent")] * len(payload)
        taken = itertools.count()  # next() on it is atomic: each index goes to one thread
        stop: list[BaseException] = []  # an unexpected error in one thread stops them all
        tasks = min(self.settings.connections, len(payload))
        futures = [
            self._pool.submit(self._drain, payload, results, taken, stop) for _ in range(tasks)
        ]
        wait(futures)
        for future in futures:
            future.result()
        return results

    def _drain(
        self,
        payload: list[Envelope],
        results: list[tuple[Outcome, str]],
        taken: itertools.count[int],
        stop: list[BaseException],
    ) -> None:
        connection: smtplib.SMTP | None = None
        ahead = False  # the next envelope's MAIL/RCPT/DATA went out with the last message
        try:
            index = next(taken)
            while not stop and index < len(payload):
                following = next(taken)
                upcoming = payload[following] if following < len(payload) else None
                results[index], connection, ahead = self._deliver(
                    payload[index], connection, ahead=ahead, upcoming=upcoming
                )
                index = following
        except BaseException as exc:
            stop.append(exc)
            raise
        finally:
            if connection is not None and (ahead or stop):
                connection.close()  # replies still owed, or mid-conversation: not reusable
            elif connection is not None:
                self._idle.put(connection)

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

    def _deliver(
        self,
        envelope: Envelope,
        connection: smtplib.SMTP | None,
        *,
        ahead: bool = False,
        upcoming: Envelope | None = None,
    ) -> tuple[tuple[Outcome, str], smtplib.SMTP | None, bool]:
        """Send one envelope: its result, the connection to use next (``None`` once it is
        closed) and whether ``upcoming``'s commands went out with it (``ahead`` says that
        ``envelope``'s did with the previous one)."""
        if connection is None:
            ahead = False
            try:
                connection = self._checkout()
            except (smtplib.SMTPException, OSError) as exc:
                return _classify(exc), None, False
        try:
            if self.pipelining or (self.pipelining is None and connection.has_extn("pipelining")):
                result, sent_ahead = _pipelined(
                    connection, envelope, ahead=ahead, upcoming=upcoming
                )
            else:
                result, sent_ahead = _one_by_one(connection, envelope), False
        except smtplib.SMTPServerDisconnected as exc:
            connection.close()
            return (Outcome.DEFERRED, f"connection lost: {exc}"), None, False
        except (smtplib.SMTPException, OSError) as exc:
            # smtplib has said RSET already where the conversation allows it.
            connection.close()
            return _classify(exc), None, False
        return result, connection, sent_ahead

    def _checkout(self) -> smtplib.SMTP:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            return self._connect()

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
        connection.ehlo_or_helo_if_needed()
        return connection


def _one_by_one(connection: smtplib.SMTP, envelope: Envelope) -> tuple[Outcome, str]:
    # An internationalized address needs the server's SMTPUTF8 (RFC 6531).
    options = [] if envelope.recipient.isascii() else ["SMTPUTF8"]
    eight_bit = connection.has_extn("8bitmime")
    if eight_bit:
        options.append("BODY=8BITMIME")
    try:
        refused = connection.sendmail(
            envelope.sender,
            [envelope.recipient],
            envelope.data(eight_bit=eight_bit),
            mail_options=options,
        )
    except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
        return _classify(exc)  # the conversation was reset: the connection stays usable
    if refused:
        code, reply = next(iter(refused.values()))
        return _reply_outcome(code), f"{code} {reply.decode(errors='replace')}"
    return Outcome.ACCEPTED, ""


def _commands(envelope: Envelope, *, eight_bit: bool) -> bytes:
    params = ("" if envelope.recipient.isascii() else " SMTPUTF8") + (
        " BODY=8BITMIME" if eight_bit else ""
    )
    return (
        f"MAIL FROM:<{envelope.sender}>{params}\r\nRCPT TO:<{envelope.recipient}>\r\nDATA\r\n"
    ).encode()


def _pipelined(
    connection: smtplib.SMTP,
    envelope: Envelope,
    *,
    ahead: bool = False,
    upcoming: Envelope | None = None,
) -> tuple[tuple[Outcome, str], bool]:
    """MAIL, RCPT and DATA in one write (RFC 2920), then the message: two round trips, or
    one when the next envelope's MAIL, RCPT and DATA ride with this message's final dot
    (RFC 2920 lets the message content start a group). Returns the outcome and whether
    ``upcoming``'s commands were sent (their replies are read with ``ahead=True``)."""
    eight_bit = connection.has_extn("8bitmime")
    if not ahead:
        connection.send(_commands(envelope, eight_bit=eight_bit))
    replies = [connection.getreply() for _ in range(3)]
    if replies[2][0] != 354:
        connection.rset()
        code, text = next((r for r in replies[:2] if r[0] >= 400), replies[2])
        return (_reply_outcome(code), f"{code} {text.decode(errors='replace')}"), False
    data = dot_stuff(envelope.data(eight_bit=eight_bit)) + b".\r\n"
    if upcoming is not None:
        data += _commands(upcoming, eight_bit=eight_bit)
    connection.send(data)
    code, text = connection.getreply()
    if code != 250:
        return (
            _reply_outcome(code),
            f"{code} {text.decode(errors='replace')}",
        ), upcoming is not None
    return (Outcome.ACCEPTED, ""), upcoming is not None


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
