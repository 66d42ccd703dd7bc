"""A fetched feed → the project's own :class:`FeedItem` records (feedparser stays here).

Text encoding is decided before feedparser sees the bytes: a byte order mark, else the
HTTP ``charset``, else the XML prolog's ``encoding`` (RFC 7303's order), with every Korean
label (``EUC-KR``, ``ks_c_5601-1987``, ``x-windows-949``…) read as CP949, its superset: Korean
feeds that say EUC-KR routinely hold CP949-only syllables (똠, 햏), on which feedparser gives
up and reads the feed as windows-1252. A label Python does not know, or bytes that do not
decode under it, fall back to UTF-8, then to the issue files' own guess (CP949 when that gives
Hangul, else charset-normalizer). feedparser then gets UTF-8 with a prolog saying so.

A response that is not RSS or Atom (an HTML page, garbage) is a ``FeedError``; a feed with
small faults (feedparser's ``bozo``) is read all the same.
"""

from __future__ import annotations

import codecs
import hashlib
import html
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from email.utils import parsedate_to_datetime
from typing import Any

import feedparser

from newsletter.automations.feeds.fetch import Fetched
from newsletter.errors import FeedError, IssueError
from newsletter.issues import decode_issue_bytes

_PROLOG = re.compile(rb"^\s*<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._:-]+)[\"']", re.I)
_CHARSET = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9._:-]+)", re.I)
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
#: Labels of the Korean legacy encodings (after Python's codec lookup, or as written).
_KOREAN = {"euc_kr", "cp949", "ks_c_5601-1987", "ksc5601", "ks_c_5601", "x-windows-949",
           "windows-949", "ms949", "uhc", "korean", "euckr", "x-euc-kr"}  # fmt: skip
_TAGS = re.compile(r"<[^>]*>")
#: Time zone names seen in Korean and Japanese RFC 822 dates that email.utils does not know.
_NAMED_ZONES = {"KST": "+0900", "JST": "+0900"}


@dataclass(frozen=True)
class FeedItem:
    """One entry of a feed, in the project's words."""

    key: str  # guid / Atom id, else the link: the entry's identity across polls
    title: str  # plain text
    link: str
    author: str
    published: datetime | None  # aware, in the entry's own offset
    tags: tuple[str, ...]
    body_html: str  # the content, else the summary (HTML; plain text is escaped into it)
    summary_text: str  # the summary as plain text when the body is the full content, else ""
    fingerprint: str  # changes when the entry says something new


@dataclass(frozen=True)
class ParsedFeed:
    """A feed's title and entries (in the feed's order), with the encoding it was read in."""

    title: str
    items: list[FeedItem]
    skipped: list[str]  # entries without an id or a link, one line each
    encoding: str


def read_feed(fetched: Fetched, *, default_tz: tzinfo) -> ParsedFeed:
    """Parse a fetched feed; ``FeedError`` when it is not RSS or Atom."""
    text, encoding = decode_feed(fetched.body, fetched.content_type, where=fetched.url)
    media_type = fetched.content_type.split(";")[0].strip() or "application/xml"
    parsed = feedparser.parse(
        _as_utf8(text),
        response_headers={
            "content-type": f"{media_type}; charset=utf-8",
            "content-location": fetched.url,
        },
        sanitize_html=False,  # convert.sanitize_html is the one sanitizer (iframes → links)
    )
    if not parsed.get("version") and not parsed.entries:
        problem = parsed.get("bozo_exception") or "no RSS or Atom elements"
        raise FeedError(f"{fetched.url}: not an RSS or Atom feed ({_one_line(str(problem))})")
    items: list[FeedItem] = []
    skipped: list[str] = []
    for index, entry in enumerate(parsed.entries, start=1):
        item = _item(entry, default_tz)
        if item is None:
            skipped.append(f"{fetched.url}: entry {index} has no id and no link; skipped")
        else:
            items.append(item)
    return ParsedFeed(_plain(parsed.feed.get("title_detail")), items, skipped, encoding)


def decode_feed(body: bytes, content_type: str, *, where: str) -> tuple[str, str]:
    """The feed's text and the encoding it was read in (see the module docstring)."""
    for bom, name in _BOMS:
        if body.startswith(bom):
            return body.decode(name), name.removesuffix("-sig")
    declared: list[str] = []
    charset = _CHARSET.search(content_type)
    if charset:
        declared.append(charset[1])
    prolog = _PROLOG.match(body[:1024])
    if prolog:
        declared.append(prolog[1].decode("ascii"))
    for label in declared:
        codec = _codec(label)
        if codec is None:
            continue
        try:
            return body.decode(codec), codec
        except UnicodeDecodeError:
            continue
    try:
        return body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        text, warnings = decode_issue_bytes(body, where)
    except IssueError as exc:
        raise FeedError(str(exc)) from None
    guessed = warnings[-1].rsplit(" ", 1)[-1] if warnings else "utf-8"
    return text, guessed


