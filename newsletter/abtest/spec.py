"""The front matter of an A/B test: ``subjects:`` and ``ab_test: {sample: 20%, wait: 4h}``.

    subjects: ["첫 번째 제목", "두 번째 제목"]    two to eight, distinct, one line each
    ab_test: {sample: 20%, wait: 4h}            optional; these are the defaults

``sample`` is a share of the audience (``20%``: 1 to 100, decimals allowed) or a number of
readers (``500``); ``wait`` a duration (``30s``, ``15m``, ``4h``, ``1d``; at most 30 days).
``subject:`` and ``subjects:`` together are refused: which one was meant cannot be guessed;
so is ``deliver: local`` (readers' own mornings spread the sample over a whole day).
Without tracking the test degrades to the first subject (``check`` warns).
Every error is one line naming the file, the line and the field.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from newsletter.errors import IssueError
from newsletter.header_values import unsafe_in_header

MAX_SUBJECTS = 8
DEFAULT_SAMPLE = "20%"
DEFAULT_WAIT = timedelta(hours=4)
MAX_WAIT = timedelta(days=30)
_PERCENT = re.compile(r"^(\d+(?:\.\d+)?)\s*%$")
_COUNT = re.compile(r"^\d+$")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|h|d)$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class Sample:
    """How many readers try the subjects: a share of the audience, or a number."""

    percent: float | None = 20.0
    count: int | None = None

    @property
    def label(self) -> str:
        """The sample as the editor wrote it: ``20%`` or ``500``."""
        if self.count is not None:
            return str(self.count)
        return f"{self.percent:g}%"

    def size(self, audience: int, variants: int) -> int:
        """Readers in the sample: the share rounded up, at least one per subject (so each
        subject is tried), at most the audience."""
        if self.count is not None:
            wanted = self.count
        else:
            wanted = math.ceil(audience * (self.percent or 0) / 100 - 1e-9)
        return min(audience, max(wanted, variants))


@dataclass(frozen=True)
class AbTest:
    """An issue's A/B test: its subjects, the sample, the wait before the winner is chosen."""

    subjects: tuple[str, ...]
    sample: Sample = Sample()
    wait: timedelta = DEFAULT_WAIT

    def sample_size(self, audience: int) -> int:
        """Readers in the sample for an audience of ``audience``."""
        return self.sample.size(audience, len(self.subjects))


def parse_sample(label: str, variants: int, where: str = "ab_test") -> Sample:
    """A sample from its label (``20%``, ``500``); :class:`IssueError` when invalid."""
    return _sample(label, where, variants)


def wait_label(wait: timedelta) -> str:
    """A wait as a short duration: ``4h``, ``15m``, ``90s``."""
    seconds = int(wait.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def parse_ab_test(data: dict[str, Any], at: dict[str, int], where: str) -> AbTest | None:
    """The issue's A/B test from its front matter (None without ``subjects:``).

    Raises :class:`IssueError` naming the file, line and field for anything invalid.
    """
    if data.get("subjects") in (None, ""):
        if data.get("ab_test") not in (None, ""):
            raise IssueError(
                f"{where}:{at.get('ab_test', 1)}: ab_test: needs `subjects:` (two or more)"
            )
        return None
    if data.get("subject") not in (None, ""):
        raise IssueError(
            f"{where}:{at.get('subject', 1)}: subject: and subjects: are both given; "
            "keep subjects: for an A/B test, or subject: for one subject"
        )
    if str(data.get("deliver") or "").strip().lower() == "local":
        # Readers' own mornings spread the sample over a day: no fair wait to compare by.
        raise IssueError(
            f"{where}:{at.get('subjects', 1)}: subjects: an A/B test cannot be combined "
            "with deliver: local; keep one of them"
        )
    subjects = _subjects(data["subjects"], f"{where}:{at.get('subjects', 1)}")
    options = data.get("ab_test")
    line = f"{where}:{at.get('ab_test', 1)}"
    if options in (None, ""):
        options = {}
    if not isinstance(options, dict):
        raise IssueError(f"{line}: ab_test: write it as {{sample: 20%, wait: 4h}}")
    unknown = sorted(str(key) for key in options if key not in ("sample", "wait"))
    if unknown:
        raise IssueError(f"{line}: ab_test.{unknown[0]}: unknown; ab_test takes sample and wait")
    sample = _sample(options.get("sample", DEFAULT_SAMPLE), line, len(subjects))
    wait = _wait(options.get("wait", "4h"), line)
    return AbTest(subjects=subjects, sample=sample, wait=wait)


def _subjects(value: Any, line: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise IssueError(f'{line}: subjects: write a list, e.g. subjects: ["A", "B"]')
    subjects = tuple("" if item is None else str(item).strip() for item in value)
    if len(subjects) < 2:
        raise IssueError(f"{line}: subjects: needs two or more subjects (found {len(subjects)})")
    if len(subjects) > MAX_SUBJECTS:
        raise IssueError(f"{line}: subjects: at most {MAX_SUBJECTS} (found {len(subjects)})")
    for number, subject in enumerate(subjects, start=1):
        if not subject:
            raise IssueError(f"{line}: subjects: subject {number} is empty")
        found = unsafe_in_header(subject)
        if found is not None:
            raise IssueError(
                f"{line}: subjects: subject {number} contains the control character {found} "
                "(a line break?); write it on one line"
            )
    if len(set(subjects)) < len(subjects):
        raise IssueError(f"{line}: subjects: two subjects are the same")
    return subjects


def _sample(value: Any, line: str, variants: int) -> Sample:
    text = str(value).strip()
    if isinstance(value, bool) or not text:
        raise IssueError(f"{line}: ab_test.sample: write a share (20%) or a number of readers")
    percent = _PERCENT.match(text)
    if percent:
        share = float(percent[1])
        if not 1 <= share <= 100:
            raise IssueError(f"{line}: ab_test.sample: {text} is not between 1% and 100%")
        return Sample(percent=share)
    if _COUNT.match(text):
        count = int(text)
        if count < variants:
            raise IssueError(
                f"{line}: ab_test.sample: {count} readers cannot try {variants} subjects "
                f"(at least {variants})"
            )
        return Sample(percent=None, count=count)
    raise IssueError(
        f"{line}: ab_test.sample: {text!r} is neither a share (20%) nor a number of readers"
    )


def _wait(value: Any, line: str) -> timedelta:
    text = str(value).strip().lower()
    match = _DURATION.match(text)
    if not match or isinstance(value, bool):
        raise IssueError(
            f"{line}: ab_test.wait: {str(value)!r} is not a duration like 30s, 15m, 4h or 1d"
        )
    wait = timedelta(seconds=float(match[1]) * _UNIT[match[2]])
    if wait < timedelta(seconds=1):
        raise IssueError(f"{line}: ab_test.wait: at least 1s")
    if wait > MAX_WAIT:
        raise IssueError(f"{line}: ab_test.wait: at most 30d (found {text})")
    return wait
