"""Parsing issue files: front matter, messy files, slugs, timezones, refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from newsletter.errors import IssueError, IssueNotFound
from newsletter.issues import find_issue, find_issue_or_file, parse_issue_file, parse_issue_text
from newsletter.render import render_issue
from newsletter.settings import Settings
from tests.conftest import seed_path
from tests.fixtures.issues import WriteIssue, issue_text


def test_reads_every_field(settings: Settings, write_issue: WriteIssue) -> None:
    path = write_issue(
        "2026-12-07-hello.md",
        issue_text(
            newsletter="letters",
            subject='"Subject line"',
            preheader="Preview text",
            author="Kim",
            categories="[뉴스, IT]",
            tags="a, b",
        ),
    )
    issue = parse_issue_file(settings, path)
    assert issue.slug == "hello"
    assert issue.newsletter_id == "letters"
    assert issue.title == "테스트 호"
    assert issue.subject == "Subject line"
    assert issue.preheader == "Preview text"
    assert issue.author == "Kim"
    assert issue.categories == ("뉴스", "IT")
    assert issue.tags == ("a", "b")
    assert issue.draft is False
    assert issue.publish_at == datetime(2026, 12, 7, 0, 0, tzinfo=UTC)
    assert issue.warnings == ()
    assert len(issue.source_hash) == 64


def test_subject_defaults_to_title_and_newsletter_to_default(
    settings: Settings, write_issue: WriteIssue
) -> None:
    issue = parse_issue_file(settings, write_issue("x.md"))
    assert issue.subject == issue.title
    assert issue.newsletter_id == "weekly"


def test_offset_in_file_wins_over_site_timezone(
    settings: Settings, write_issue: WriteIssue
) -> None:
    issue = parse_issue_file(settings, write_issue("a.md", date="2026-12-07 09:00 -0500"))
    assert issue.publish_at == datetime(2026, 12, 7, 14, 0, tzinfo=UTC)
    assert issue.publish_at_local.utcoffset() == timedelta(hours=-5)


def test_date_without_offset_is_in_site_timezone(
    settings: Settings, write_issue: WriteIssue
) -> None:
    issue = parse_issue_file(settings, write_issue("a.md", date="2026-12-07 09:00"))
    assert settings.site.timezone == "Asia/Seoul"
    assert issue.publish_at == datetime(2026, 12, 7, 0, 0, tzinfo=UTC)
    date_only = parse_issue_file(settings, write_issue("b.md", date="2026-12-07"))
    assert date_only.publish_at == datetime(2026, 12, 6, 15, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("name", "slug_field", "expected"),
    [
        ("2026-12-07-weekly-notes.md", None, "weekly-notes"),
        ("notes.markdown", None, "notes"),
        ("2026-12-07-x.md", "custom-slug", "custom-slug"),
    ],
)
def test_slug_rule(
    settings: Settings, write_issue: WriteIssue, name: str, slug_field: str | None, expected: str
) -> None:
    fields = {"slug": slug_field} if slug_field else {}
    assert parse_issue_file(settings, write_issue(name, **fields)).slug == expected


def test_draft_flag(settings: Settings, write_issue: WriteIssue) -> None:
    assert parse_issue_file(settings, write_issue("d.md", draft="true")).draft is True
    unclear = parse_issue_file(settings, write_issue("e.md", draft="maybe"))
    assert unclear.draft is True
    assert any("e.md:4" in w and "draft" in w for w in unclear.warnings)


def test_unquoted_colon_in_title_imports_with_warning_naming_file_and_line(
    settings: Settings, write_issue: WriteIssue
) -> None:
    path = write_issue("c.md", title="AI의 이동: 계약, 복지")
    issue = parse_issue_file(settings, path)
    assert issue.title == "AI의 이동: 계약, 복지"
    assert any(w.startswith("issues/c.md:2:") and "YAML" in w for w in issue.warnings)


def test_bom_and_crlf_are_repaired_with_warnings(
    settings: Settings, write_issue: WriteIssue
) -> None:
    text = issue_text(title="줄 끝", body="첫 줄\n둘째 줄\n").replace("\n", "\r\n")
    path = write_issue("bom.md", b"\xef\xbb\xbf" + text.encode("utf-8"))
    issue = parse_issue_file(settings, path)
    assert issue.title == "줄 끝"
    assert "\r" not in issue.body
    joined = "\n".join(issue.warnings)
    assert "bom.md:1: removed a UTF-8 byte order mark" in joined
    assert "CRLF" in joined


@pytest.mark.parametrize("encoding", ["cp949", "euc_kr"])
def test_legacy_korean_encodings_decode(
    settings: Settings, write_issue: WriteIssue, encoding: str
) -> None:
    text = issue_text(title="옛 인코딩으로 저장한 호", body="한국어 본문입니다.\n")
    issue = parse_issue_file(settings, write_issue("old.md", text.encode(encoding)))
    assert issue.title == "옛 인코딩으로 저장한 호"
    assert "한국어 본문" in issue.body
    assert any("old.md:2: not UTF-8" in w for w in issue.warnings)


def test_missing_title_is_refused_with_one_line(
    settings: Settings, write_issue: WriteIssue
) -> None:
    path = write_issue("no-title.md", "---\ndate: 2026-12-07\n---\nbody\n")
    with pytest.raises(IssueError) as caught:
        parse_issue_file(settings, path)
    message = str(caught.value)
    assert message.startswith("issues/no-title.md:") and "no title" in message
    assert "\n" not in message


def test_missing_date_is_refused(settings: Settings, write_issue: WriteIssue) -> None:
    with pytest.raises(IssueError, match="no date"):
        parse_issue_file(settings, write_issue("nodate.md", "---\ntitle: T\n---\nbody\n"))
    with pytest.raises(IssueError, match=r"nodate2.md:3: no date"):
        parse_issue_file(settings, write_issue("nodate2.md", "---\ntitle: T\ndate: soon\n---\n"))


def test_date_recovered_from_file_name(settings: Settings, write_issue: WriteIssue) -> None:
    path = write_issue("2026-12-07-named.md", "# 제목만 있는 파일\n\n본문\n")
    issue = parse_issue_file(settings, path)
    assert issue.title == "제목만 있는 파일"
    assert issue.publish_at_local.date().isoformat() == "2026-12-07"
    assert len(issue.warnings) == 2


def test_unknown_newsletter_is_refused(settings: Settings, write_issue: WriteIssue) -> None:
    with pytest.raises(IssueError, match=r"x.md:4: unknown newsletter 'nope'"):
        parse_issue_file(settings, write_issue("x.md", newsletter="nope"))


def test_find_issue_by_slug_path_and_explicit_slug(
    settings: Settings, write_issue: WriteIssue
) -> None:
    path = write_issue("2026-12-07-by-name.md")
    write_issue("other.md", slug="explicit")
    assert find_issue(settings, "by-name").source_path == path
    assert find_issue_or_file(settings, str(path)).slug == "by-name"
    assert find_issue(settings, "explicit").slug == "explicit"
    with pytest.raises(IssueNotFound):
        find_issue(settings, "missing")


def test_find_issue_never_takes_a_path(settings: Settings, write_issue: WriteIssue) -> None:
    path = write_issue("2026-12-07-by-name.md")
    for text in (str(path), path.name, "config.yaml", str(settings.base_dir / "config.yaml")):
        with pytest.raises(IssueNotFound):
            find_issue(settings, text)


def test_jekyll_seed_parses_with_colon_title_and_utc_instant(settings: Settings) -> None:
    issue = parse_issue_file(settings, seed_path("001"))
    assert ": " in issue.title
    assert issue.title.startswith("콘텐츠와 AI의 무게중심 이동: ")
    assert issue.publish_at == datetime(2025, 8, 18, 11, 0, 9, tzinfo=UTC)
    assert issue.categories == ("뉴스", "IT")
    assert any(":2:" in w for w in issue.warnings)


_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)
_dates = st.one_of(
    st.datetimes().map(str),
    st.sampled_from(["2026-12-07 09:00 +0900", "2026-12-07", "2026-12-07T09:00:00Z"]),
)
_values = st.one_of(
    _text,
    st.integers(),
    st.booleans(),
    st.lists(_text, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]"),
)


@hyp_settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    fields=st.fixed_dictionaries(
        {},
        optional={
            "title": _values,
            "date": st.one_of(_values, _dates),
            "draft": _values,
            "slug": _values,
            "newsletter": st.one_of(_values, st.sampled_from(["weekly", "letters"])),
            "tags": _values,
            "subject": _values,
        },
    ),
    body=st.text(max_size=300),
    crlf=st.booleans(),
)
def test_any_file_renders_or_is_refused_with_one_line(
    settings: Settings, fields: dict[str, object], body: str, crlf: bool
) -> None:
    text = "---\n" + "".join(f"{k}: {v}\n" for k, v in fields.items()) + "---\n" + body
    if crlf:
        text = text.replace("\n", "\r\n")
    path = Path(settings.path(settings.issues_dir)) / "2026-01-05-prop.md"
    try:
        issue = parse_issue_text(settings, path, text.encode("utf-8", "surrogatepass"))
    except IssueError as exc:
        assert "\n" not in str(exc) and "2026-01-05-prop.md" in str(exc)
        return
    rendered = render_issue(settings, issue)
    assert rendered.html.startswith("<!doctype html>")
    assert issue.publish_at.tzinfo is not None


@hyp_settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    prefix=st.sampled_from(
        [b"", b"---\ntitle: t\ndate: 2026-01-01\n---\n", b"\xef\xbb\xbf---\r\ntitle: a: b\r\n"]
    ),
    raw=st.binary(max_size=300),
)
def test_arbitrary_bytes_parse_or_are_refused(
    settings: Settings, prefix: bytes, raw: bytes
) -> None:
    path = Path(settings.path(settings.issues_dir)) / "2026-01-05-bytes.md"
    try:
        issue = parse_issue_text(settings, path, prefix + raw)
    except IssueError as exc:
        assert "\n" not in str(exc)
        return
    assert render_issue(settings, issue).html


@pytest.mark.parametrize("when", ["0001-01-01 00:00 +0900", "0001-01-01", "9999-12-31 23:59 -1200"])
def test_a_date_at_the_ends_of_the_calendar_is_unreadable_not_a_crash(
    settings: Settings, write_issue: WriteIssue, when: str
) -> None:
    with pytest.raises(IssueError, match="no date"):
        parse_issue_file(settings, write_issue("calendar-end.md", date=when))
    dated = parse_issue_file(settings, write_issue("2026-12-07-named.md", date=when))
    assert dated.publish_at_local.year == 2026  # the file name's date, with a warning
    assert any("cannot read date" in warning for warning in dated.warnings)
