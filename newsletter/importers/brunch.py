"""brunch text exports → issue files.

An export starts with header lines: the platform marker (``brunch``), the title with its
date (``25년 8월 25일 ...``), a subtitle, ``by AUTHOR`` and the cover image's file name.
The body follows: ``[...]`` lines open a quote section, ``(1)``, ``(2)`` lines open
numbered sections, ``- `` lines are list items, lone ``-`` lines are separators, and the
platform's chrome (``keyword``, ``작가의 이전글…``) closes the file. The header becomes front
matter (the subtitle is the preheader; the cover image name is kept as ``cover_image``,
never printed), sections become ``##`` headings, the quote section a blockquote. Given
``image_base_url`` (where the operator put the export's images), the cover also becomes the
issue's feature image: ``image:`` is that URL plus the file name, ``image_alt:`` the title.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from urllib.parse import quote

from newsletter.errors import IssueError
from newsletter.importers import ImportedIssue
from newsletter.issues import decode_issue_bytes, read_issue_bytes

PLATFORM_MARKER = "brunch"
_KOREAN_DATE = re.compile(r"(\d{2,4})\s*년\s*(\d{1,2})\s*월\s*(\d{1,2})\s*일")
_IMAGE_NAME = re.compile(r"\.(png|jpe?g|gif|webp|heic|bmp)$", re.IGNORECASE)
_NUMBERED = re.compile(r"^\((\d{1,3})\)\s*(.+)$")
_BRACKETED = re.compile(r"^\[(.+)\]$")
_CHROME_STARTS = ("작가의 이전글", "작가의 다음글", "브런치에서 보기")
_CHROME_LINES = {"keyword", "keywords"}
# Characters that would otherwise start Markdown syntax in plain text.
_INLINE_SPECIAL = re.compile(r"([\\`*_\[\]<~|])")
_LINE_START_SPECIAL = re.compile(r"^(\s*)([#+=>-]|\d+[.)](?=\s|$))")


def import_brunch(
    path: Path, *, default_time: time = time(9, 0), image_base_url: str = ""
) -> ImportedIssue:
    """Convert one brunch export; ``IssueError`` (one line) when it has no title or date.

    With ``image_base_url``, a cover named in the export becomes ``image:``/``image_alt:``.
    """
    where = str(path)
    text, warnings = decode_issue_bytes(read_issue_bytes(path, where), where)
    lines = text.split("\n")
    header, body_start = _read_header(lines, where)
    published = datetime.combine(header.published, default_time)
    slug = f"{published:%Y-%m-%d}-{_slugify(header.title_rest) or path.stem}"
    front = {
        "title": header.title,
        "date": published,
        "slug": slug,
        "preheader": header.fields.get("subtitle", ""),
        "author": header.fields.get("author", ""),
        "cover_image": header.fields.get("cover", ""),
    }
    cover = header.fields.get("cover", "")
    if cover and image_base_url:
        front["image"] = f"{image_base_url.rstrip('/')}/{quote(cover)}"
        front["image_alt"] = header.title_rest or header.title
    body = convert_body(lines[body_start:])
    return ImportedIssue(filename=f"{slug}.md", front_matter=front, body=body, warnings=warnings)


@dataclass
class _Header:
    title: str
    title_rest: str
    published: date
    fields: dict[str, str]


def _read_header(lines: list[str], where: str) -> tuple[_Header, int]:
    index = 0
    found: dict[str, str] = {}
    while index < len(lines) and not lines[index].strip():
        index += 1
    if index < len(lines) and lines[index].strip().lower() == PLATFORM_MARKER:
        index += 1
    index = _skip_blank(lines, index)
    if index >= len(lines):
        raise IssueError(f"{where}: empty brunch export: no title")
    title = lines[index].strip()
    match = _KOREAN_DATE.search(title)
    if not match:
        raise IssueError(
            f"{where}:{index + 1}: no date like '25년 8월 25일' in the title line {title!r}"
        )
    header = _Header(
        title=title,
        title_rest=_KOREAN_DATE.sub("", title).strip(),
        published=_korean_date(match, where, index + 1),
        fields=found,
    )
    index = _skip_blank(lines, index + 1)
    if index < len(lines) and _is_subtitle(lines, index):
        found["subtitle"] = lines[index].strip()
        index = _skip_blank(lines, index + 1)
    for key, test in (("author", _is_author), ("cover", _is_cover)):
        if index < len(lines) and test(lines[index].strip()):
            value = lines[index].strip()
            found[key] = value[3:].strip() if key == "author" else value
            index = _skip_blank(lines, index + 1)
    return header, index


def _korean_date(match: re.Match[str], where: str, line: int) -> date:
    year = int(match[1])
    year = year + 2000 if year < 100 else year
    try:
        return date(year, int(match[2]), int(match[3]))
    except ValueError:
        raise IssueError(f"{where}:{line}: {match[0]!r} is not a real date") from None


def _skip_blank(lines: list[str], index: int) -> int:
    while index < len(lines) and not lines[index].strip():
        index += 1
    return index


def _is_subtitle(lines: list[str], index: int) -> bool:
    # Only a line followed by the `by` line or the cover: else it is the body's first line.
    line = lines[index].strip()
    if _is_author(line) or _is_cover(line) or _starts_body(line):
        return False
    after = _skip_blank(lines, index + 1)
    return after < len(lines) and (_is_author(lines[after].strip()) or _is_cover(lines[after]))


def _is_author(line: str) -> bool:
    return line.lower().startswith("by ")


def _is_cover(line: str) -> bool:
    return bool(_IMAGE_NAME.search(line.strip())) and len(line) <= 200


def _starts_body(line: str) -> bool:
    return bool(_BRACKETED.match(line) or _NUMBERED.match(line) or line.startswith("- "))


def convert_body(lines: list[str]) -> str:
    """The export's body lines as Markdown (see the module docstring)."""
    blocks: list[str] = []
    items: list[str] = []
    in_quote = False

    def flush_items() -> None:
        if items:
            blocks.append("\n".join(items))
            items.clear()

    for raw in _without_chrome(lines):
        line = raw.strip()
        if not line or line == "-":
            continue
        bracketed, numbered = _BRACKETED.match(line), _NUMBERED.match(line)
        if bracketed or numbered:
            flush_items()
            heading = bracketed[1] if bracketed else f"({numbered[1]}) {numbered[2]}"  # type: ignore[index]
            blocks.append(f"## {escape_inline(heading.strip())}")
            in_quote = bool(bracketed)
        elif in_quote:
            text = line[2:] if line.startswith("- ") else line
            prefix = "— " if line.startswith("- ") else ""
            blocks.append(f"> {prefix}{escape_line(text) if not prefix else escape_inline(text)}")
        elif line.startswith("- "):
            items.append(f"- {escape_line(line[2:].strip())}")
        else:
            flush_items()
            blocks.append(escape_line(line))
    flush_items()
    return _join(blocks)


