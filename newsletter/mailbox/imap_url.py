"""The IMAP mailbox as a URL: ``imaps://USER@HOST[:PORT]/FOLDER`` (docs/delivery.md).

| scheme | transport | default port |
|---|---|---|
| ``imaps://`` | TLS from the first byte, certificate verified | 993 |
| ``imap://`` | STARTTLS, required: a server without it is refused | 143 |
| ``imap://…?tls=none`` | no TLS at all: only to ``localhost`` or a loopback address | 143 |

The user is percent-encoded (``bounces%40example.org@mail.example.org``); the folder is
the path (``INBOX`` when empty). A password in the URL is refused: it comes from
``NEWSLETTER_IMAP_PASSWORD`` only. Pure (standard library only): settings validate with it.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qsl, unquote, urlsplit

Transport = Literal["tls", "starttls", "none"]

_DEFAULT_PORTS = {"imaps": 993, "imap": 143}


@dataclass(frozen=True, slots=True)
class ImapUrl:
    """Where the bounce mailbox is and how to reach it; ``str()`` is safe to log."""

    transport: Transport
    host: str
    port: int
    user: str
    folder: str

    def __str__(self) -> str:
        scheme = "imaps" if self.transport == "tls" else "imap"
        query = "?tls=none" if self.transport == "none" else ""
        return f"{scheme}://{self.user}@{self.host}:{self.port}/{self.folder}{query}"


def parse_imap_url(text: str) -> ImapUrl:
    """Read an IMAP URL; ``ValueError`` with a one-line reason when it is not usable."""
    parts = urlsplit(text.strip())
    if parts.scheme not in _DEFAULT_PORTS:
        raise ValueError(f"{text!r}: an IMAP URL starts with imaps:// or imap://")
    if parts.password is not None:
        raise ValueError("the IMAP password comes from NEWSLETTER_IMAP_PASSWORD, not the URL")
    if not parts.hostname or not parts.username:
        raise ValueError(f"{text!r}: expected imaps://USER@HOST[:PORT]/FOLDER")
    try:
        port = _DEFAULT_PORTS[parts.scheme] if parts.port is None else parts.port
    except ValueError:
        port = 0
    if not 0 < port < 65536:
        raise ValueError(f"{text!r}: the port is not a number from 1 to 65535")
    folder = unquote(parts.path.lstrip("/")) or "INBOX"
    if any(ord(c) < 32 or ord(c) == 127 for c in folder + unquote(parts.username)):
        raise ValueError(f"{text!r}: control characters in the user or folder")
    transport = _transport(parts.scheme, parts.query, text)
    if transport == "none" and not _is_loopback(parts.hostname):
        raise ValueError(
            f"{text!r}: tls=none is for a server on this machine only (localhost or a "
            "loopback address); the password would cross the network in clear"
        )
    return ImapUrl(
        transport=transport,
        host=parts.hostname,
        port=port,
        user=unquote(parts.username),
        folder=folder,
    )


def _transport(scheme: str, query: str, text: str) -> Transport:
    options = dict(parse_qsl(query, keep_blank_values=True))
    unknown = sorted(set(options) - {"tls"})
    if unknown:
        raise ValueError(f"{text!r}: unknown option {unknown[0]!r} (only tls=none)")
    if "tls" not in options:
        return "tls" if scheme == "imaps" else "starttls"
    if options["tls"] != "none" or scheme != "imap":
        raise ValueError(f"{text!r}: the only TLS option is imap://…?tls=none (no TLS)")
    return "none"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
