"""The archive: only sent issues, the view-in-browser page, the Atom feed."""

from __future__ import annotations

import feedparser
from fastapi.testclient import TestClient
from sqlalchemy import update

from newsletter.catalog import sync_issues
from newsletter.db import transaction
from newsletter.models import Issue, IssueStatus
from newsletter.services import Services
from tests.fixtures.issues import WriteIssue, issue_text


def _issues(services: Services, write_issue: WriteIssue) -> None:
    """Four issues: two sent (one per newsletter), one scheduled, one draft."""
    write_issue(
        "2026-01-05-first-sent.md",
        issue_text(title="보낸 첫 호", date="2026-01-05 09:00 +0900", preheader="첫 호 요약"),
    )
    write_issue(
        "2026-02-01-english-sent.md",
        issue_text(title="A letter sent", date="2026-02-01 09:00 +0900", newsletter="letters"),
    )
    write_issue(
        "2099-01-01-future.md", issue_text(title="아직 안 보낸 호", date="2099-01-01 09:00 +0900")
    )
    write_issue(
        "2026-03-01-draft.md",
        issue_text(title="초안인 호", date="2026-03-01 09:00 +0900", draft="true"),
    )
    sync_issues(services)
    with transaction(services.sessions) as session:
        session.execute(
            update(Issue)
            .where(Issue.slug.in_(["first-sent", "english-sent"]))
            .values(status=IssueStatus.SENT)
        )


def test_archive_lists_only_sent_issues(
    web_client: TestClient, services: Services, write_issue: WriteIssue
) -> None:
    _issues(services, write_issue)
    page = web_client.get("/archive").text
    assert "보낸 첫 호" in page and "A letter sent" in page
    assert "아직 안 보낸 호" not in page and "초안인 호" not in page
    assert 'type="application/atom+xml"' in page


def test_view_in_browser_has_no_personal_values(
    web_client: TestClient, services: Services, write_issue: WriteIssue
) -> None:
    _issues(services, write_issue)
    response = web_client.get("/archive/first-sent")
    assert response.status_code == 200
    assert "보낸 첫 호" in response.text
    assert "%%NL" not in response.text  # every placeholder filled
    assert "/unsubscribe/" not in response.text and "/preferences/" not in response.text
    for hidden in ("future", "draft", "nope"):
        assert web_client.get(f"/archive/{hidden}").status_code == 404


def test_feed_parses_and_lists_only_sent_issues(
    web_client: TestClient, services: Services, write_issue: WriteIssue
) -> None:
    _issues(services, write_issue)
    response = web_client.get("/feed.xml")
    assert response.headers["content-type"].startswith("application/atom+xml")
    feed = feedparser.parse(response.content)
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.version == "atom10"
    assert feed.feed.title == "Test Letters"
    titles = [entry.title for entry in feed.entries]
    assert titles == ["A letter sent", "보낸 첫 호"]  # newest first
    links = {entry.link for entry in feed.entries}
    assert links == {
        "https://news.example.org/archive/english-sent",
        "https://news.example.org/archive/first-sent",
    }
    assert feed.entries[1].summary == "첫 호 요약"


def test_empty_feed_is_valid(web_client: TestClient) -> None:
    feed = feedparser.parse(web_client.get("/feed.xml").content)
    assert not feed.bozo and feed.entries == []
