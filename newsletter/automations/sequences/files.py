"""Step files: ``sequences/NEWSLETTER/NN-slug.md``, an issue file plus ``after:``.

The front matter is an issue's (title, subject, preheader, author… read by
``newsletter.issues`` with the same repairs and warnings; ``date:`` is not needed), plus:

- ``after:`` (required) — when the step is due, counted from the reader's confirmation:
  ``0``, ``90s``, ``30m``, ``12h``, ``3d``, ``2w``;
- ``backfill: true`` (optional) — readers confirmed before the step was first seen get it
  too (by default they do not);
- ``draft: true`` — the step is not part of the sequence yet;
- ``ad: true`` is refused: a step goes to every new reader, advertising only to consenters;
  ``subjects:`` (an A/B test) is refused: a step has no fan-out to draw a sample at.

The folder names the newsletter (a ``newsletter:`` key must agree); the number before the
first ``-`` is the step's place. Every problem is one line naming the file, line and field.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from newsletter.errors import IssueError
from newsletter.issues import (
    ISSUE_SUFFIXES,
    ParsedIssue,
    decode_issue_bytes,
    display_path,
    key_lines,
    parse_issue_text,
    read_front_matter,
    read_issue_bytes,
    split_front_matter,
)
from newsletter.settings import Settings

from .models import step_slug

log = logging.getLogger("newsletter.sequences")

_NAME = re.compile(r"^(\d{1,6})-(.+)$")
_AFTER = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|h|d|w)$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
#: The longest ``after:``: ten years. Longer would overflow the dates the walk counts back
#: from now (``timedelta`` ends at 999999999 days) long before it meant anything.
LONGEST_AFTER = timedelta(days=3650)
_TRUE = {"true", "yes", "on"}
_FALSE = {"false", "no", "off"}
#: Steps need no date; a file without one gets this (it is never shown or used).
_UNDATED = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class StepFile:
    """One valid step file."""

    newsletter_id: str
    name: str  # the file name without extension: the step's identity
    position: int
    after: timedelta
    backfill: bool
    issue: ParsedIssue  # slug = ``sequence/NEWSLETTER/NAME``

    @property
    def slug(self) -> str:
        """The step's send name in the ledger."""
        return self.issue.slug

    @property
    def draft(self) -> bool:
        """Whether the step is left out of the sequence for now."""
        return self.issue.draft


@dataclass
class StepFiles:
    """Every step file found: the valid ones by newsletter and place, and one-line errors."""

    steps: list[StepFile]
    errors: list[str]
    warnings: list[str]
    #: (newsletter folder, file name without extension) of the files refused: a sync
    #: leaves their steps as they were instead of removing them.
    broken: set[tuple[str, str]]

    def of(self, newsletter_id: str) -> list[StepFile]:
        """The newsletter's valid steps, by place."""
        return [step for step in self.steps if step.newsletter_id == newsletter_id]


def sequences_dir(settings: Settings) -> Path:
    """The configured ``sequences.dir``, resolved against the project."""
    return settings.path(settings.sequences.dir)


def is_step_path(settings: Settings, path: Path) -> bool:
    """Whether ``path`` is inside ``sequences.dir`` (``newsletter check`` reads it as a step)."""
    try:
        path.resolve().relative_to(sequences_dir(settings).resolve())
    except ValueError:
        return False
    return True


def parse_after(value: Any) -> timedelta | None:
    """``0``, ``90s``, ``30m``, ``12h``, ``3d``, ``2w`` as a delay; ``None`` for anything else,
    a delay longer than :data:`LONGEST_AFTER` included (see :func:`after_too_long`)."""
    seconds = _after_seconds(value)
    if seconds is None or not seconds <= LONGEST_AFTER.total_seconds():
        return None
    return timedelta(seconds=seconds)


def after_too_long(value: Any) -> bool:
    """Whether ``value`` is written as a delay but is longer than :data:`LONGEST_AFTER`."""
    seconds = _after_seconds(value)
    return seconds is not None and not seconds <= LONGEST_AFTER.total_seconds()


