"""Importers: other platforms' exports → issue files in ``issues/`` (brunch, Jekyll).

Each importer turns one source into an :class:`ImportedIssue` (front matter + Markdown)
without touching the disk; :func:`write_issue` then writes it atomically, so a refused
source leaves nothing half-written.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from newsletter.errors import IssueError

#: Front matter keys in the order they are written.
KEY_ORDER = (
    "title", "date", "newsletter", "slug", "subject", "preheader", "author",
    "categories", "tags", "draft", "image", "image_alt", "cover_image",
)  # fmt: skip


@dataclass
class ImportedIssue:
    """An issue file to be written: its name, front matter and Markdown body."""

    filename: str
    front_matter: dict[str, Any]
    body: str
    warnings: list[str] = field(default_factory=list)

    def to_text(self) -> str:
        """The issue file's full text: ``---`` front matter ``---`` then the body."""
        return f"---\n{dump_front_matter(self.front_matter)}---\n\n{self.body.strip()}\n"


def format_date(value: datetime) -> str:
    """``2025-08-18 20:00:09 +0900`` (seconds only when present; offset only when aware)."""
    pattern = "%Y-%m-%d %H:%M:%S" if value.second else "%Y-%m-%d %H:%M"
    text = value.strftime(pattern)
    return f"{text} {value.strftime('%z')}" if value.tzinfo else text


def dump_front_matter(data: dict[str, Any]) -> str:
    """YAML front matter that strict YAML accepts, keys in :data:`KEY_ORDER`."""
    keys = [k for k in KEY_ORDER if k in data] + [k for k in data if k not in KEY_ORDER]
    lines = []
    for key in keys:
        value = data[key]
        if value in (None, "", [], ()):
            continue
        if isinstance(value, datetime):
            lines.append(f"{key}: {format_date(value)}")
            continue
        if isinstance(value, tuple):
            value = list(value)
        dumped = yaml.safe_dump(
            {key: value}, allow_unicode=True, default_flow_style=True, width=10_000
        )
        lines.append(dumped.strip().removeprefix("{").removesuffix("}"))
    return "".join(line + "\n" for line in lines)


def write_issue(imported: ImportedIssue, out_dir: Path, *, force: bool = False) -> Path:
    """Write the issue file into ``out_dir`` atomically; refuse to overwrite unless ``force``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / imported.filename
    text = imported.to_text()
    if target.exists() and not force:
        if target.read_text(encoding="utf-8", errors="replace") == text:
            return target
        raise IssueError(f"{target}: already exists with other content (use --force)")
    handle, temp = tempfile.mkstemp(dir=out_dir, prefix=".import-", suffix=".md")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return target
