"""What a backend is asked to send: one shared content and its recipients, and the outcome.

A :class:`Batch` is the body once plus up to 1,000 :class:`Recipient` s, each with its own
personal values (substituted into the markers of the content) and its own headers. Backends
that speak SMTP-like protocols turn each recipient into a complete RFC 5322 message with
:func:`build_message`; SendGrid sends the body once with per-recipient substitutions.
"""

from __future__ import annotations

import binascii
import functools
import html as html_lib
import itertools
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.header import Header
from email.utils import format_datetime, formataddr
from enum import StrEnum

from newsletter.errors import UnsafeHeaderError
from newsletter.header_values import unsafe_in_header
from subscribers.db import utcnow

#: The longest line SMTP allows, without its CRLF (RFC 5321 4.5.3.1.6).
MAX_LINE = 998
#: A header field name: printable ASCII but the colon (RFC 5322 3.6.8).
_FIELD_NAME = re.compile("[!-9;-~]+")


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
    #: The envelope sender (VERP ``bounces+TOKEN@…``); empty: the From address.
    return_path: str = ""
    #: This recipient's own subject (an A/B send's variant); empty: the content's.
    subject: str = ""

    def subject_of(self, content: Content) -> str:
        """The subject this recipient gets."""
        return self.subject or content.subject


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


@functools.lru_cache(maxsize=64)
def _field_name_ok(field: str) -> bool:
    return _FIELD_NAME.fullmatch(field) is not None


def check_header(field: str, value: str) -> None:
    """Raise :class:`UnsafeHeaderError` unless ``value`` is safe in the header ``field``."""
    if not _field_name_ok(field):
        raise UnsafeHeaderError(f"{field!r} is not a header field name")
    found = unsafe_in_header(value)
    if found is not None:
        raise UnsafeHeaderError(f"{field}: control character {found} in {value[:80]!r}")


def check_content(content: Content) -> None:
    """Every header value of the shared content is safe, or :class:`UnsafeHeaderError`."""
    check_header("Subject", content.subject)
    check_header("From", content.from_name)
    check_header("From", content.from_email)
    check_header("Reply-To", content.reply_to)
    for name, value in content.headers.items():
        check_header(name, value)


def recipient_problem(recipient: Recipient) -> str | None:
    """Why ``recipient``'s own header values cannot be sent, or None when they can."""
    try:
        check_header("To", recipient.name)
        check_header("To", recipient.email)
        check_header("Subject", recipient.subject)
        for name, value in recipient.headers.items():
            check_header(name, value)
    except UnsafeHeaderError as exc:
        return str(exc)
    return None


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


#: Unique ids without a system call each (uuid4 reads the kernel's random source every
#: time): 128 random bits drawn once per process, then a counter (its next() is atomic).
_ID_PREFIX = uuid.uuid4().hex
_ID_COUNTER = itertools.count()


def unique_token() -> str:
    """A token unique across processes and messages (random per process, then counted)."""
    return f"{_ID_PREFIX}{next(_ID_COUNTER):x}"


def make_message_id(domain: str) -> str:
    """A globally unique ``Message-ID`` under the sender's domain."""
    return f"<{unique_token()}@{domain}>"


def sender_domain(from_email: str) -> str:
    """The domain part of an address (``localhost`` when there is none)."""
    return from_email.rpartition("@")[2] or "localhost"


def build_message(content: Content, recipient: Recipient, *, eight_bit: bool = False) -> bytes:
    """A complete RFC 5322 message for one recipient, CRLF line ends, ready for SMTP.

    Every header, multipart/alternative text + HTML in UTF-8: raw UTF-8 (``8bit``) when
    ``eight_bit`` (the server takes 8BITMIME; a Maildir) and no line is longer than SMTP
    allows, else the smaller of quoted-printable and base64 for this recipient's body.
    Written out directly (headers encoded with RFC 2047, bodies with ``binascii``) because
    the ``email`` package's generator costs ~15 ms a message; tests parse the result with it.
    """
    boundary = f"=_{unique_token()}"
    headers = [
        _address_header("From", content.from_name, content.from_email),
        _address_header("To", recipient.name, recipient.email),
    ]
    if content.reply_to:
        headers.append(_header("Reply-To", content.reply_to))
    headers += [
        _header("Subject", recipient.subject_of(content)),
        _header("Date", format_datetime(utcnow())),
        _header("Message-ID", make_message_id(sender_domain(content.from_email))),
    ]
    headers += [_header(k, v) for k, v in {**content.headers, **recipient.headers}.items()]
    headers += [
        "MIME-Version: 1.0",
        f'Content-Type: multipart/alternative; boundary="{boundary}"',
    ]
    text_body, html_body = _bodies(content)
    parts = [
        _part("plain", text_body.render(recipient.values, eight_bit), boundary),
        _part("html", html_body.render(recipient.values, eight_bit), boundary),
    ]
    head = "\r\n".join(headers).encode("utf-8")
    return head + b"\r\n\r\n" + b"".join(parts) + f"--{boundary}--\r\n".encode("ascii")


