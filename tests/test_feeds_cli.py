"""``newsletter feeds add|list|remove|poll`` through the real CLI and a real feed server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from newsletter.cli import app
from newsletter.errors import ConfigError, FeedError, FeedNotFound
from newsletter.settings import Settings
from tests.feed_support import FeedServer, Post, Route, brunch_rss, serve_feeds

runner = CliRunner()
POSTS = [
    Post("https://brunch.example/@t/1", "첫 글", "Mon, 23 Nov 2026 09:01:00 +0900", "<p>본문</p>")
]


@pytest.fixture
def feeds() -> Iterator[FeedServer]:
    yield from serve_feeds()


def run(config_path: Path, *args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, ["--config", str(config_path), "feeds", *args])


def test_add_poll_list_remove(config_path: Path, settings: Settings, feeds: FeedServer) -> None:
    feeds.routes["/rss"] = Route(brunch_rss(POSTS))
    url = feeds.url("/rss")
    added = run(config_path, "add", url, "--newsletter", "weekly", "--mode", "schedule")
    assert added.exit_code == 0, added.output
    assert f"feed 1 added: {url} → weekly (schedule)" in added.stdout

    polled = run(config_path, "poll", "--json")
    assert polled.exit_code == 0, polled.output
    [report] = json.loads(polled.stdout)
    assert report["status"] == "ok"
    assert report["created"] == ["2026-11-23-첫-글"]
    assert (settings.path(settings.issues_dir) / "2026-11-23-첫-글.md").exists()

    listed = run(config_path, "list", "--json")
    [feed] = json.loads(listed.stdout)
    assert (feed["url"], feed["mode"], feed["entries"], feed["failures"]) == (url, "schedule", 1, 0)
    assert feed["title"] == "테스트 작가의 브런치"

    again = run(config_path, "poll", "1")
    assert again.exit_code == 0, again.output
    assert "0 new, 0 updated, 1 unchanged" in again.stdout

    removed = run(config_path, "remove", url)
    assert removed.exit_code == 0, removed.output
    assert "no feeds" in run(config_path, "list").stdout
    assert (settings.path(settings.issues_dir) / "2026-11-23-첫-글.md").exists()


def test_list_shows_the_last_error_and_poll_fails(
    config_path: Path, settings: Settings, feeds: FeedServer
) -> None:
    feeds.routes["/rss"] = Route(status=503)
    run(config_path, "add", feeds.url("/rss"), "--newsletter", "weekly")
    polled = run(config_path, "poll")
    assert isinstance(polled.exception, FeedError)
    assert "1 of 1 feed(s) failed" in str(polled.exception)
    listed = run(config_path, "list")
    assert "failing (1 in a row)" in listed.stdout
    assert "HTTP 503 Service Unavailable" in listed.stdout


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["add", "ftp://example.org/feed", "--newsletter", "weekly"], FeedError),
        (["add", "https://example.org/feed", "--newsletter", "nope"], ConfigError),
        (["add", "https://example.org/feed", "--newsletter", "weekly", "--mode", "now"], FeedError),
        (["remove", "42"], FeedNotFound),
        (["poll", "https://example.org/none"], FeedNotFound),
    ],
)
def test_bad_input_is_refused(
    config_path: Path, settings: Settings, args: list[str], error: type[Exception]
) -> None:
    result = run(config_path, *args)
    assert isinstance(result.exception, error), result.output


def test_a_feed_added_twice_is_one_line_and_exit_65(config_path: Path, settings: Settings) -> None:
    env = {**os.environ, "NEWSLETTER_CONFIG": str(config_path)}
    command = [sys.executable, "-m", "newsletter", "feeds", "add", "https://example.org/feed.xml"]
    command += ["--newsletter", "weekly"]
    first = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert first.returncode == 0, first.stderr
    second = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert second.returncode == 65
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "https://example.org/feed.xml: this feed was added before" in lines[0]
