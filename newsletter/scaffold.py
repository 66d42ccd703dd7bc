"""``newsletter init DIR``: a working project from the packaged defaults.

Writes the commented default ``config.yaml``, ``issues/`` with one sample issue (a draft,
so it is never sent by surprise) and copies of the templates an operator is most likely
to edit. Every other template keeps coming from the package: the project's ``templates/``
overrides the packaged ones file by file (see :mod:`newsletter.resources`). Files that
already exist are kept, so ``init`` is safe to run again.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from newsletter.resources import default_config, default_templates

#: The templates copied into a new project: the look of the issue email and of the site.
EDITABLE_TEMPLATES = (
    "email/_layout.mjml.j2",
    "email/issue.mjml.j2",
    "email/issue.txt.j2",
    "web/base.html",
)

SAMPLE_ISSUE = """\
---
title: 첫 번째 소식
date: {day} 09:00
subject: "첫 번째 소식: 뉴스레터를 시작합니다"
preheader: 이 파일을 고쳐 첫 호를 써 보세요.
draft: true
---

이 파일은 `newsletter init`이 만든 예시입니다. `draft: true`인 동안에는 보내지지 않습니다.

- `newsletter render {slug}`로 메일을 미리 보고,
- `newsletter check {slug}`로 점검한 뒤,
- `draft: true` 줄을 지우면 `date`에 맞춰 `newsletter serve`가 보냅니다.

This sample is a draft: it is never sent until you remove the `draft: true` line.
"""


@dataclass
class InitReport:
    """What :func:`init_project` wrote and what it found already there."""

    directory: Path
    created: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)


def init_project(directory: Path, *, today: date | None = None) -> InitReport:
    """Write a project into ``directory`` (created if needed); existing files are kept."""
    directory.mkdir(parents=True, exist_ok=True)
    report = InitReport(directory)
    _copy(default_config(), directory / "config.yaml", report)
    day = (today or date.today()) + timedelta(days=7)
    slug = "first-issue"
    _write(
        directory / "issues" / f"{day.isoformat()}-{slug}.md",
        SAMPLE_ISSUE.format(day=day.isoformat(), slug=slug),
        report,
    )
    for name in EDITABLE_TEMPLATES:
        _copy(default_templates() / name, directory / "templates" / name, report)
    return report


def _copy(source: Path, target: Path, report: InitReport) -> None:
    if target.exists():
        report.kept.append(target)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    report.created.append(target)


def _write(target: Path, text: str, report: InitReport) -> None:
    if target.parent.is_dir() and any(target.parent.iterdir()):
        return  # issues/ already has content: no sample added to a real project
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    report.created.append(target)