@functools.lru_cache(maxsize=256)
def _address_header(name: str, display_name: str, email: str) -> str:
    # The display name is RFC 2047-encoded; an internationalized address stays UTF-8
    # (RFC 6532), which is why the header block is encoded as UTF-8.
    check_header(name, display_name)
    check_header(name, email)
    if email.isascii():
        return f"{name}: {formataddr((display_name, email), charset='utf-8')}"
    if not display_name:
        return f"{name}: {email}"
    return f"{name}: {Header(display_name, 'utf-8').encode()} <{email}>"


@functools.lru_cache(maxsize=256)
def _header(name: str, value: str) -> str:
    check_header(name, value)  # the last guard: a value reaching here is never a header
    if not value.isascii():
        # RFC 2047 encoded words, folded: only ever for free text (names, subjects).
        return f"{name}: " + Header(value, "utf-8", header_name=name).encode(linesep="\r\n")
    line = f"{name}: {value}"
    if len(line) > 78 and ", " in value:
        line = line.replace(", ", ",\r\n ")  # fold between the URIs of List-Unsubscribe
    return line


def _part(subtype: str, encoded: tuple[str, bytes], boundary: str) -> bytes:
    encoding, data = encoded
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return (
        f'--{boundary}\r\nContent-Type: text/{subtype}; charset="utf-8"\r\n'
        f"Content-Transfer-Encoding: {encoding}\r\n\r\n"
    ).encode("ascii") + data


def _encode_part(data: bytes, eight_bit: bool) -> tuple[str, bytes]:
    """Raw ``8bit`` when allowed and no line is too long for SMTP, else the smaller of
    quoted-printable and base64."""
    if eight_bit and len(max(data.split(b"\r\n"), key=len)) <= MAX_LINE:
        return "8bit", data
    return _smaller("quoted-printable", _qp_segment(data), data)