def _codec(label: str) -> str | None:
    lowered = label.strip().lower()
    if lowered in _KOREAN:
        return "cp949"
    try:
        name = codecs.lookup(lowered).name
    except LookupError:
        return None
    return "cp949" if name in _KOREAN else name


def _as_utf8(text: str) -> bytes:
    # The prolog must agree with the bytes feedparser is given.
    text = text.lstrip("\ufeff")
    head, rest = text[:1024], text[1024:]
    head = re.sub(
        r"^(\s*<\?xml[^>]*?encoding\s*=\s*)[\"'][^\"']*[\"']", r'\1"utf-8"', head, count=1
    )
    return (head + rest).encode("utf-8")


def _item(entry: Any, default_tz: tzinfo) -> FeedItem | None:
    link = str(entry.get("link") or "")
    key = str(entry.get("id") or "").strip() or link.strip()
    if not key:
        return None
    contents = entry.get("content") or []
    content = next((c for c in contents if "html" in str(c.get("type", ""))), None)
    content = content or (contents[0] if contents else None)
    summary = entry.get("summary_detail")
    body = _as_html(content) or _as_html(summary)
    summary_text = _plain(summary) if content is not None and summary else ""
    item = FeedItem(
        key=key[:2000],
        title=_plain(entry.get("title_detail")),
        link=link,
        author=_author(entry),
        published=entry_date(entry, default_tz),
        tags=tuple(t for tag in entry.get("tags") or [] if (t := _tag(tag))),
        body_html=body,
        summary_text=summary_text,
        fingerprint="",
    )
    return FeedItem(**{**item.__dict__, "fingerprint": _fingerprint(item)})


def _fingerprint(item: FeedItem) -> str:
    data = [item.title, item.link, item.author, str(item.published), item.tags, item.body_html]
    data.append(item.summary_text)
    return hashlib.sha256(json.dumps(data, ensure_ascii=False).encode()).hexdigest()


def _as_html(detail: Any) -> str:
    if not detail or not detail.get("value"):
        return ""
    value = str(detail["value"])
    if "html" in str(detail.get("type", "")):
        return value
    # Plain text: escaped, and its blank-line paragraphs kept as paragraphs.
    paragraphs = [p for p in re.split(r"\n\s*\n", value) if p.strip()]
    return "".join(f"<p>{html.escape(p.strip())}</p>" for p in paragraphs)


def _plain(detail: Any) -> str:
    """A title or summary as one line of plain text (HTML ones lose their tags and entities)."""
    if not detail:
        return ""
    value = str(detail.get("value") or "")
    if "html" in str(detail.get("type", "")):
        value = html.unescape(_TAGS.sub(" ", value))
    return _one_line(value)


def _one_line(value: str) -> str:
    # Every kind of line break or control character becomes a space: titles reach headers.
    cleaned = "".join(" " if (ord(c) < 32 or 127 <= ord(c) < 160) else c for c in value)
    return " ".join(cleaned.replace("\u2028", " ").replace("\u2029", " ").split())


def _author(entry: Any) -> str:
    detail = entry.get("author_detail") or {}
    return _one_line(str(detail.get("name") or entry.get("author") or ""))[:200]


def _tag(tag: Any) -> str:
    return _one_line(str(tag.get("label") or tag.get("term") or ""))[:100]


def entry_date(entry: Any, default_tz: tzinfo) -> datetime | None:
    """The entry's published (else updated) instant in the offset the feed wrote it in."""
    for key in ("published", "updated", "created"):
        raw = str(entry.get(key) or "").strip()
        parsed = parse_feed_date(raw, default_tz) if raw else None
        if parsed is not None:
            return parsed
        struct = entry.get(f"{key}_parsed")
        if struct:  # feedparser read a format we do not: its UTC reading
            year, month, day, hour, minute, second = struct[:6]
            utc = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
            return utc.astimezone(default_tz)
    return None


def parse_feed_date(raw: str, default_tz: tzinfo) -> datetime | None:
    """An RFC 822 (RSS) or ISO 8601 (Atom) date, aware; no offset → ``default_tz``."""
    text = raw.strip()
    for name, offset in _NAMED_ZONES.items():
        text = re.sub(rf"\s{name}$", f" {offset}", text)
    moment: datetime | None = None
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        try:
            moment = datetime.fromisoformat(text.replace(" ", "T", 1) if "T" not in text else text)
        except ValueError:
            return None
    if moment.tzinfo is None:  # RFC 2822's "-0000" is UTC; no zone at all is local
        moment = moment.replace(tzinfo=UTC if text.endswith("-0000") else default_tz)
    elif moment.utcoffset() == timedelta(0):
        moment = moment.astimezone(UTC)
    return moment if 1970 <= moment.year <= 9998 else None  # year 9999 overflows in UTC
