"""A real ``newsletter serve`` sees a file saved into ``issues/`` at once (watchfiles).

The periodic sync is set to ten minutes here, so only the watcher can get an issue saved
a few seconds before its instant out on time. The scheduler's end-of-send log line (with
the counts) and the start-up hint about the disabled dashboard are checked on the same run.
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path

import pytest

from newsletter.models import IssueStatus
from newsletter.services import Services
from subscribers.db import utcnow
from tests.scheduler_helpers import iso, status_of, wait_for
from tests.test_scheduler_serve import READERS, Serve, outbox_files, project, serves

pytestmark = pytest.mark.slow
__all__ = ["project", "serves"]  # fixtures shared with test_scheduler_serve

ISSUE = """---
title: 저장하자마자 / Saved just now
date: {date}
newsletter: weekly
---

본문입니다. A short body.
"""


def test_issue_saved_while_serve_runs_is_planned_at_once_and_sent_on_time(
    project: Services, tmp_path: Path, serves: list[Serve]
) -> None:
    env = dict(os.environ)
    env.update(
        NEWSLETTER_SECRET_KEY="test-secret-key-0123456789abcdef",
        NEWSLETTER_SCHEDULER__SYNC_INTERVAL="600s",  # the periodic sync cannot be the cause
        PYTHONUNBUFFERED="1",
    )
    env.pop("NEWSLETTER_ADMIN_PASSWORD", None)
    serve = Serve(tmp_path / "config.yaml", env)
    serves.append(serve)
    serve.wait_started()
    assert "watching" in serve.log
    assert "NEWSLETTER_ADMIN_PASSWORD to enable it" in serve.log  # first-run hint
    instant = utcnow() + timedelta(seconds=6)
    path = project.settings.path(project.settings.issues_dir) / "saved-now.md"
    path.write_text(ISSUE.format(date=iso(instant)), encoding="utf-8")
    assert wait_for(lambda: "saved-now planned" in serve.log, timeout=15), serve.log
    assert wait_for(lambda: len(outbox_files(project.settings)) >= len(READERS), timeout=30), (
        serve.log
    )
    first_written = min(f.stat().st_mtime for f in outbox_files(project.settings))
    assert first_written >= instant.timestamp()  # not early
    assert wait_for(lambda: status_of(project, "saved-now") == IssueStatus.SENT)
    pattern = re.compile(r"send \d+ of saved-now finished: sent; (.*) \(")
    assert wait_for(lambda: pattern.search(serve.log) is not None), serve.log
    finished = pattern.search(serve.log)
    assert finished is not None
    assert f"accepted {len(READERS)}" in finished[1]
    print(f"\nwatched issue: lateness {serve.lateness()['saved-now'] * 1000:.1f} ms")
