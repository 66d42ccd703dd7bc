"""Issue files: Markdown with YAML front matter, read forgivingly, refused only when hopeless.

Real files are messy. Each repair below still imports the file but adds a warning that
names the file and line (``issues/x.md:2: ...``):

- a UTF-8 byte order mark, CRLF or CR line ends, legacy Korean bytes (CP949/EUC-KR);
- front matter that strict YAML rejects (an unquoted ``: `` inside a title): it is then
  read line by line as ``key: value`` pairs;
- a value of the wrong shape (``draft: maybe``, a bad ``date``).

A file with no recoverable title or date raises :class:`IssueError` with one line and
nothing is written anywhere. The date's own offset wins; a date without one is read in
``site.timezone``. The slug is the file name without a ``YYYY-MM-DD-`` prefix and
extension unless ``slug:`` is given.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any

import charset_normalizer
import yaml

from newsletter.abtest.spec import AbTest, parse_ab_test
from newsletter.errors import ConfigError, IssueError, IssueNotFound, SchedulerError
from newsletter.header_values import unsafe_in_header
from newsletter.settings import Settings
from newsletter.timing.plan import LOCAL, has_offset, plan_instant

ISSUE_SUFFIXES = (".md", ".markdown", ".txt")
_DATE_PREFIX = re.compile(r"^\d{4}-\d{2}-\d{2}-")
_KEY_LINE = re.compile(r"^([A-Za-z_][\w-]*)\s*:(?:\s+(.*))?$")
_DATE = re.compile(
    r"^(\d{4})-(\d{1,2})-(\d{1,2})"
    r"(?:[T ]+(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6})\d*)?)?)?"
    r"\s*(Z|[+-]\d{2}(?::?\d{2})?)?$",
    re.IGNORECASE,
)
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0", ""}
_KOREAN_ENCODINGS = ("cp949", "euc_kr")
#: Control characters (but tab and newline): invisible in mail, and they break MJML.
CONTROL_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class ParsedIssue:
    """One issue file, validated: what the catalog stores and the renderer renders."""

    slug: str
    newsletter_id: str
    title: str
    subject: str
    preheader: str
    author: str
    categories: tuple[str, ...]
    tags: tuple[str, ...]
    draft: bool
    publish_at: datetime  # aware, UTC
    publish_at_local: datetime  # aware, in the file's offset or site.timezone
    body: str  # Markdown
    source_path: Path
    source_hash: str  # sha256 of the raw bytes
    warnings: tuple[str, ...] = field(default=())
    extra: dict[str, Any] = field(default_factory=dict)
    ad: bool = False  # 영리목적 광고성 정보 (docs/advertising.md)
    #: ``subjects:`` + ``ab_test:`` (newsletter/abtest/spec.py); ``subject`` is then the first.
    ab_test: AbTest | None = None
    #: ``deliver: local``: the naive wall time each reader gets it at in their own zone.
    local_wall: datetime | None = None
    #: The instant before the newsletter's quiet hours moved ``publish_at`` (None: not moved).
    moved_from: datetime | None = None
    #: ``deliver: local`` was asked for with a date that has an offset (``check`` errors).
    local_with_offset: bool = False


class _YamlNoDates(yaml.SafeLoader):
    """Safe YAML that keeps timestamps as text: dates are parsed by :func:`parse_date`."""


_YamlNoDates.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def display_path(settings: Settings, path: Path) -> str:
    """``path`` relative to the project directory when inside it, for messages."""
    try:
        return str(path.resolve().relative_to(settings.base_dir.resolve()))
    except ValueError:
        return str(path)


def decode_issue_bytes(raw: bytes, where: str) -> tuple[str, list[str]]:
    """Bytes → text with ``\\n`` line ends, plus warnings for each repair made."""
    warnings: list[str] = []
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
        warnings.append(f"{where}:1: removed a UTF-8 byte order mark")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        text, encoding = _decode_legacy(raw, f"{where}:{line}")
        warnings.append(f"{where}:{line}: not UTF-8; decoded as {encoding}")
    if "\r" in text:
        line = text[: text.index("\r")].count("\n") + 1
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        warnings.append(f"{where}:{line}: converted CRLF/CR line ends to LF")
    control = CONTROL_CHARACTERS.search(text)
    if control:
        line = text[: control.start()].count("\n") + 1
        text = CONTROL_CHARACTERS.sub("", text)
        warnings.append(f"{where}:{line}: removed invisible control characters")
    return text, warnings


def _decode_legacy(raw: bytes, where: str) -> tuple[str, str]:
    # Korean first: short Korean texts are often mistaken for Big5 by statistics alone,
    # so a strict CP949 decoding that yields mostly Hangul wins.
    for encoding in _KOREAN_ENCODINGS:
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError:
            continue
        wide = [c for c in text if ord(c) > 127]
        if wide and sum("\uac00" <= c <= "\ud7a3" for c in wide) * 2 > len(wide):
            return text, encoding
    best = charset_normalizer.from_bytes(raw).best()
    if best is None:
        raise IssueError(f"{where}: cannot tell the text encoding (save the file as UTF-8)")
    return str(best), best.encoding


def split_front_matter(text: str) -> tuple[list[str] | None, str, int]:
    """(front matter lines or None, body, line number where the body starts)."""
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        return None, text, 1
    for index in range(1, len(lines)):
        if lines[index].strip() in ("---", "..."):
            return lines[1:index], "\n".join(lines[index + 1 :]), index + 2
    return None, text, 1


def read_front_matter(lines: list[str], where: str) -> tuple[dict[str, Any], list[str]]:
    """Front matter as a dict: strict YAML, else line by line with a warning."""
    source = "\n".join(lines)
    try:
        data = yaml.load(source, Loader=_YamlNoDates)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 2 if mark is not None else 2
        problem = getattr(exc, "problem", None) or "invalid YAML"
        warning = f"{where}:{line}: front matter is not valid YAML ({problem}); read line by line"
        return _read_lines(lines), [warning]
    if data is None:
        return {}, []
    if not isinstance(data, dict):
        return _read_lines(lines), [f"{where}:2: front matter is not a mapping; read line by line"]
    return {str(key): value for key, value in data.items()}, []


def _read_lines(lines: list[str]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    last_key: str | None = None
    for line in lines:
        match = _KEY_LINE.match(line)
        if match:
            last_key = match[1]
            data[last_key] = _loose_value(match[2] or "")
        elif last_key and line.strip().startswith("- "):
            current = data.get(last_key)
            items = current if isinstance(current, list) else []
            items.append(_loose_value(line.strip()[2:]))
            data[last_key] = items
    return data


def _loose_value(text: str) -> Any:
    """A value as YAML would read it alone, or the raw text when that fails or splits it."""
    text = text.strip()
    try:
        value = yaml.load(text, Loader=_YamlNoDates)
    except yaml.YAMLError:
        return text
    return text if isinstance(value, dict) else value


def key_lines(lines: list[str] | None) -> dict[str, int]:
    """The file line of each top-level front matter key (the opening ``---`` is line 1)."""
    found: dict[str, int] = {}
    for index, line in enumerate(lines or []):
        match = _KEY_LINE.match(line)
        if match and match[1] not in found:
            found[match[1]] = index + 2
    return found


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def parse_date(value: Any, default_tz: tzinfo) -> datetime | None:
    """An aware datetime from a front matter value; ``None`` when it is not a date."""
    if isinstance(value, datetime):
        return _in_range(value if value.tzinfo else value.replace(tzinfo=default_tz))
    if isinstance(value, date):
        return _in_range(datetime.combine(value, time(0, 0), tzinfo=default_tz))
    match = _DATE.match(str(value).strip())
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    try:
        local = datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            int((fraction or "0").ljust(6, "0")),
        )
        zone = _offset(offset) if offset else default_tz
    except ValueError:
        return None
    return _in_range(local.replace(tzinfo=zone))


def _in_range(moment: datetime) -> datetime | None:
    # Year 1 or 9999 overflows when shown in another zone: such a date is not a date here.
    try:
        year = moment.astimezone(UTC).year
    except OverflowError:
        return None
    return moment if 1970 <= year <= 9998 else None


def _offset(text: str) -> tzinfo:
    if text.upper() == "Z":
        return UTC
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
    if hours > 23 or minutes > 59:
        raise ValueError(text)
    delta = timedelta(hours=hours, minutes=minutes)
    return timezone(-delta if text[0] == "-" else delta)


def slug_for(path: Path, explicit: Any) -> str:
    """The slug: ``slug:`` when given, else the file name minus date prefix and extension."""
    base = str(explicit).strip() if explicit not in (None, "") else path.stem
    if explicit in (None, ""):
        base = _DATE_PREFIX.sub("", base)
    slug = re.sub(r"\s+", "-", base.strip()).strip("/")
    return slug.replace("/", "-")[:200]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return " ".join(_text(item) for item in value)
    return str(value).strip()


def _words(value: Any) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    items = value if isinstance(value, list) else str(value).split(",")
    return tuple(text for item in items if (text := _text(item)))


def parse_issue_text(
    settings: Settings, path: Path, raw: bytes, *, undated: datetime | None = None
) -> ParsedIssue:
    """Parse the raw bytes of an issue file found at ``path`` (see the module docstring).

    ``undated``: the date of a file without one (sequence steps need none), instead of an error.
    """
    where = display_path(settings, path)
    text, warnings = decode_issue_bytes(raw, where)
    lines, body, _body_line = split_front_matter(text)
    if lines is None:
        data: dict[str, Any] = {}
        body, recovered = _recover_without_front_matter(path, text, where)
        data.update(recovered[0])
        warnings.extend(recovered[1])
    else:
        data, yaml_warnings = read_front_matter(lines, where)
        warnings.extend(yaml_warnings)
    at = key_lines(lines)
    _check_one_line_fields(data, at, where)
    title = _text(data.get("title"))
    if not title:
        raise IssueError(
            f"{where}:{at.get('title', 1)}: no title (add `title:` to the front matter)"
        )
    if undated is not None and data.get("date") in (None, ""):
        publish_local = undated
    else:
        publish_local = _publish_date(settings, path, data, at, where, warnings)
    newsletter_id = _text(data.get("newsletter")) or settings.default_newsletter.id
    try:
        settings.newsletter(newsletter_id)
    except ConfigError as exc:  # say which file and line asked for it
        raise IssueError(f"{where}:{at.get('newsletter', 1)}: {exc}") from None
    slug = slug_for(path, data.get("slug"))
    if not slug:
        raise IssueError(f"{where}:{at.get('slug', 1)}: empty slug")
    ab_test = parse_ab_test(data, at, where)
    local = _deliver(data, at, where)
    local_with_offset = local and has_offset(publish_local)
    if local_with_offset:
        warnings.append(
            f"{where}:{at.get('date', 1)}: deliver: local needs a date without an offset; "
            "sent at the exact instant instead"
        )
    try:
        planned = plan_instant(
            settings, newsletter_id, publish_local, local=local and not local_with_offset
        )
    except (SchedulerError, OverflowError, ValueError) as exc:
        # A date at the calendar's edge that quiet hours or the site zone push past it
        # (9998-12-31 23:00 moved to the next morning): this file is refused, not the sync.
        raise IssueError(
            f"{where}:{at.get('date', 1)}: date: {data.get('date')!r} cannot be sent: "
            f"{_one_line(exc)}"
        ) from None
    return ParsedIssue(
        slug=slug,
        newsletter_id=newsletter_id,
        title=title,
        subject=ab_test.subjects[0] if ab_test else _text(data.get("subject")) or title,
        preheader=_text(data.get("preheader") or data.get("description")),
        author=_text(data.get("author")),
        categories=_words(data.get("categories") or data.get("category")),
        tags=_words(data.get("tags")),
        draft=_draft(data, at, where, warnings),
        publish_at=planned.publish_at,
        publish_at_local=publish_local,
        body=body.strip("\n") + "\n",
        source_path=path,
        source_hash=hashlib.sha256(raw).hexdigest(),
        warnings=tuple(warnings),
        extra={k: v for k, v in data.items() if k not in _KNOWN_KEYS},
        ad=_ad(data, at, where),
        ab_test=ab_test,
        local_wall=planned.local_wall,
        moved_from=planned.moved_from,
        local_with_offset=local_with_offset,
    )


def _deliver(data: dict[str, Any], at: dict[str, int], where: str) -> bool:
    """``deliver: local`` → True; absent → False; anything else is refused."""
    value = _text(data.get("deliver")).lower()
    if value in ("", "now", "all", "site"):
        return False
    if value == LOCAL:
        return True
    raise IssueError(
        f"{where}:{at.get('deliver', 1)}: deliver: {value!r} is not known (use `deliver: local` "
        "for each reader's own timezone, or leave it out)"
    )


#: Front matter that reaches an email header (or the inbox preview, or a URL): one line
#: of visible text, or the file is refused (a CR/LF in a title would add a ``Bcc:``).
ONE_LINE_FIELDS = ("title", "subject", "preheader", "description", "author", "slug", "newsletter")


def _check_one_line_fields(data: dict[str, Any], at: dict[str, int], where: str) -> None:
    for key in ONE_LINE_FIELDS:
        found = unsafe_in_header(_text(data.get(key)))
        if found is not None:
            raise IssueError(
                f"{where}:{at.get(key, 1)}: {key} contains the control character {found} "
                "(a line break?); write it on one line"
            )


_KNOWN_KEYS = {
    "title", "date", "newsletter", "subject", "preheader", "description", "author",
    "categories", "category", "tags", "draft", "slug", "published", "ad",
    "subjects", "ab_test",
    "deliver",
}  # fmt: skip


def _publish_date(
    settings: Settings,
    path: Path,
    data: dict[str, Any],
    at: dict[str, int],
    where: str,
    warnings: list[str],
) -> datetime:
    zone = settings.site.tz
    if data.get("date") not in (None, ""):
        parsed = parse_date(data["date"], zone)
        if parsed is not None:
            return parsed
        warnings.append(f"{where}:{at.get('date', 1)}: cannot read date {data['date']!r}")
    prefix = _DATE_PREFIX.match(path.name)
    if prefix:
        parsed = parse_date(prefix[0].rstrip("-"), zone)
        if parsed is not None:
            warnings.append(f"{where}:1: no usable date; took {prefix[0][:10]} from the file name")
            return parsed
    raise IssueError(f"{where}:{at.get('date', 1)}: no date (add `date: YYYY-MM-DD HH:MM +0900`)")


def _draft(data: dict[str, Any], at: dict[str, int], where: str, warnings: list[str]) -> bool:
    if data.get("published") is False:
        return True  # Jekyll's way of saying draft
    value = data.get("draft", False)
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    warnings.append(f"{where}:{at.get('draft', 1)}: draft: {value!r} is not true/false; draft")
    return True


def _ad(data: dict[str, Any], at: dict[str, int], where: str) -> bool:
    """``ad:`` (advertising): true or false; anything else is refused, not guessed, since
    either guess breaks the law or the editor's intent."""
    value = data.get("ad", False)
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise IssueError(f"{where}:{at.get('ad', 1)}: ad: {value!r} is not true/false")


