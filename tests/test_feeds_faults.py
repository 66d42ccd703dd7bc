"""A feed that fails (500, a hang, garbage, too big, redirect loops, a refused connection,
a disk that refuses the write): recorded with back-off, no crash, no half-written file."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select

from newsletter.automations.feeds import service, store
from newsletter.automations.feeds.models import FeedEntry
from newsletter.automations.feeds.store import FeedRow
from newsletter.db import transaction
from newsletter.services import Services
from subscribers.db import utcnow
from tests.feed_support import FeedServer, Post, Route, jekyll_atom, serve_feeds

POSTS = [Post("urn:one", "하나", "2026-11-20T09:00:00+09:00", "<p>본문</p>")]


@pytest.fixture
def feeds() -> Iterator[FeedServer]:
    yield from serve_feeds()


def with_feeds(services: Services, **values: object) -> Services:
    """The same database with other ``feeds.*`` settings."""
    feeds = services.settings.feeds.model_copy(update=values)
    settings = services.settings.model_copy(update={"feeds": feeds})
    return Services(settings=settings, engine=services.engine, sessions=services.sessions)


def folder_listing(services: Services) -> list[str]:
    """Every name in issues/, hidden temp files included."""
    return sorted(os.listdir(services.settings.path(services.settings.issues_dir)))


def the_feed(services: Services) -> FeedRow:
    [feed] = service.list_feeds(services)
    return feed


def entry_rows(services: Services) -> int:
    with services.sessions() as session:
        return int(session.scalar(select(func.count(FeedEntry.id))) or 0)


def test_server_errors_back_off_exponentially_up_to_the_cap_then_recover(
    services: Services, feeds: FeedServer
) -> None:
    quick = with_feeds(
        services, poll_interval=timedelta(minutes=10), backoff_max=timedelta(hours=1)
    )
    feeds.routes["/feed.xml"] = Route(status=500)
    service.add_feed(quick, feeds.url("/feed.xml"), newsletter_id="weekly", mode="draft")

    waits = []
    for expected_failures in (1, 2, 3, 4):
        [report] = service.poll(quick)
        assert report.status == "failed"
        feed = the_feed(quick)
        assert feed.failures == expected_failures
        assert feed.last_error == f"{feeds.url('/feed.xml')}: HTTP 500 Internal Server Error"
        assert feed.last_polled_at is not None
        waits.append(feed.next_poll_at - feed.last_polled_at)
    assert waits == [
        timedelta(minutes=20),
        timedelta(minutes=40),
        timedelta(hours=1),  # 80 minutes, capped by feeds.backoff_max
        timedelta(hours=1),
    ]
    assert folder_listing(quick) == []

    feeds.routes["/feed.xml"] = Route(jekyll_atom(POSTS), "application/atom+xml")
    [report] = service.poll(quick)
    assert report.status == "ok"
    feed = the_feed(quick)
    assert (feed.failures, feed.last_error) == (0, "")
    assert feed.last_polled_at is not None
    assert feed.next_poll_at - feed.last_polled_at == timedelta(minutes=10)
    assert len(folder_listing(quick)) == 1


@pytest.mark.parametrize(
    ("route", "error"),
    [
        (Route(b"<html><body><p>not a feed</p></body></html>", "text/html"), "not an RSS or Atom"),
        (Route(b"\x00\x01\x02{{garbage", "application/xml"), "not an RSS or Atom"),
        (Route(b"<rss version='2.0'><channel><item>" * 4000, "application/rss+xml"), "larger than"),
        (Route(jekyll_atom(POSTS), "application/atom+xml", delay=3), "timed out after 0.5 s"),
        (Route(status=404), "HTTP 404"),
        (Route(status=302, location="/feed.xml"), "more than 5 redirects"),
    ],
    ids=["html-page", "garbage", "too-large", "hang", "not-found", "redirect-loop"],
)
def test_a_failing_feed_is_recorded_without_a_crash_or_a_file(
    services: Services, feeds: FeedServer, route: Route, error: str
) -> None:
    strict = with_feeds(services, timeout=timedelta(seconds=0.5), max_bytes=20_000)
    feeds.routes["/feed.xml"] = route
    service.add_feed(strict, feeds.url("/feed.xml"), newsletter_id="weekly", mode="draft")
    [report] = service.poll(strict)
    assert report.status == "failed"
    assert error in report.errors[0]
    feed = the_feed(strict)
    assert feed.failures == 1
    assert error in feed.last_error
    assert folder_listing(strict) == []
    assert entry_rows(strict) == 0


def test_redirects_are_followed_within_the_bound(services: Services, feeds: FeedServer) -> None:
    feeds.routes["/old"] = Route(status=301, location="/moved")
    feeds.routes["/moved"] = Route(status=302, location="/feed.xml")
    feeds.routes["/feed.xml"] = Route(jekyll_atom(POSTS), "application/atom+xml")
    service.add_feed(services, feeds.url("/old"), newsletter_id="weekly", mode="draft")
    [report] = service.poll(services)
    assert report.status == "ok", report
    assert len(report.created) == 1
    one = with_feeds(services, max_redirects=1)
    [refused] = service.poll(one)
    assert refused.errors == [f"{feeds.url('/old')}: more than 1 redirects"]


def test_a_refused_connection_is_recorded(services: Services) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    service.add_feed(
        services, f"http://127.0.0.1:{port}/feed", newsletter_id="weekly", mode="draft"
    )
    [report] = service.poll(services)
    assert report.status == "failed"
    assert "ConnectError" in the_feed(services).last_error


def test_a_write_that_fails_leaves_no_file_and_no_validators(
    services: Services, feeds: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    feeds.routes["/feed.xml"] = Route(jekyll_atom(POSTS), "application/atom+xml", etag='"v1"')
    service.add_feed(services, feeds.url("/feed.xml"), newsletter_id="weekly", mode="draft")

    def refuse(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    [report] = service.poll(services)
    monkeypatch.undo()
    assert report.status == "failed"
    assert "No space left on device" in the_feed(services).last_error
    assert folder_listing(services) == []  # neither the file nor its temp file
    assert entry_rows(services) == 0
    assert the_feed(services).etag == ""  # so the next poll is not answered 304

    [retry] = service.poll(services)
    assert retry.status == "ok"
    assert len(retry.created) == 1
    assert feeds.count("/feed.xml", 304) == 0
    assert the_feed(services).etag == '"v1"'


def test_only_due_feeds_are_polled_and_never_one_another_process_polls(
    services: Services, feeds: FeedServer
) -> None:
    feeds.routes["/feed.xml"] = Route(jekyll_atom(POSTS), "application/atom+xml")
    service.add_feed(services, feeds.url("/feed.xml"), newsletter_id="weekly", mode="draft")
    assert [r.status for r in service.poll_due(services)] == ["ok"]
    assert service.poll_due(services) == []  # next due in poll_interval
    assert feeds.count("/feed.xml", 200) == 1

    now = utcnow()
    with transaction(services.sessions) as session:  # another process is polling it
        assert store.claim(
            session,
            the_feed(services).id,
            now=now,
            until=now + timedelta(minutes=5),
            due_only=False,
        )
    [busy] = service.poll(services)
    assert busy.status == "busy"
    assert feeds.count("/feed.xml", 200) == 1


def test_a_feed_removed_while_due_is_reported_gone(services: Services, feeds: FeedServer) -> None:
    feeds.routes["/feed.xml"] = Route(jekyll_atom(POSTS), "application/atom+xml")
    feed = service.add_feed(services, feeds.url("/feed.xml"), newsletter_id="weekly", mode="draft")
    service.remove_feed(services, str(feed.id))
    with httpx.Client() as client:
        report = service.poll_feed(services, feed.id, client=client, due_only=True)
    assert report.status == "gone"
    assert feeds.count("/feed.xml", 200) == 0
