"""Rendering: the layout, the text part, placeholders and personalization."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from newsletter import markdown
from newsletter.errors import RenderError
from newsletter.issues import ParsedIssue, parse_issue_file
from newsletter.render import (
    PERSONAL_KEYS,
    email_environment,
    mjml_to_html,
    preview_values,
    render_issue,
)
from newsletter.settings import Settings
from tests.conftest import seed_path
from tests.fixtures.issues import WriteIssue, issue_text, outline

VALUES = {
    "name": "김 <독자> & Co",
    "unsubscribe_url": "https://news.example.org/unsubscribe/tok?a=1&b=2",
    "preferences_url": "https://news.example.org/preferences/tok",
    "view_url": "https://news.example.org/archive/x",
}

BODY = """## 소제목
첫 줄 바로 아래 문단
둘째 줄

- 항목 하나
- [링크](https://example.org/a) 둘

1. 첫째
2. 둘째

> 인용문

| 열 | 값 |
|---|---|
| a | b |

~~지움~~ 자동 링크 https://example.org/auto 그리고 각주[^1]

![설명 그림](https://example.org/p.png)

[^1]: 각주 본문
"""


@pytest.fixture
def issue(settings: Settings, write_issue: WriteIssue) -> ParsedIssue:
    path = write_issue("2026-12-07-render.md", issue_text(body=BODY, preheader="미리 보기 문장"))
    return parse_issue_file(settings, path)


def test_layout_has_email_essentials(settings: Settings, issue: ParsedIssue) -> None:
    rendered = render_issue(settings, issue)
    html = rendered.html
    assert re.search(r'<html[^>]* lang="ko"', html)
    assert 'charset="UTF-8"' in html or "charset=UTF-8" in html
    assert '<meta name="color-scheme" content="light dark"' in html
    assert '<meta name="supported-color-schemes" content="light dark"' in html
    assert "prefers-color-scheme: dark" in html
    assert "word-break: keep-all" in html
    assert "Apple SD Gothic Neo" in html and "Malgun Gothic" in html
    assert "미리 보기 문장" in html and "display:none" in html.replace(" ", "")
    assert "Weekly" in html  # header: the newsletter's name
    assert "Every Monday." in html  # footer: why you get this
    assert "1 Test Street, Testville" in html
    for key in PERSONAL_KEYS:
        assert rendered.placeholders_html[key] in html
    assert rendered.lang == "ko" and rendered.subject == issue.title


def test_english_newsletter_renders_in_english(settings: Settings, write_issue: WriteIssue) -> None:
    issue = parse_issue_file(settings, write_issue("en.md", newsletter="letters", title="Hello"))
    rendered = render_issue(settings, issue)
    assert rendered.lang == "en" and 'lang="en"' in rendered.html
    html, text = rendered.personalize({**VALUES, "name": ""})
    assert "Hi there," in html and "Hi there," in text
    assert "Unsubscribe" in html


def test_markdown_structure_in_html(settings: Settings, issue: ParsedIssue) -> None:
    html = render_issue(settings, issue).html
    structure = outline(html)
    assert structure.of("h2") == ["소제목"]
    assert "첫 줄 바로 아래 문단<br />\n둘째 줄" in html
    assert structure.of("li")[:4] == ["항목 하나", "링크 둘", "첫째", "둘째"]
    assert structure.of("blockquote") == ["인용문"]
    assert "<table" in html and re.search(r"<s( [^>]*)?>지움</s>", html)
    assert 'href="https://example.org/auto"' in html
    assert 'alt="설명 그림"' in html and "max-width:100%" in html
    assert 'class="footnotes"' in html


def test_text_part_says_the_same(settings: Settings, issue: ParsedIssue) -> None:
    text = render_issue(settings, issue).personalize(VALUES)[1]
    assert "소제목\n===" in text
    assert "첫 줄 바로 아래 문단\n둘째 줄" in text
    assert "- 항목 하나\n- 링크 (https://example.org/a) 둘" in text
    assert "1. 첫째\n2. 둘째" in text
    assert "> 인용문" in text
    assert "a | b" in text
    assert "https://example.org/auto" in text
    assert "[설명 그림] https://example.org/p.png" in text
    assert "[1] 각주 본문" in text
    assert "<" not in text.replace("<독자>", "")  # no markup leaks into the text part


def test_placeholders_differ_per_part_and_are_plain_ascii(
    settings: Settings, issue: ParsedIssue
) -> None:
    rendered = render_issue(settings, issue)
    html_markers = set(rendered.placeholders_html.values())
    text_markers = set(rendered.placeholders_text.values())
    assert not html_markers & text_markers
    for marker in html_markers | text_markers:
        assert marker.isascii() and re.fullmatch(r"[%A-Z_]+", marker)
        assert marker not in BODY
    for marker in text_markers:
        assert marker in rendered.text
    # MJML left the markers intact inside href attributes.
    assert f'href="{rendered.placeholders_html["unsubscribe_url"]}"' in rendered.html
    assert f'href="{rendered.placeholders_html["view_url"]}"' in rendered.html


def test_personalize_escapes_html_and_keeps_text_raw(
    settings: Settings, issue: ParsedIssue
) -> None:
    html, text = render_issue(settings, issue).personalize(VALUES)
    assert "김 &lt;독자&gt; &amp; Co님, 안녕하세요." in html
    assert 'href="https://news.example.org/unsubscribe/tok?a=1&amp;b=2"' in html
    assert "김 <독자> & Co님, 안녕하세요." in text
    assert "https://news.example.org/unsubscribe/tok?a=1&b=2" in text
    assert "%%NL" not in html and "%%NL" not in text


def test_empty_name_gets_a_neutral_greeting(settings: Settings, issue: ParsedIssue) -> None:
    html, text = render_issue(settings, issue).personalize({**VALUES, "name": "  "})
    assert "구독자님, 안녕하세요." in html and "구독자님, 안녕하세요." in text
    assert ", 안녕하세요" not in html.replace("구독자님, 안녕하세요", "")


def test_missing_link_values_are_an_error_but_view_url_has_a_default(
    settings: Settings, issue: ParsedIssue
) -> None:
    rendered = render_issue(settings, issue)
    with pytest.raises(RenderError, match="unsubscribe_url"):
        rendered.personalize({"name": "x"})
    values = {k: v for k, v in VALUES.items() if k != "view_url"}
    html, _ = rendered.personalize(values)
    assert "https://news.example.org/archive/2026-12-07-render" not in html
    assert "https://news.example.org/archive/render" in html


def test_substitutions_serve_as_provider_keys(settings: Settings, issue: ParsedIssue) -> None:
    rendered = render_issue(settings, issue)
    table = rendered.substitutions(VALUES)
    assert table[rendered.placeholders_html["name"]] == "김 &lt;독자&gt; &amp; Co"
    assert table[rendered.placeholders_text["name"]] == VALUES["name"]
    html = rendered.html
    for marker, value in table.items():
        html = html.replace(marker, value)
    assert html == rendered.personalize(VALUES)[0]


def test_seed_emails_stay_under_gmail_clipping(settings: Settings) -> None:
    for prefix in ("000", "001"):
        path = seed_path(prefix)
        if prefix == "000":
            from newsletter.importers import write_issue
            from newsletter.importers.brunch import import_brunch

            path = write_issue(import_brunch(path), settings.path(settings.issues_dir))
        issue = parse_issue_file(settings, path)
        html, _ = render_issue(settings, issue).personalize(preview_values(settings, issue.slug))
        assert len(html.encode("utf-8")) < 102 * 1024


def test_shared_layout_for_other_emails(settings: Settings, tmp_path: Path) -> None:
    environment = email_environment(settings)
    template = environment.from_string(
        '{% extends "_layout.mjml.j2" %}{% block content %}'
        "<mj-text>{{ message }}</mj-text>{% endblock %}"
    )
    html = mjml_to_html(
        template.render(lang="en", subject="Confirm", preheader="", message="<b>hi</b>")
    )
    assert "&lt;b&gt;hi&lt;/b&gt;" in html and 'lang="en"' in html
    with pytest.raises(RenderError, match="MJML failed"):
        mjml_to_html("<mjml><mj-body><mj-section>")


@hyp_settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    body=st.text(
        st.one_of(
            st.characters(exclude_categories=["Cs"]),
            st.sampled_from(list("#*_`>[]()!|-~<&\n:1. ")),
        ),
        max_size=400,
    )
)
def test_rendering_arbitrary_markdown_never_raises(
    settings: Settings, issue: ParsedIssue, body: str
) -> None:
    rendered = render_issue(settings, replace(issue, body=body))
    html, text = rendered.personalize(VALUES)
    assert html.startswith("<!doctype html>") and "%%NL" not in html + text
    assert markdown.to_text(body).endswith("\n")
