"""Helpers shared by the scheduler tests: issue rows, a recording send, waiting."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from newsletter.db import transaction
from newsletter.models import Issue, IssueStatus
from newsletter.services import Services
from newsletter.settings import Settings
from tests.conftest import REPO

#: ``newsletter`` as a child process (the tests' interpreter, the worktree's code).
NEWSLETTER = [sys.executable, "-c", "from newsletter.cli import main; main()"]


def add_issue(
    services: Services, slug: str, at: datetime, *, status: str = IssueStatus.SCHEDULED
) -> None:
    """Insert an issue row as the catalog's sync would (tests of the scheduler alone)."""
    with transaction(services.sessions) as session:
        session.add(
            Issue(
                slug=slug,
                newsletter_id="weekly",
                title=slug,
                subject=slug,
                publish_at=at,
                source_path=f"issues/{slug}.md",
                source_hash="0" * 64,
                status=status,
            )
        )


def set_issue(services: Services, slug: str, **values: object) -> None:
    """Change an issue row in place (what a sync of an edited file does)."""
    with transaction(services.sessions) as session:
        issue = session.scalars(select(Issue).where(Issue.slug == slug)).one()
        for key, value in values.items():
            setattr(issue, key, value)


def status_of(services: Services, slug: str) -> str:
    """The issue's status in the database."""
    with services.sessions() as session:
        return session.scalars(select(Issue.status).where(Issue.slug == slug)).one()


def with_scheduler_settings(services: Services, **values: object) -> Services:
    """The same database with other ``scheduler.*`` settings."""
    settings: Settings = services.settings
    scheduler = settings.scheduler.model_copy(update=values)
    changed = settings.model_copy(update={"scheduler": scheduler})
    return Services(settings=changed, engine=services.engine, sessions=services.sessions)


class RecordingSend:
    """A send function that records each call (slug, when) and can mark the issue sent."""

    def __init__(self, *, mark_sent: bool = True) -> None:
        self.calls: list[tuple[str, float]] = []
        self.mark_sent = mark_sent
        self._lock = threading.Lock()

    def __call__(self, services: Services, slug: str) -> None:
        with self._lock:
            self.calls.append((slug, time.time()))
        if self.mark_sent:
            with transaction(services.sessions) as session:
                issue = session.scalars(select(Issue).where(Issue.slug == slug)).one()
                issue.status = IssueStatus.SENT

    def slugs(self) -> list[str]:
        """The slugs sent, in order."""
        return [slug for slug, _ in self.calls]


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll ``predicate`` until true or ``timeout`` seconds passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def soon(seconds: float) -> datetime:
    """An aware UTC instant ``seconds`` from now."""
    from subscribers.db import utcnow

    return utcnow() + timedelta(seconds=seconds)


def write_issue(
    services: Services,
    slug: str,
    date: str,
    *,
    draft: bool = False,
    body: str = "본문입니다. A short body.",
) -> Path:
    """Write ``issues/SLUG.md`` with a Korean-and-English title and the given ``date`` text."""
    folder = services.settings.path(services.settings.issues_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{slug}.md"
    lines = ["---", f'title: "예약 발송 {slug} / Scheduled {slug}"', f"date: {date}"]
    if draft:
        lines.append("draft: true")
    path.write_text("\n".join([*lines, "---", body, ""]), encoding="utf-8")
    return path


def iso(instant: datetime) -> str:
    """``2026-11-21 16:10:05.250000 +00:00``: a front matter date with an explicit offset."""
    return instant.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f +00:00")


class Serve:
    """A ``newsletter serve`` child process and everything it logged."""

    def __init__(self, config: Path, env: dict[str, str]) -> None:
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [*NEWSLETTER, "--config", str(config), "serve", "--port", "0"],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip())

    @property
    def log(self) -> str:
        """Everything it logged so far, one line a line."""
        return "\n".join(self.lines)

    def wait_started(self) -> None:
        """Until uvicorn listens (the scheduler started before that, in the lifespan)."""
        assert wait_for(lambda: "Uvicorn running on" in self.log, timeout=30), self.log

    def stop(self) -> None:
        """SIGTERM, then a kill after 15 s."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._reader.join(timeout=5)
