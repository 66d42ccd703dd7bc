"""A real ``newsletter serve`` polls a feed on its own: the back catalogue becomes drafts, a
new entry in ``schedule`` mode becomes a scheduled issue that the scheduler sends once, and
an update of that entry after the send changes nothing."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from newsletter.automations.feeds import service
from newsletter.issues import issue_files, parse_issue_file
from newsletter.models import IssueStatus
from newsletter.services import Services
from tests.feed_support import FeedServer, Post, Route, jekyll_atom, serve_feeds
from tests.scheduler_helpers import status_of, wait_for
from tests.test_scheduler_serve import READERS, Serve, outbox_files, project, serves

pytestmark = pytest.mark.slow
__all__ = ["project", "serves"]  # fixtures shared with test_scheduler_serve
KST = timezone(timedelta(hours=9))
OLD = Post("urn:old", "지난달 글", "2026-10-01T09:00:00+09:00", "<p>예전 글</p>")


@pytest.fixture
def feeds() -> Iterator[FeedServer]:
    yield from serve_feeds()


def titles(services: Services) -> dict[str, bool]:
    """Each issue file's title and whether it is a draft."""
    parsed = [parse_issue_file(services.settings, p) for p in issue_files(services.settings)]
    return {issue.title: issue.draft for issue in parsed}


def test_serve_polls_the_feed_and_sends_a_new_entry_once(
    project: Services, tmp_path: Path, serves: list[Serve], feeds: FeedServer
) -> None:
    feeds.routes["/feed.xml"] = Route(jekyll_atom([OLD]), "application/atom+xml", etag='"1"')
    service.add_feed(project, feeds.url("/feed.xml"), newsletter_id="weekly", mode="schedule")
    env = dict(os.environ)
    env.update(
        NEWSLETTER_SECRET_KEY="test-secret-key-0123456789abcdef",
        NEWSLETTER_FEEDS__POLL_INTERVAL="1s",
        NEWSLETTER_FEEDS__SCHEDULE_DELAY="2s",
        NEWSLETTER_SCHEDULER__SYNC_INTERVAL="600s",  # the feed job syncs what it writes
        PYTHONUNBUFFERED="1",
    )
    serve = Serve(tmp_path / "config.yaml", env)
    serves.append(serve)
    serve.wait_started()
    assert wait_for(lambda: titles(project) == {"지난달 글": True}, timeout=20), serve.log
    assert wait_for(lambda: feeds.count("/feed.xml", 304) >= 1, timeout=10), serve.log

    # Published after the feed was added, a moment before the poll that finds it.
    published = (datetime.now(UTC) - timedelta(seconds=1)).replace(microsecond=0)
    new = Post("urn:new", "새 소식", published.astimezone(KST).isoformat(), "<p>새 본문</p>")
    feeds.routes["/feed.xml"] = Route(jekyll_atom([new, OLD]), "application/atom+xml", etag='"2"')
    assert wait_for(lambda: "새 소식" in titles(project), timeout=10), serve.log
    assert titles(project)["새 소식"] is False
    [path] = [p for p in issue_files(project.settings) if "새-소식" in p.name]
    slug = path.stem
    written = path.read_bytes()
    assert wait_for(lambda: len(outbox_files(project.settings)) >= len(READERS), timeout=30), (
        serve.log
    )
    assert wait_for(lambda: status_of(project, slug) == IssueStatus.SENT, timeout=10)
    assert "feeds: " in serve.log and f"new issue {slug}" in serve.log
    assert status_of(project, "2026-10-01-지난달-글") == IssueStatus.DRAFT

    changed = Post("urn:new", "새 소식", new.date, "<p>보낸 뒤 고친 본문</p>")
    feeds.routes["/feed.xml"] = Route(
        jekyll_atom([changed, OLD]), "application/atom+xml", etag='"3"'
    )
    assert wait_for(lambda: _asked_again(feeds, '"3"'), timeout=10), serve.log
    assert path.read_bytes() == written
    assert len(outbox_files(project.settings)) == len(READERS)
    assert serve.process.poll() is None


def _asked_again(feeds: FeedServer, etag: str) -> bool:
    # A request carrying the latest ETag: the poll that fetched that version is over.
    return any(headers.get("if-none-match") == etag for headers in feeds.requests)