def _after_seconds(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        text = str(value).strip().lower()
    except ValueError:  # an integer too long to write out
        return None
    if text in ("0", "0.0"):
        return 0.0
    match = _AFTER.match(text)
    if not match:
        return None
    return float(match[1]) * _UNIT_SECONDS[match[2]]  # may be inf: refused by the callers


def parse_step_file(settings: Settings, path: Path) -> StepFile:
    """Read and validate one step file; ``IssueError`` (one line) when it cannot be used."""
    path = Path(path)
    where = display_path(settings, path)
    newsletter_id = path.parent.name
    try:
        settings.newsletter(newsletter_id)
    except Exception as exc:  # ConfigError: name the folder
        raise IssueError(f"{where}: the folder names no newsletter: {exc}") from None
    match = _NAME.match(path.stem)
    if not match:
        raise IssueError(
            f"{where}: the file name must start with the step's number (01-welcome.md)"
        )
    raw = read_issue_bytes(path, where)
    data, at = _front_matter(raw, where)
    named = str(data.get("newsletter") or "").strip()
    if named and named != newsletter_id:
        raise IssueError(
            f"{where}:{at.get('newsletter', 1)}: newsletter: {named!r} but the file is in "
            f"the {newsletter_id!r} folder (move it, or remove the key)"
        )
    after = _after(data, at, where)
    backfill = _backfill(data, at, where)
    issue = parse_issue_text(settings, path, raw, undated=_UNDATED)
    if issue.ab_test is not None:
        # A/B tests draw a sample at an issue's fan-out; a step has no fan-out.
        raise IssueError(
            f"{where}:{at.get('subjects', 1)}: subjects: (an A/B test) is not for sequence "
            "steps; give the step one subject"
        )
    if issue.ad:
        # A step goes to every new reader; advertising needs its own consent and notices.
        raise IssueError(
            f"{where}:{at.get('ad', 1)}: ad: true is not for sequence steps (send "
            "advertising as an issue, to the readers who consented)"
        )
    if issue.newsletter_id != newsletter_id:  # no key: the default newsletter was assumed
        issue = replace(issue, newsletter_id=newsletter_id)
    issue = replace(issue, slug=step_slug(newsletter_id, path.stem))
    return StepFile(newsletter_id, path.stem, int(match[1]), after, backfill, issue)


def _front_matter(raw: bytes, where: str) -> tuple[dict[str, Any], dict[str, int]]:
    text, _warnings = decode_issue_bytes(raw, where)
    lines, _body, _line = split_front_matter(text)
    if lines is None:
        raise IssueError(f"{where}:1: no front matter (a step needs `title:` and `after:`)")
    data, _yaml_warnings = read_front_matter(lines, where)
    return data, key_lines(lines)


def _after(data: dict[str, Any], at: dict[str, int], where: str) -> timedelta:
    if data.get("after") in (None, ""):
        raise IssueError(
            f"{where}:1: no after (add `after: 0` for a step sent at confirmation, "
            "`after: 3d` for one three days later)"
        )
    after = parse_after(data["after"])
    if after is None and after_too_long(data["after"]):
        raise IssueError(
            f"{where}:{at.get('after', 1)}: after: {_shown(data['after'])} is too long "
            f"(at most {LONGEST_AFTER.days}d)"
        )
    if after is None:
        raise IssueError(
            f"{where}:{at.get('after', 1)}: after: {_shown(data['after'])} is not a delay "
            "(write 0, 90s, 30m, 12h, 3d or 2w)"
        )
    return after


def _shown(value: Any) -> str:
    """A front matter value for an error line: its repr, cut short."""
    try:
        text = repr(value)
    except ValueError:  # an integer too long to write out
        return f"<a number of {value.bit_length()} bits>" if isinstance(value, int) else "?"
    return text if len(text) <= 40 else f"{text[:37]}..."


def _backfill(data: dict[str, Any], at: dict[str, int], where: str) -> bool:
    value = data.get("backfill", False)
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise IssueError(f"{where}:{at.get('backfill', 1)}: backfill: {value!r} is not true/false")


def step_paths(settings: Settings) -> list[Path]:
    """Every candidate step file: ``sequences.dir/*/*.md`` (hidden, ``_*``, README skipped)."""
    root = sequences_dir(settings)
    if not root.is_dir():
        return []
    return sorted(
        path
        for folder in root.iterdir()
        if folder.is_dir() and not folder.name.startswith((".", "_"))
        for path in folder.iterdir()
        if path.is_file()
        and path.suffix.lower() in ISSUE_SUFFIXES
        and not path.name.startswith((".", "_"))
        and path.stem.lower() != "readme"
    )


def read_step_files(settings: Settings) -> StepFiles:
    """Parse every step file; a bad one is an error line and left out, never half-read.

    Two files with the same number in one folder: the first by name is used, the other
    refused. ``after`` going down from one step to the next is allowed (the later step then
    goes right after the earlier one) but warned about.
    """
    found = StepFiles(steps=[], errors=[], warnings=[], broken=set())
    places: dict[tuple[str, int], StepFile] = {}
    for path in step_paths(settings):
        try:
            step = parse_step_file(settings, path)
        except IssueError as exc:
            found.errors.append(str(exc))
            found.broken.add((path.parent.name, path.stem))
            continue
        except Exception as exc:  # a value no check foresaw: refuse this file, not the sync
            log.exception("sequences: reading %s failed", path)
            found.errors.append(f"{display_path(settings, path)}: cannot be read: {exc!r}"[:300])
            found.broken.add((path.parent.name, path.stem))
            continue
        taken = places.get((step.newsletter_id, step.position))
        if taken is not None:
            where = display_path(settings, path)
            found.errors.append(
                f"{where}: step {step.position} is already "
                f"{display_path(settings, taken.issue.source_path)} (renumber one of them)"
            )
            found.broken.add((path.parent.name, path.stem))
            continue
        places[(step.newsletter_id, step.position)] = step
        found.warnings.extend(step.issue.warnings)
    found.steps = sorted(places.values(), key=lambda s: (s.newsletter_id, s.position))
    found.warnings.extend(_after_going_down(settings, found.steps))
    return found


def _after_going_down(settings: Settings, steps: list[StepFile]) -> list[str]:
    warnings: list[str] = []
    last: dict[str, StepFile] = {}
    for step in steps:
        if step.draft:
            continue
        before = last.get(step.newsletter_id)
        if before is not None and step.after < before.after:
            warnings.append(
                f"{display_path(settings, step.issue.source_path)}: after: is earlier than "
                f"step {before.position}'s; it goes right after that step"
            )
        last[step.newsletter_id] = step
    return warnings