def _join(blocks: list[str]) -> str:
    # Consecutive quote paragraphs stay inside one blockquote, separated by a `>` line.
    out: list[str] = []
    for block in blocks:
        if out and block.startswith("> ") and out[-1].startswith("> "):
            out.append(">")
        elif out:
            out.append("")
        out.append(block)
    return "\n".join(out) + "\n"


def _without_chrome(lines: list[str]) -> list[str]:
    """The lines before the platform's trailing chrome (``keyword``, ``작가의 이전글…``)."""
    kept: list[str] = []
    for line in lines:
        stripped = line.strip()
        if stripped.lower() in _CHROME_LINES or stripped.startswith(_CHROME_STARTS):
            break
        kept.append(line)
    return kept


def escape_inline(text: str) -> str:
    """Plain text made safe inside a Markdown paragraph (no accidental emphasis or links)."""
    return _INLINE_SPECIAL.sub(r"\\\1", text)


def escape_line(text: str) -> str:
    """:func:`escape_inline` plus line starts that Markdown reads as headings or lists."""
    return _LINE_START_SPECIAL.sub(lambda m: m[1] + _escape_start(m[2]), escape_inline(text))


def _escape_start(token: str) -> str:
    return token[:-1] + "\\" + token[-1] if token[-1] in ".)" else "\\" + token


def _slugify(text: str) -> str:
    words = re.findall(r"[0-9A-Za-z\uac00-\ud7a3]+", text)
    return "-".join(words).lower()[:80]
