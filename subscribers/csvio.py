"""CSV files of subscribers: reading what people export from spreadsheets, and exporting.

Reading copes with what Korean and English spreadsheets produce: UTF-8 with or without a
BOM, CP949 (Excel's "CSV" in Korea), UTF-16 ("Unicode text"); comma, semicolon, tab or pipe
delimiters (sniffed); a header row in English or Korean (``email``/``e-mail``/``이메일``,
``name``/``이름``…) or none at all. Rows come out validated, with their line numbers;
invalid ones come out as :class:`Reject`. The database side is :mod:`subscribers.bulk`.

Exported cells that a spreadsheet would run as a formula get a leading ``'``; reading strips
it again, so an export round-trips through import. "Would run as a formula" is judged on the
cell's first character after leading spaces, NFKC-normalised (full-width ``＝``, small ``﹦``,
``＋``, ``－``, ``＠`` are the ASCII ones to a spreadsheet), and on a leading tab, CR or LF.
"""

from __future__ import annotations

import codecs
import csv
import io
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, NamedTuple, TextIO

from subscribers.addresses import address_hash, clean_name, parse_address
from subscribers.errors import ImportRejected, InvalidAddress
from subscribers.zones import is_known_timezone

EMAIL_HEADERS = frozenset(
    {"email", "emailaddress", "mail", "mailaddress", "address", "emails", "correo"}
    | {"이메일", "이메일주소", "메일", "메일주소", "전자우편", "전자메일", "이메일계정"}
)
NAME_HEADERS = frozenset(
    {"name", "fullname", "displayname", "firstname", "subscriber", "subscribername", "nickname"}
    | {"이름", "성명", "성함", "닉네임", "별명", "구독자", "구독자명", "받는사람"}
)
STATUS_HEADERS = frozenset({"status", "subscriptionstatus", "상태", "구독상태"})
#: A ``status`` cell with one of these marks an opt-out: honoured, never imported as active.
OPT_OUT_STATUSES = frozenset(
    {"unsubscribed", "bounced", "complained", "구독취소", "수신거부", "해지"}
)
#: The advertising consent column (docs/advertising.md): true/false per row, else refused.
AD_CONSENT_HEADERS = frozenset(
    {"adconsent", "advertisingconsent", "adsconsent", "marketingconsent", "advertising"}
    | {"광고동의", "광고수신동의", "광고성정보수신동의", "광고수신", "광고성정보"}
)
AD_CONSENT_TRUE = frozenset({"true", "yes", "y", "1", "o", "동의", "예", "네"})
AD_CONSENT_FALSE = frozenset({"false", "no", "n", "0", "x", "거부", "미동의", "아니오", "철회"})
#: The reader's timezone column: an IANA name (``Asia/Seoul``), else the row is refused.
TIMEZONE_HEADERS = frozenset(
    {"timezone", "tz", "timezonename", "zone", "시간대", "타임존", "표준시간대"}
)
DELIMITERS = ",;\t|"
#: Characters that start a formula (after NFKC) or that spreadsheets skip before one.
_FORMULA_STARTS = frozenset("=+-@\u2212\t\r\n")
_CHUNK = 1 << 20

Progress = Callable[[int, int], None]


class Row(NamedTuple):
    """One valid row: the address as written, its normalized form and hash, the name.

    A tuple on purpose: it goes to the database driver as is, a million times.
    """

    line: int
    email: str
    normalized: str
    email_hash: str
    name: str
    opt_out: bool
    ad_consent: bool | None = None  # None: the file says nothing about advertising
    timezone: str = ""  # an IANA name; "" keeps the person's (the site's for new people)


class Reject(NamedTuple):
    """One refused row: its line in the file, the address cell, and why."""

    line: int
    value: str
    reason: str


