"""What a backend is asked to send: one shared content and its recipients, and the outcome.

A :class:`Batch` is the body once plus up to 1,000 :class:`Recipient` s, each with its own
personal values (substituted into the markers of the content) and its own headers. Backends
that speak SMTP-like protocols turn each recipient into a complete RFC 5322 message with
:func:`build_email`; SendGrid sends the body once with per-recipient substitutions.
"""

from __future__ import annotations

import html as html_lib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from enum import StrEnum

from subscribers.db import utcnow


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


def build_email(content: Content, recipient: Recipient) -> EmailMessage:
    """A complete RFC 5322 message for one recipient: every header, text + HTML, UTF-8."""
    html, text = personalize(content, recipient.values)
    message = EmailMessage(policy=SMTP)
    message["From"] = _address(content.from_name, content.from_email)
    message["To"] = _address(recipient.name, recipient.email)
    if content.reply_to:
        message["Reply-To"] = content.reply_to
    message["Subject"] = content.subject
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = make_message_id(sender_domain(content.from_email))
    for name, value in {**content.headers, **recipient.headers}.items():
        message[name] = value
    message.set_content(text, charset="utf-8", cte=_transfer_encoding(text))
    message.add_alternative(html, subtype="html", charset="utf-8", cte=_transfer_encoding(html))
    return message


def _address(name: str, email: str) -> Address | str:
    if not name:
        return email
    local, _, domain = email.rpartition("@")
    return Address(display_name=name, username=local, domain=domain)


def _transfer_encoding(body: str) -> str:
    # Plain ASCII with short lines stays readable as 7bit; anything else (Korean) is
    # quoted-printable for HTML-ish text and base64 would hide it from grep-happy operators.
    return "quoted-printable" if not body.isascii() or _long_lines(body) else "7bit"


def _long_lines(body: str) -> bool:
    return any(len(line) > 998 for line in body.splitlines())
