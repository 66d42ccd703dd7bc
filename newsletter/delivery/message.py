"""What a backend is asked to send: one shared content and its recipients, and the outcome.

A :class:`Batch` is the body once plus up to 1,000 :class:`Recipient` s, each with its own
personal values (substituted into the markers of the content) and its own headers. Backends
that speak SMTP-like protocols turn each recipient into a complete RFC 5322 message with
:func:`build_message`; SendGrid sends the body once with per-recipient substitutions.
"""

from __future__ import annotations

import binascii
import html as html_lib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.header import Header
from email.utils import format_datetime, formataddr
from enum import StrEnum

from subscribers.db import utcnow

#: The longest line SMTP allows, without its CRLF (RFC 5321 4.5.3.1.6).
MAX_LINE = 998


@dataclass(frozen=True, slots=True)
class Content:
    """The part of a message shared by every recipient of a batch.

    ``placeholders_html``/``placeholders_text`` map a personal key (``name``,
    ``unsubscribe_url``, ...) to its marker as it appears in ``html``/``text``.
    """

    subject: str
    html: str
    text: str
    from_email: str
    from_name: str = ""
    reply_to: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    placeholders_html: Mapping[str, str] = field(default_factory=dict)
    placeholders_text: Mapping[str, str] = field(default_factory=dict)
    categories: Sequence[str] = ()
    custom_args: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Recipient:
    """One addressee of a batch: address, personal values, own headers, ledger id."""

    email: str
    name: str = ""
    values: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    delivery_id: int | None = None


@dataclass(frozen=True, slots=True)
class Batch:
    """A content and the recipients it goes to, in one backend call."""

    content: Content
    recipients: Sequence[Recipient]


class Outcome(StrEnum):
    """How one recipient of a batch fared with the backend."""

    ACCEPTED = "accepted"
    FAILED = "failed"  # refused for good (5xx SMTP reply, bad address)
    DEFERRED = "deferred"  # refused for now (4xx SMTP reply): worth another attempt


@dataclass(frozen=True, slots=True)
class RecipientResult:
    """The backend's answer for one recipient, translated into the project's terms."""

    recipient: Recipient
    outcome: Outcome
    provider_id: str = ""
    error: str = ""


def personalize(content: Content, values: Mapping[str, str]) -> tuple[str, str]:
    """The (html, text) bodies with personal values: HTML-escaped in HTML, raw in text."""
    html, text = content.html, content.text
    for key, marker in content.placeholders_html.items():
        if marker in html:
            html = html.replace(marker, html_lib.escape(values.get(key, ""), quote=True))
    for key, marker in content.placeholders_text.items():
        if marker in text:
            text = text.replace(marker, values.get(key, ""))
    return html, text


def make_message_id(domain: str) -> str:
    """A globally unique ``Message-ID`` under the sender's domain."""
    return f"<{uuid.uuid4().hex}@{domain}>"


def sender_domain(from_email: str) -> str:
    """The domain part of an address (``localhost`` when there is none)."""
    return from_email.rpartition("@")[2] or "localhost"


def build_message(content: Content, recipient: Recipient, *, eight_bit: bool = False) -> bytes:
    """A complete RFC 5322 message for one recipient, CRLF line ends, ready for SMTP.

    Every header, multipart/alternative text + HTML in UTF-8: quoted-printable, or raw
    UTF-8 (``8bit``) when ``eight_bit`` (the server takes 8BITMIME; a Maildir) and no line
    is longer than SMTP allows. Written out directly (headers encoded with RFC 2047, bodies
    with ``binascii.b2a_qp``) because the ``email`` package's generator costs ~15 ms a
    message; tests parse the result with it.
    """
    html, text = personalize(content, recipient.values)
    boundary = f"=_{uuid.uuid4().hex}"
    headers = [
        _address_header("From", content.from_name, content.from_email),
        _address_header("To", recipient.name, recipient.email),
    ]
    if content.reply_to:
        headers.append(_header("Reply-To", content.reply_to))
    headers += [
        _header("Subject", content.subject),
        _header("Date", format_datetime(utcnow())),
        _header("Message-ID", make_message_id(sender_domain(content.from_email))),
    ]
    headers += [_header(k, v) for k, v in {**content.headers, **recipient.headers}.items()]
    headers += [
        "MIME-Version: 1.0",
        f'Content-Type: multipart/alternative; boundary="{boundary}"',
    ]
    parts = [_part("plain", text, boundary, eight_bit), _part("html", html, boundary, eight_bit)]
    head = "\r\n".join(headers).encode("utf-8")
    return head + b"\r\n\r\n" + b"".join(parts) + f"--{boundary}--\r\n".encode("ascii")


def _address_header(name: str, display_name: str, email: str) -> str:
    # The display name is RFC 2047-encoded; an internationalized address stays UTF-8
    # (RFC 6532), which is why the header block is encoded as UTF-8.
    if email.isascii():
        return f"{name}: {formataddr((display_name, email), charset='utf-8')}"
    if not display_name:
        return f"{name}: {email}"
    return f"{name}: {Header(display_name, 'utf-8').encode()} <{email}>"


def _header(name: str, value: str) -> str:
    if not value.isascii():
        # RFC 2047 encoded words, folded: only ever for free text (names, subjects).
        return f"{name}: " + Header(value, "utf-8", header_name=name).encode(linesep="\r\n")
    line = f"{name}: {value}"
    if len(line) > 78 and ", " in value:
        line = line.replace(", ", ",\r\n ")  # fold between the URIs of List-Unsubscribe
    return line


def _part(subtype: str, body: str, boundary: str, eight_bit: bool) -> bytes:
    data = body.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")
    if eight_bit and len(max(data.split(b"\r\n"), key=len)) <= MAX_LINE:
        encoding, encoded = "8bit", data
    else:
        encoding, encoded = "quoted-printable", binascii.b2a_qp(data, istext=True)
    if not encoded.endswith(b"\r\n"):
        encoded += b"\r\n"
    return (
        f'--{boundary}\r\nContent-Type: text/{subtype}; charset="utf-8"\r\n'
        f"Content-Transfer-Encoding: {encoding}\r\n\r\n"
    ).encode("ascii") + encoded