def _recover_without_front_matter(
    path: Path, text: str, where: str
) -> tuple[str, tuple[dict[str, Any], list[str]]]:
    """No front matter: a leading ``# Heading`` is the title; the date comes from the name."""
    lines = text.lstrip("\n").split("\n")
    if lines and lines[0].startswith("# "):
        title = lines[0][2:].strip()
        warning = f"{where}:1: no front matter; took the title from the first heading"
        return "\n".join(lines[1:]), ({"title": title}, [warning])
    return text, ({}, [])


def read_issue_bytes(path: Path, where: str) -> bytes:
    """The raw bytes of an issue file, or an ``IssueError`` naming it."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise IssueError(f"{where}: cannot read: {exc.strerror or exc}") from None


def parse_issue_file(settings: Settings, path: Path) -> ParsedIssue:
    """Read and parse one issue file; ``IssueError`` (one line) when it cannot be used."""
    path = Path(path)
    return parse_issue_text(settings, path, read_issue_bytes(path, display_path(settings, path)))


def issue_files(settings: Settings) -> list[Path]:
    """The issue files in ``issues_dir``, sorted by name (hidden, ``_*`` and README skipped)."""
    folder = settings.path(settings.issues_dir)
    if not folder.is_dir():
        return []
    return sorted(
        path
        for path in folder.iterdir()
        if path.is_file()
        and path.suffix.lower() in ISSUE_SUFFIXES
        and not path.name.startswith((".", "_"))
        and path.stem.lower() != "readme"
    )


def find_issue(settings: Settings, slug: str) -> ParsedIssue:
    """The issue with this slug in ``issues_dir``; ``IssueNotFound`` when there is none.

    A slug is never a path: ``notes.txt`` or ``newsletter.db`` is looked up as a slug among
    the issue files and nothing else is opened (callers that take a file the operator named
    use :func:`find_issue_or_file`).
    """
    files = issue_files(settings)
    for path in files:
        if slug_for(path, None) == slug:
            issue = parse_issue_file(settings, path)
            if issue.slug == slug:
                return issue
    for path in files:  # an explicit `slug:` may differ from the file name
        try:
            issue = parse_issue_file(settings, path)
        except IssueError:
            continue
        if issue.slug == slug:
            return issue
    folder = display_path(settings, settings.path(settings.issues_dir))
    raise IssueNotFound(f"no issue with slug {slug!r} in {folder}/")


def find_issue_or_file(settings: Settings, slug_or_path: str | Path) -> ParsedIssue:
    """For the command line only: the file the operator named, else the issue with that slug."""
    candidate = Path(slug_or_path)
    if candidate.is_file():
        return parse_issue_file(settings, candidate)
    try:
        return find_issue(settings, str(slug_or_path))
    except IssueNotFound as exc:
        raise IssueNotFound(f"{exc} (and no such file)") from None
