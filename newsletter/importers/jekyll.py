"""Jekyll ``_posts`` → issue files.

A Jekyll post already is an issue file in spirit; importing reads it with the same
forgiving parser as ``issues/`` (messy YAML, BOM, CRLF, legacy encodings), then writes a
clean copy: strict-YAML front matter, the date with its offset spelled out, the body
unchanged but for Jekyll-only markup (``<!--more-->``, ``{% raw %}``) that means nothing in
an email. ``published: false`` becomes ``draft: true``; ``description`` the preheader.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from newsletter.importers import ImportedIssue
from newsletter.issues import display_path, parse_issue_text, read_issue_bytes, slug_for
from newsletter.settings import Settings

POST_SUFFIXES = (".md", ".markdown", ".mkdn", ".txt", ".html")
_DATE_PREFIX = re.compile(r"^\d{4}-\d{2}-\d{2}-")
_DROPPED = re.compile(r"<!--\s*more\s*-->|\{%-?\s*(?:end)?raw\s*-?%\}", re.IGNORECASE)
_LIQUID = re.compile(r"\{%.*?%\}|\{\{.*?\}\}")


def post_files(paths: Iterable[Path]) -> list[Path]:
    """The post files under each path: a folder (its ``_posts`` when it has one) or a file."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            folder = path / "_posts" if (path / "_posts").is_dir() else path
            found.extend(
                sorted(
                    p
                    for p in folder.rglob("*")
                    if p.is_file()
                    and p.suffix.lower() in POST_SUFFIXES
                    and not p.name.startswith((".", "_"))
                )
            )
        else:
            found.append(path)
    return found


def import_jekyll(
    settings: Settings, path: Path, *, newsletter_id: str | None = None
) -> ImportedIssue:
    """Convert one Jekyll post; ``IssueError`` (one line) when it has no title or date."""
    raw = read_issue_bytes(path, display_path(settings, path))
    issue = parse_issue_text(settings, path, raw)
    warnings = list(issue.warnings)
    body = _DROPPED.sub("", issue.body)
    liquid = _LIQUID.search(body)
    if liquid:
        line = body[: liquid.start()].count("\n") + 1
        warnings.append(f"{path}: body line {line}: Jekyll Liquid tag {liquid[0]!r} kept as text")
    local = issue.publish_at_local
    filename = path.stem if _DATE_PREFIX.match(path.name) else f"{local:%Y-%m-%d}-{path.stem}"
    filename = f"{filename}.md"
    front = {
        "title": issue.title,
        "date": local,
        "newsletter": newsletter_id or "",
        "slug": "" if slug_for(Path(filename), None) == issue.slug else issue.slug,
        "subject": issue.subject if issue.subject != issue.title else "",
        "preheader": issue.preheader,
        "author": issue.author,
        "categories": list(issue.categories),
        "tags": list(issue.tags),
        "draft": issue.draft or "",
    }
    return ImportedIssue(filename=filename, front_matter=front, body=body, warnings=warnings)