def base64_length(size: int) -> int:
    """Bytes of ``size`` bytes in base64 with CRLF after every 76 characters."""
    encoded = 4 * -(-size // 3)
    return encoded + 2 * -(-encoded // 76)


def _smaller(encoding: str, encoded: bytes, raw: bytes) -> tuple[str, bytes]:
    """(``encoding``, ``encoded``) unless base64 of ``raw`` is shorter (Korean: QP writes
    most characters as three ``=XX``, 2.2 times the UTF-8; base64 is 1.37 times)."""
    # A last line end belongs to the boundary that follows, as in the other encodings.
    raw = raw.removesuffix(b"\r\n")
    if base64_length(len(raw)) < len(encoded):
        return "base64", _base64_lines(raw)
    return encoding, encoded


def _base64_lines(raw: bytes) -> bytes:
    """``raw`` in base64, 76 characters a line, CRLF after each (one C call to encode:
    ``base64.encodebytes`` encodes 57 bytes a Python loop round, 2.4 times slower)."""
    encoded = binascii.b2a_base64(raw, newline=False)
    lines = [encoded[start : start + 76] for start in range(0, len(encoded), 76)]
    return b"\r\n".join(lines) + b"\r\n" if lines else b""


def _crlf(text: str) -> bytes:
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")


#: One piece of a body: a run of lines without markers (``None``, raw, quoted-printable),
#: or one line with markers as segments: (``None`` or the value's key, raw, QP).
_Segment = tuple[str | None, bytes, bytes]
_Piece = tuple[tuple[_Segment, ...] | None, bytes, bytes]


class _Body:
    """One body of a content, split once into what is the same for everyone and what is not.

    Runs of lines without a marker are encoded once per content. A line with markers is
    kept as segments: its text between the markers is encoded once too, and per recipient
    only the values are; in quoted-printable they are joined by soft line breaks, which
    decode to nothing. The raw (``8bit``) bytes are those of substituting the whole body.
    """

    __slots__ = (
        "base64_runs",
        "body",
        "escape",
        "markers",
        "pieces",
        "static_max",
        "static_qp_size",
        "static_size",
    )

    def __init__(self, body: str, markers: Mapping[str, str], *, escape: bool) -> None:
        self.body, self.markers, self.escape = body, markers, escape
        self.pieces: list[_Piece] | None = None
        self.static_max = 0
        self.static_size = 0  # bytes of the runs without markers
        self.static_qp_size = 0  # their quoted-printable, and that of the text around markers
        #: (piece, segment, cut) → the aligned middle of that static text in base64
        self.base64_runs: dict[tuple[int, int, int], bytes] = {}
        found = [m for m in markers.values() if m in body]
        if any(not m or "\r" in m or "\n" in m for m in found) or any(
            a != b and a in b for a in found for b in found
        ):
            return  # markers across lines or inside each other: substitute the whole body
        keys = {marker: key for key, marker in reversed(list(markers.items()))}
        split = re.compile("(" + "|".join(re.escape(m) for m in found) + ")") if found else None
        lines = _crlf(body).decode("utf-8").split("\r\n")
        lines = [line + "\r\n" for line in lines[:-1]] + ([lines[-1]] if lines[-1] else [])
        pieces: list[_Piece] = []
        run: list[str] = []
        for line in lines:
            if split is None or not split.search(line):
                run.append(line)
                continue
            if run:
                pieces.append(self._static("".join(run)))
                run = []
            segments = tuple(
                (keys[part], b"", b"")
                if n % 2
                else (None, part.encode(), _qp_segment(part.encode()))
                for n, part in enumerate(split.split(line))
                if part
            )
            self.static_qp_size += sum(len(qp) for _, _, qp in segments)
            pieces.append((segments, b"", b""))
        if run:
            pieces.append(self._static("".join(run)))
        self.pieces = pieces

    def _static(self, text: str) -> _Piece:
        raw = text.encode("utf-8")
        self.static_max = max(self.static_max, len(max(raw.split(b"\r\n"), key=len)))
        self.static_size += len(raw)
        qp = _qp_segment(raw)
        self.static_qp_size += len(qp)
        return None, raw, qp

    def substitute(self, text: str, values: Mapping[str, str]) -> str:
        """``text`` with personal values in its markers (HTML-escaped in an HTML body)."""
        for key, marker in self.markers.items():
            if marker in text:
                text = text.replace(marker, self._value(values, key))
        return text

    def _value(self, values: Mapping[str, str], key: str) -> str:
        value = values.get(key, "")
        return html_lib.escape(value, quote=True) if self.escape else value

    def render(self, values: Mapping[str, str], eight_bit: bool) -> tuple[str, bytes]:
        """(Content-Transfer-Encoding, encoded bytes) of this body for one recipient."""
        if self.pieces is None or any(
            "\r" in v or "\n" in v or any(m in v for m in self.markers.values())
            for v in values.values()
        ):
            # A value with a line break or a marker: substitute the whole body.
            return _encode_part(_crlf(self.substitute(self.body, values)), eight_bit)
        encoded = {key: self._value(values, key).encode() for key in self.markers}
        lines = [
            b"".join(raw if key is None else encoded[key] for key, raw, _ in piece[0])
            for piece in self.pieces
            if piece[0] is not None
        ]
        if (
            eight_bit
            and self.static_max <= MAX_LINE
            and all(len(line.removesuffix(b"\r\n")) <= MAX_LINE for line in lines)
        ):
            return "8bit", self._raw(lines)
        raw_size = self.static_size + sum(len(line) for line in lines)
        last_crlf = 2 if self._ends_with_crlf(lines) else 0
        if base64_length(raw_size - last_crlf) < self.static_qp_size:
            # QP is at least its pre-encoded parts: base64 is smaller whatever the values.
            return "base64", self._base64(encoded)
        qp = self._quoted_printable(encoded)
        if base64_length(raw_size - last_crlf) < len(qp):
            return "base64", self._base64(encoded)
        return "quoted-printable", qp

    def _quoted_printable(self, encoded: Mapping[str, bytes]) -> bytes:
        assert self.pieces is not None
        out: list[bytes] = []
        for segments, _, qp in self.pieces:
            if segments is None:
                out.append(qp)
                continue
            chunks = [qp if key is None else _qp_segment(encoded[key]) for key, _, qp in segments]
            chunks = [c for c in chunks if c]
            for n, chunk in enumerate(chunks):
                out.append(chunk)
                if n + 1 < len(chunks) and not chunks[n + 1].startswith(b"\r\n"):
                    out.append(b"=\r\n")  # a soft line break between segments
        return b"".join(out)

    def _ends_with_crlf(self, lines: list[bytes]) -> bool:
        assert self.pieces is not None
        last = self.pieces[-1] if self.pieces else None
        if last is None:
            return False
        return (last[1] if last[0] is None else lines[-1]).endswith(b"\r\n")

    def _base64(self, encoded: Mapping[str, bytes]) -> bytes:
        """The recipient's body in base64 (76-character lines, CRLF), the last line end
        left to the boundary. Static runs are encoded once per content and alignment:
        base64 of a concatenation is the concatenation of the encodings when every part
        but the last is a multiple of 57 bytes (one line), so a run (or the text between
        two markers of a line) is cut after the bytes that complete the line before it, and
        its aligned middle is cached per cut: at most 57 per run, in practice a few."""
        assert self.pieces is not None
        chunks: list[tuple[tuple[int, int] | None, bytes]] = []
        for number, (segments, raw, _) in enumerate(self.pieces):
            if segments is None:
                chunks.append(((number, 0), raw))
                continue
            for part, (key, text, _) in enumerate(segments):
                chunks.append(((number, part), text) if key is None else (None, encoded[key]))
        if chunks and chunks[-1][1].endswith(b"\r\n"):
            chunks[-1] = (None, chunks[-1][1][:-2])  # shortened: not the cached run
        out: list[bytes] = []
        carry = b""
        for index, data in chunks:
            if index is None or len(data) < 2 * _B64_LINE:
                carry += data
                cut = len(carry) - len(carry) % _B64_LINE
                if cut:
                    out.append(_base64_lines(carry[:cut]))
                    carry = carry[cut:]
                continue
            need = (_B64_LINE - len(carry)) % _B64_LINE
            if need:
                out.append(_base64_lines(carry + data[:need]))
            cut = need + (len(data) - need) // _B64_LINE * _B64_LINE
            run = (*index, need)
            middle = self.base64_runs.get(run)
            if middle is None:
                middle = self.base64_runs[run] = _base64_lines(data[need:cut])
            out.append(middle)
            carry = data[cut:]
        if carry:
            out.append(_base64_lines(carry))
        return b"".join(out)

    def _raw(self, lines: list[bytes]) -> bytes:
        """The whole body for one recipient: the static runs and the substituted lines."""
        assert self.pieces is not None
        line_iter = iter(lines)
        return b"".join(piece[1] if piece[0] is None else next(line_iter) for piece in self.pieces)


#: Bytes of one base64 line (76 characters).
_B64_LINE = 57


def _qp_segment(raw: bytes) -> bytes:
    """Quoted-printable of a run of lines, or of part of a line (then at most 75 columns at
    its end: room for a soft line break after it)."""
    if b"\n" in raw:
        return binascii.b2a_qp(raw, istext=True)
    # Part of a line: binascii picks its soft-break style from the first line break, so
    # one is put in front (it encodes to itself).
    encoded = binascii.b2a_qp(b"\r\n" + raw, istext=True)[2:]
    last = encoded.rpartition(b"\r\n")[2]
    if len(last) >= 76:
        cut = 3 if last[-3:-2] == b"=" else 1  # never inside an =XX escape
        encoded = encoded[:-cut] + b"=\r\n" + encoded[-cut:]
    return encoded


#: Bodies split per content, for the contents of the last few sends (the same object
#: for every batch of a send). Keyed by identity; the content is kept so ids stay unique.
_BODIES: dict[int, tuple[Content, _Body, _Body]] = {}


def _bodies(content: Content) -> tuple[_Body, _Body]:
    """(text, html) bodies of ``content``, split once."""
    cached = _BODIES.get(id(content))
    if cached is not None and cached[0] is content:
        return cached[1], cached[2]
    text = _Body(content.text, content.placeholders_text, escape=False)
    html = _Body(content.html, content.placeholders_html, escape=True)
    if len(_BODIES) >= 16:
        _BODIES.clear()
    _BODIES[id(content)] = (content, text, html)
    return text, html
