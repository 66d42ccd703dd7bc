"""The preflight check: errors fail it, warnings do not."""

from __future__ import annotations

from dataclasses import replace

from newsletter.check import MAX_HTML_BYTES, check_issue, check_rendered
from newsletter.issues import parse_issue_file
from newsletter.render import render_issue
from newsletter.settings import Settings
from tests.fixtures.issues import WriteIssue, issue_text


def _codes(findings: list) -> set[str]:  # type: ignore[type-arg]
    return {finding.code for finding in findings}


def test_clean_issue_passes(settings: Settings, write_issue: WriteIssue) -> None:
    body = "## 제목\n[좋은 링크](https://example.org)\n\n![그림 설명](https://example.org/a.png)\n"
    report = check_issue(
        settings, parse_issue_file(settings, write_issue("ok.md", body=body, preheader="미리 보기"))
    )
    assert report.ok, report.errors
    assert report.warnings == []
    assert 0 < report.html_bytes < MAX_HTML_BYTES
    data = report.as_dict()
    assert data["ok"] is True and data["slug"] == "ok" and data["errors"] == []


def test_missing_alt_and_bad_links_fail(settings: Settings, write_issue: WriteIssue) -> None:
    body = "![](https://example.org/a.png)\n\n[비어 있음]()\n\n[스크립트](javascript:alert(1))\n"
    report = check_issue(settings, parse_issue_file(settings, write_issue("bad.md", body=body)))
    assert not report.ok
    assert {"missing_alt", "empty_link"} <= _codes(report.errors)


def test_javascript_links_never_become_links_and_fail_the_check_if_they_do(
    settings: Settings, write_issue: WriteIssue
) -> None:
    body = "<javascript:alert(1)> and [x](JAVASCRIPT:alert(1))\n"
    issue = parse_issue_file(settings, write_issue("js.md", body=body))
    rendered = render_issue(settings, issue)
    assert 'href="javascript' not in rendered.html.lower()
    # A layout edited by an operator could still carry one: the check catches it.
    tampered = replace(
        rendered, html=rendered.html.replace("</body>", '<a href="javascript:x()">x</a></body>')
    )
    report = check_rendered(settings, issue, tampered)
    assert "javascript_link" in _codes(report.errors)


def test_oversized_html_fails(settings: Settings, write_issue: WriteIssue) -> None:
    body = "\n\n".join(f"문단 {n} " + "가나다라마바사 " * 40 for n in range(200))
    report = check_issue(settings, parse_issue_file(settings, write_issue("big.md", body=body)))
    assert report.html_bytes >= MAX_HTML_BYTES
    assert "html_too_large" in _codes(report.errors)


def test_warnings_for_http_images_long_subject_localhost_and_parse_repairs(
    settings: Settings, write_issue: WriteIssue
) -> None:
    body = "![그림](http://example.org/a.png)\n\n[로컬](http://localhost:8000/x)\n"
    text = issue_text(title="제목: 콜론", subject="'" + "아주 긴 제목 " * 12 + "'", body=body)
    report = check_issue(settings, parse_issue_file(settings, write_issue("warn.md", text)))
    assert report.ok
    assert {"insecure_image", "long_subject", "localhost_link", "parse_warning"} <= _codes(
        report.warnings
    )