@dataclass(frozen=True)
class CsvFormat:
    """How a file is written: encoding, delimiter, and which columns hold what."""

    encoding: str
    delimiter: str
    has_header: bool
    email_column: int
    name_column: int | None
    status_column: int | None = None
    ad_column: int | None = None
    timezone_column: int | None = None


def detect_encoding(path: Path) -> str:
    """``utf-8-sig``, ``utf-16``, ``utf-8`` or ``cp949``: the first that decodes the file."""
    with path.open("rb") as handle:
        head = handle.read(4)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    for encoding in ("utf-8", "cp949"):
        if _decodes(path, encoding):
            return encoding
    raise ImportRejected(f"{path}: neither UTF-8 nor CP949; save the file as UTF-8 CSV")


def _decodes(path: Path, encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def sniff_format(path: Path, encoding: str | None = None) -> CsvFormat:
    """Guess encoding, delimiter, header and columns from the start of the file."""
    encoding = encoding or detect_encoding(path)
    with path.open(encoding=encoding, newline="") as handle:
        sample = handle.read(64 * 1024)
    lines = sample.splitlines()
    first = lines[0] if lines else ""
    # Whole lines only: the sample's last line may be cut in the middle.
    sniffed = _sniff_delimiter("\n".join(lines[:50]), first)
    # A recognised header settles the delimiter; the sniffer is only a guess when names
    # contain commas, semicolons or tabs themselves.
    for delimiter in dict.fromkeys([sniffed, *DELIMITERS]):
        first_row = next(csv.reader([first], delimiter=delimiter), [])
        keys = [_header_key(cell) for cell in first_row]
        email_column = next((i for i, key in enumerate(keys) if key in EMAIL_HEADERS), None)
        if email_column is not None:
            name_column = next((i for i, key in enumerate(keys) if key in NAME_HEADERS), None)
            status_column = next((i for i, k in enumerate(keys) if k in STATUS_HEADERS), None)
            ad_column = next((i for i, k in enumerate(keys) if k in AD_CONSENT_HEADERS), None)
            zone_column = next((i for i, k in enumerate(keys) if k in TIMEZONE_HEADERS), None)
            return CsvFormat(
                encoding,
                delimiter,
                True,
                email_column,
                name_column,
                status_column,
                ad_column,
                zone_column,
            )
    delimiter = sniffed
    first_row = next(csv.reader([first], delimiter=delimiter), [])
    if first_row and not any("@" in cell for cell in first_row) and len(lines) > 1:
        raise ImportRejected(
            f"{path}: no email column in the header {first_row!r} (expected e.g. email, 이메일)"
        )
    # No header: the address is the first cell with an @; the name the first other cell.
    email_column = next((i for i, cell in enumerate(first_row) if "@" in cell), 0)
    others = [i for i in range(len(first_row)) if i != email_column]
    return CsvFormat(encoding, delimiter, False, email_column, others[0] if others else None)


def _sniff_delimiter(sample: str, first_line: str) -> str:
    try:
        return csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        counts = {d: first_line.count(d) for d in DELIMITERS}
        best = max(counts, key=lambda d: counts[d])
        return best if counts[best] else ","


def _header_key(cell: str) -> str:
    text = cell.strip().lstrip("\ufeff").lower()
    for char in " _-.:()":
        text = text.replace(char, "")
    return text


def read_rows(
    path: Path, fmt: CsvFormat, *, progress: Progress | None = None
) -> Iterator[Row | Reject]:
    """Every data row of the file, validated, in order; blank lines are skipped."""
    total = path.stat().st_size
    with path.open("rb") as raw:
        text = io.TextIOWrapper(raw, encoding=fmt.encoding, newline="")
        reader = csv.reader(text, delimiter=fmt.delimiter)
        if fmt.has_header:
            next(reader, None)
        for count, cells in enumerate(reader, 1):
            if progress is not None and count % 20000 == 0:
                progress(raw.tell(), total)
            if any(cells):
                yield _parse_row(reader.line_num, cells, fmt)
        if progress is not None:
            progress(total, total)


def _parse_row(line: int, cells: list[str], fmt: CsvFormat) -> Row | Reject:
    if fmt.email_column >= len(cells):
        return Reject(line, "", "no email address in this row")
    value = unguard(cells[fmt.email_column])
    try:
        address = parse_address(value)
    except InvalidAddress as exc:
        return Reject(line, value, str(exc))
    name = ""
    if fmt.name_column is not None and fmt.name_column < len(cells):
        name = clean_name(unguard(cells[fmt.name_column]))
    opt_out = False
    if fmt.status_column is not None and fmt.status_column < len(cells):
        opt_out = cells[fmt.status_column].strip().lower() in OPT_OUT_STATUSES
    ad_consent: bool | None = None
    if fmt.ad_column is not None and fmt.ad_column < len(cells):
        cell = cells[fmt.ad_column].strip().lower()
        if cell in AD_CONSENT_TRUE or cell in AD_CONSENT_FALSE:
            ad_consent = cell in AD_CONSENT_TRUE
        elif cell:
            return Reject(line, value, f"ad_consent: {cells[fmt.ad_column]!r} is not true/false")
    digest = address_hash(address.normalized)
    timezone = ""
    if fmt.timezone_column is not None and fmt.timezone_column < len(cells):
        timezone = unguard(cells[fmt.timezone_column]).strip()
        if timezone and not is_known_timezone(timezone):
            return Reject(
                line,
                value,
                f"timezone: {timezone[:80]!r} is not an IANA timezone name (e.g. Asia/Seoul)",
            )
    return Row(line, address.email, address.normalized, digest, name, opt_out, ad_consent, timezone)


def unguard(cell: str) -> str:
    """Undo :func:`guard`: a leading ``'`` before a formula character (or before another
    guarded cell) is the spreadsheet's "this is text" mark, not part of the value."""
    if not cell.startswith("'"):
        return cell
    return cell[1:] if _guarded(cell) else cell


def _guarded(cell: str) -> bool:
    return cell.startswith("'") and (formula_like(cell[1:]) or _guarded(cell[1:]))


def formula_like(cell: str) -> bool:
    """Whether a spreadsheet could read ``cell`` as a formula: its first character (past
    leading white space, NFKC-normalised, so look-alikes count) starts one, or it starts with a
    tab, CR or LF."""
    if cell[:1] in ("\t", "\r", "\n"):
        return True
    first = cell.lstrip()[:1]
    return bool(first) and unicodedata.normalize("NFKC", first)[:1] in _FORMULA_STARTS


def guard(cell: str) -> str:
    """Protect a cell from being run as a spreadsheet formula (undone by :func:`unguard`)."""
    return "'" + cell if formula_like(cell) or _guarded(cell) else cell


class RejectsWriter:
    """Writes refused rows to a CSV (``line,email,reason``) opened on the first one."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.count = 0
        self._handle: IO[str] | None = None
        self._writer: csv.DictWriter[str] | None = None

    def add(self, reject: Reject) -> None:
        """Record one refused row."""
        self.count += 1
        if self.path is None:
            return
        if self._writer is None:
            self._handle = self.path.open("w", encoding="utf-8-sig", newline="")
            self._writer = csv.DictWriter(self._handle, ["line", "email", "reason"])
            self._writer.writeheader()
        self._writer.writerow({"line": reject.line, "email": reject.value, "reason": reject.reason})

    def close(self) -> None:
        """Flush and close the file, if one was opened."""
        if self._handle is not None:
            self._handle.close()


EXPORT_COLUMNS = ("email", "name", "newsletter", "status", "subscribed_at", "confirmed_at")


def write_export_header(out: TextIO) -> csv.DictWriter[str]:
    """A CSV writer for exports with its header row written."""
    writer = csv.DictWriter(out, EXPORT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    return writer
