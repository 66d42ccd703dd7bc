"""Feeds → issue files, through a real HTTP server: encodings, formats, the import rules.

A brunch-style RSS feed in CP949 (declared EUC-KR in its prolog, or only in the HTTP
header) and a Jekyll-style Atom feed in UTF-8, with entries added, updated and removed
between polls; conditional GETs answered 304; a sent issue never rewritten nor resent.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update

from newsletter.automations.feeds import service
from newsletter.automations.feeds.models import Feed, FeedEntry
from newsletter.catalog import sync_issues
from newsletter.check import check_issue
from newsletter.db import transaction
from newsletter.delivery import engine
from newsletter.issues import ParsedIssue, issue_files, parse_issue_file
from newsletter.models import Issue, IssueStatus
from newsletter.services import Services
from subscribers.service import Source, subscribe
from tests.feed_support import FeedServer, Post, Route, brunch_rss, jekyll_atom, serve_feeds

KST = timezone(timedelta(hours=9))


@pytest.fixture
def feeds() -> Iterator[FeedServer]:
    yield from serve_feeds()


def brunch_posts() -> list[Post]:
    # 똠 and 햏 exist in CP949 only: a strict EUC-KR reading fails on them.
    return [
        Post(
            guid="https://brunch.example/@tester/12",
            title="똠방각하의 주간 기술 소식: 둘째 주",
            date="Mon, 30 Nov 2026 09:01:00 +0900",
            html="<p>햏, 둘째 주입니다.</p>",
            tags=("기술",),
        ),
        Post(
            guid="https://brunch.example/@tester/11",
            title="똠방각하의 주간 기술 소식: 첫째 주",
            date="Mon, 23 Nov 2026 09:01:00 +0900",
            html=(
                "<h3>이번 주 요약</h3><p>검색 엔진이 바뀌었습니다.</p>"
                '<p><img src="https://img.example/meeting.png" alt="회의실 사진"></p>'
                '<p><img src="https://img.example/chart.png"></p>'
                "<script>alert('x')</script><style>p { color: red }</style>"
                '<p><a href="javascript:alert(1)" onclick="steal()">수상한 링크</a> '
                '<a href="https://news.example/a" onmouseover="x()">기사 링크</a></p>'
                '<iframe src="https://video.example/embed/1" title="발표 영상"></iframe>'
                '<p><img src="data:image/png;base64,AAAA" alt="숨은 그림"></p>'
            ),
            tags=("기술", "뉴스"),
        ),
    ]


def by_title(services: Services) -> dict[str, ParsedIssue]:
    parsed = [parse_issue_file(services.settings, path) for path in issue_files(services.settings)]
    return {issue.title: issue for issue in parsed}


def file_bytes(services: Services) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in issue_files(services.settings)}


def test_brunch_rss_in_cp949_declared_euc_kr_becomes_clean_draft_issues(
    services: Services, feeds: FeedServer
) -> None:
    feeds.routes["/rss"] = Route(brunch_rss(brunch_posts(), codec="cp949", declared="EUC-KR"))
    service.add_feed(services, feeds.url("/rss"), newsletter_id="weekly", mode="draft")
    [report] = service.poll(services)

    assert report.status == "ok", report
    assert len(report.created) == 2
    issues = by_title(services)
    first = issues["똠방각하의 주간 기술 소식: 첫째 주"]
    assert "똠방각하의 주간 기술 소식: 둘째 주" in issues
    assert first.source_path.name == "2026-11-23-똠방각하의-주간-기술-소식-첫째-주.md"
    assert first.slug == "2026-11-23-똠방각하의-주간-기술-소식-첫째-주"
    assert first.draft is True
    assert first.publish_at_local == datetime(2026, 11, 23, 9, 1, tzinfo=KST)
    assert first.publish_at_local.utcoffset() == timedelta(hours=9)
    assert first.author == "김필자"
    assert first.categories == ("기술", "뉴스")
    assert first.extra["source"] == "https://brunch.example/@tester/11"
    assert first.extra["feed_entry"] == "https://brunch.example/@tester/11"
    assert first.extra["feed"] == feeds.url("/rss")
    body = first.body
    assert "### 이번 주 요약" in body
    assert "![회의실 사진](https://img.example/meeting.png)" in body
    # An image without alt text takes the entry's title (escaping nothing here).
    assert "![똠방각하의 주간 기술 소식: 첫째 주](https://img.example/chart.png)" in body
    assert "[기사 링크](https://news.example/a)" in body
    assert "[발표 영상](https://video.example/embed/1)" in body
    assert body.rstrip().endswith("[원문 보기](https://brunch.example/@tester/11)")
    unsafe_parts = ["script", "alert", "color: red", "onclick", "onmouseover"]
    unsafe_parts += ["javascript", "data:"]
    for unsafe in unsafe_parts:
        assert unsafe not in body
    assert "수상한 링크" in body  # the link's text stays, without its link
    report_check = check_issue(services.settings, first)
    assert report_check.errors == [], report_check.errors

    synced = sync_issues(services)
    assert sorted(synced.created) == sorted(report.created)
    with services.sessions() as session:
        statuses = set(session.scalars(select(Issue.status)))
    assert statuses == {IssueStatus.DRAFT}


def test_cp949_said_only_by_the_http_header(services: Services, feeds: FeedServer) -> None:
    feeds.routes["/rss"] = Route(
        brunch_rss(brunch_posts(), codec="cp949", declared=None),
        content_type="application/rss+xml; charset=ks_c_5601-1987",
    )
    service.add_feed(services, feeds.url("/rss"), newsletter_id="weekly", mode="draft")
    [report] = service.poll(services)
    assert report.status == "ok", report
    assert set(by_title(services)) == {
        "똠방각하의 주간 기술 소식: 첫째 주",
        "똠방각하의 주간 기술 소식: 둘째 주",
    }
    assert service.list_feeds(services)[0].title == "테스트 작가의 브런치"


def atom_posts() -> list[Post]:
    return [
        Post(
            guid="https://blog.example/news/2026/11/18/platforms",
            title="콘텐츠와 AI: 계약 & 플랫폼",
            date="2026-11-18T20:00:09+09:00",
            html=(
                "<h2>무게중심의 이동</h2><p>첫 문단입니다.</p>"
                "<ul><li>하나</li><li>둘</li></ul><blockquote><p>인용문</p></blockquote>"
                '<p><img src="images/diagram.png" alt="구조도"></p>'
            ),
            author="박기자",
            tags=("뉴스", "IT"),
            summary="계약과 플랫폼 이야기를 짧게 정리했습니다.",
        ),
        Post(
            guid="https://blog.example/news/2026/11/11/models",
            title="모델 이야기",
            date="2026-11-11T07:30:00-05:00",
            html="<p>시차가 있는 글.</p>",
        ),
    ]


def test_jekyll_atom_feed_keeps_offsets_summary_and_relative_images(
    services: Services, feeds: FeedServer
) -> None:
    feeds.routes["/feed.xml"] = Route(jekyll_atom(atom_posts()), "application/atom+xml")
    service.add_feed(services, feeds.url("/feed.xml"), newsletter_id="letters", mode="draft")
    [report] = service.poll(services)
    assert report.status == "ok", report
    issues = by_title(services)
    first = issues["콘텐츠와 AI: 계약 & 플랫폼"]
    assert first.newsletter_id == "letters"
    assert first.publish_at_local.isoformat() == "2026-11-18T20:00:09+09:00"
    assert first.preheader == "계약과 플랫폼 이야기를 짧게 정리했습니다."
    assert first.author == "박기자"
    assert first.categories == ("뉴스", "IT")
    assert "## 무게중심의 이동" in first.body
    assert "- 하나\n- 둘" in first.body
    assert "> 인용문" in first.body
    # Relative to the entry's xml:base; the newsletter is in English: its link-back label.
    assert "![구조도](https://blog.example/news/2026/11/18/images/diagram.png)" in first.body
    assert "[Read the original](https://blog.example/news/2026/11/18/platforms)" in first.body
    other = issues["모델 이야기"]
    assert other.publish_at_local.isoformat() == "2026-11-11T07:30:00-05:00"
    assert other.source_path.name == "2026-11-11-모델-이야기.md"
    assert check_issue(services.settings, first).errors == []


def test_entries_added_updated_and_removed_between_polls(
    services: Services, feeds: FeedServer
) -> None:
    posts = atom_posts()
    feeds.routes["/feed.xml"] = Route(jekyll_atom(posts), "application/atom+xml")
    service.add_feed(services, feeds.url("/feed.xml"), newsletter_id="weekly", mode="draft")
    [first] = service.poll(services)
    assert len(first.created) == 2
    before = file_bytes(services)
    platforms, models = sorted(before)[1], sorted(before)[0]

    updated = Post(**{**posts[0].__dict__, "html": "<p>고친 본문입니다.</p>"})
    updated.updated = "2026-11-19T08:00:00+09:00"
    added = Post(
        guid="https://blog.example/news/2026/11/25/new",
        title="새 글",
        date="2026-11-25T09:00:00+09:00",
        html="<p>새로 올린 글.</p>",
    )
    feeds.routes["/feed.xml"] = Route(jekyll_atom([added, updated]), "application/atom+xml")
    [second] = service.poll(services)

    assert second.status == "ok", second
    assert second.created == ["2026-11-25-새-글"]
    assert second.updated == [platforms.removesuffix(".md")]
    after = file_bytes(services)
    assert after[models] == before[models]  # removed from the feed: its file left alone
    assert "고친 본문입니다." in after[platforms].decode()
    assert "첫 문단입니다." not in after[platforms].decode()
    assert set(after) == {*before, "2026-11-25-새-글.md"}

    [third] = service.poll(services)
    assert (third.created, third.updated, third.unchanged) == ([], [], 2)
    assert file_bytes(services) == after


def test_etag_and_last_modified_are_honoured(services: Services, feeds: FeedServer) -> None:
    feeds.routes["/etag"] = Route(jekyll_atom(atom_posts()[:1]), etag='"v1"')
    feeds.routes["/modified"] = Route(
        brunch_rss(brunch_posts()[:1]), last_modified="Mon, 30 Nov 2026 00:00:00 GMT"
    )
    service.add_feed(services, feeds.url("/etag"), newsletter_id="weekly", mode="draft")
    service.add_feed(services, feeds.url("/modified"), newsletter_id="weekly", mode="draft")
    assert [r.status for r in service.poll(services)] == ["ok", "ok"]
    before = file_bytes(services)

    assert [r.status for r in service.poll(services)] == ["not_modified", "not_modified"]
    assert feeds.count("/etag", 304) == 1
    assert feeds.count("/modified", 304) == 1
    assert feeds.requests[-2]["if-none-match"] == '"v1"'
    assert feeds.requests[-1]["if-modified-since"] == "Mon, 30 Nov 2026 00:00:00 GMT"
    assert file_bytes(services) == before

    feeds.routes["/etag"] = Route(jekyll_atom(atom_posts()), etag='"v2"')
    reports = service.poll(services)
    assert [r.status for r in reports] == ["ok", "not_modified"]
    assert len(reports[0].created) == 1
    assert feeds.count("/etag", 200) == 2


def test_a_sent_issue_is_never_rewritten_or_sent_again(
    services: Services, feeds: FeedServer
) -> None:
    feeds.routes["/feed.xml"] = Route(jekyll_atom(atom_posts()), "application/atom+xml")
    service.add_feed(services, feeds.url("/feed.xml"), newsletter_id="weekly", mode="schedule")
    service.poll(services)  # the back catalogue: drafts
    ahead = (datetime.now(UTC) + timedelta(days=1)).astimezone(KST).isoformat(timespec="seconds")
    posts = [Post(guid="urn:sent", title="보낼 글", date=ahead, html="<p>처음 본문.</p>")]
    feeds.routes["/feed.xml"] = Route(jekyll_atom(posts), "application/atom+xml")
    [report] = service.poll(services)
    [slug] = report.created
    sync_issues(services)
    with transaction(services.sessions) as session:
        subscribe(
            session,
            email="reader@example.org",
            newsletters=["weekly"],
            source=Source.IMPORT,
            confirmed=True,
        )
    assert engine.start_send(services, slug).status == "sent"
    outbox = services.settings.path(services.settings.delivery.outbox_dir)
    sent_files = sorted(p for p in outbox.rglob("*") if p.is_file())
    assert len(sent_files) == 1
    before = file_bytes(services)

    changed = Post(**{**posts[0].__dict__, "html": "<p>보낸 뒤에 고친 본문.</p>"})
    feeds.routes["/feed.xml"] = Route(jekyll_atom([changed]), "application/atom+xml")
    [again] = service.poll(services)

    assert again.status == "ok"
    assert again.updated == []
    assert again.kept == [f"{slug}: its issue is sent: never rewritten"]
    assert file_bytes(services) == before
    assert sync_issues(services).changed_after_send == []
    assert engine.start_send(services, slug).ran is False
    assert sorted(p for p in outbox.rglob("*") if p.is_file()) == sent_files
    [quiet] = service.poll(services)  # said once: the entry's new state is recorded
    assert (quiet.kept, quiet.unchanged) == ([], 1)
    assert "처음 본문." in parse_issue_file(services.settings, find_file(services, slug)).body


def find_file(services: Services, slug: str) -> Path:
    return services.settings.path(services.settings.issues_dir) / f"{slug}.md"


def test_a_file_edited_by_hand_or_deleted_is_not_rewritten(
    services: Services, feeds: FeedServer
) -> None:
    posts = atom_posts()
    feeds.routes["/feed.xml"] = Route(jekyll_atom(posts), "application/atom+xml")
    service.add_feed(services, feeds.url("/feed.xml"), newsletter_id="weekly", mode="draft")
    service.poll(services)
    folder = services.settings.path(services.settings.issues_dir)
    edited, deleted = sorted(folder.glob("*.md"))
    edited.write_text(edited.read_text(encoding="utf-8").replace("draft: true", "draft: false"))
    deleted.unlink()

    changed = [Post(**{**post.__dict__, "html": "<p>고침</p>"}) for post in posts]
    feeds.routes["/feed.xml"] = Route(jekyll_atom(changed), "application/atom+xml")
    [report] = service.poll(services)

    assert report.updated == []
    assert sorted(report.kept) == sorted(
        [
            f"{edited.stem}: its file was edited by hand: left as it is",
            f"{deleted.stem}: its file was deleted: not written again",
        ]
    )
    assert "고침" not in edited.read_text(encoding="utf-8")
    assert not deleted.exists()


def test_slugs_never_collide_with_files_issues_or_each_other(
    services: Services, feeds: FeedServer
) -> None:
    folder = services.settings.path(services.settings.issues_dir)
    mine = folder / "2026-11-25-같은-제목.md"
    mine.write_text("---\ntitle: 편집자의 글\ndate: 2026-11-25\n---\n본문\n", encoding="utf-8")
    twins = [
        Post(f"urn:twin:{n}", "같은 제목", "2026-11-25T09:00:00+09:00", "<p>x</p>") for n in (1, 2)
    ]
    feeds.routes["/feed.xml"] = Route(jekyll_atom(twins), "application/atom+xml")
    service.add_feed(services, feeds.url("/feed.xml"), newsletter_id="weekly", mode="draft")
    [report] = service.poll(services)

    assert sorted(report.created) == ["2026-11-25-같은-제목-2", "2026-11-25-같은-제목-3"]
    assert mine.read_text(encoding="utf-8").startswith("---\ntitle: 편집자의 글")
    synced = sync_issues(services)
    assert synced.errors == []
    assert len(synced.created) == 3


def test_a_poll_stopped_before_recording_its_entry_does_not_write_it_twice(
    services: Services, feeds: FeedServer
) -> None:
    feeds.routes["/feed.xml"] = Route(jekyll_atom(atom_posts()), "application/atom+xml")
    service.add_feed(services, feeds.url("/feed.xml"), newsletter_id="weekly", mode="draft")
    [first] = service.poll(services)
    before = file_bytes(services)
    with transaction(services.sessions) as session:  # as if it stopped after the writes
        session.execute(delete(FeedEntry))

    [second] = service.poll(services)
    assert sorted(second.created) == sorted(first.created)
    assert file_bytes(services) == before
    [third] = service.poll(services)
    assert third.unchanged == 2


def test_schedule_mode_drafts_the_back_catalogue_and_schedules_new_entries(
    services: Services, feeds: FeedServer
) -> None:
    feeds.routes["/feed.xml"] = Route(jekyll_atom(atom_posts()), "application/atom+xml")
    service.add_feed(services, feeds.url("/feed.xml"), newsletter_id="weekly", mode="schedule")
    service.poll(services)
    assert {issue.draft for issue in by_title(services).values()} == {True}
    with transaction(services.sessions) as session:  # the feed was added yesterday
        session.execute(update(Feed).values(created_at=datetime.now(UTC) - timedelta(days=1)))

    now = datetime.now(UTC)
    past = Post(
        guid="urn:new:past",
        title="방금 올린 글",
        date=(now - timedelta(hours=1)).astimezone(KST).isoformat(timespec="seconds"),
        html="<p>지난 시각</p>",
    )
    ahead = Post(
        guid="urn:new:ahead",
        title="예약해 둔 글",
        date=(now + timedelta(days=2)).astimezone(KST).isoformat(timespec="seconds"),
        html="<p>앞선 시각</p>",
    )
    older = Post(
        guid="urn:new:older",
        title="뒤늦게 나타난 옛 글",
        date=(now - timedelta(days=3)).astimezone(KST).isoformat(timespec="seconds"),
        html="<p>피드에 늦게 실린 옛 글</p>",
    )
    feeds.routes["/feed.xml"] = Route(
        jekyll_atom([ahead, past, older, *atom_posts()]), "application/atom+xml"
    )
    [second] = service.poll(services)
    assert len(second.created) == 3
    issues = by_title(services)
    delay = services.settings.feeds.schedule_delay
    assert issues["방금 올린 글"].draft is False
    assert now + delay - timedelta(seconds=1) <= issues["방금 올린 글"].publish_at
    assert issues["방금 올린 글"].publish_at <= datetime.now(UTC) + delay
    assert issues["방금 올린 글"].publish_at_local.utcoffset() == timedelta(hours=9)
    assert issues["예약해 둔 글"].draft is False
    assert issues["예약해 둔 글"].publish_at.isoformat(timespec="seconds") == (
        (now + timedelta(days=2)).replace(microsecond=0).isoformat(timespec="seconds")
    )
    sync_issues(services)
    with services.sessions() as session:
        rows = session.execute(select(Issue.title, Issue.status))
        statuses = {title: status for title, status in rows}
    assert statuses["방금 올린 글"] == IssueStatus.SCHEDULED
    assert statuses["모델 이야기"] == IssueStatus.DRAFT
    assert statuses["뒤늦게 나타난 옛 글"] == IssueStatus.DRAFT  # dated before the feed was added


def test_entries_without_id_or_link_are_skipped_and_said(
    services: Services, feeds: FeedServer, tmp_path: Path
) -> None:
    rss = (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>'
        "<item><title>링크 없음</title><description>본문</description></item>"
        "<item><title>링크 있음</title><link>https://x.example/1</link></item>"
        "</channel></rss>"
    ).encode()
    feeds.routes["/rss"] = Route(rss)
    service.add_feed(services, feeds.url("/rss"), newsletter_id="weekly", mode="draft")
    [report] = service.poll(services)
    assert report.status == "ok"
    assert len(report.created) == 1
    assert report.kept == [f"{feeds.url('/rss')}: entry 1 has no id and no link; skipped"]
