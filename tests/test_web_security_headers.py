"""Security headers on every page (CSP without external hosts, no framing, nosniff, no
referrer), Markdown links limited to safe schemes, and no external fonts on the site."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from newsletter.catalog import sync_issues
from newsletter.db import transaction
from newsletter.markdown import is_safe_url, to_html
from newsletter.models import Issue, IssueStatus
from newsletter.services import Services
from tests.fixtures.issues import WriteIssue, issue_text
from tests.fixtures.web import add_subscriber, token_url

BODY = (
    "## 링크\n"
    "[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==) "
    "[js](JaVaScRiPt:alert(1)) [entity](jav&#x61;script:alert(1)) "
    "[colon](javascript&colon;alert(1)) [pct](%6Aavascript:alert(1)) "
    "[vb](vbscript:msgbox) [file](file:///etc/passwd) "
    "![img](data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=) "
    "[ok](https://example.org/ok) [mail](mailto:editor@example.org)\n"
)


def _sent_issue(services: Services, write_issue: WriteIssue) -> str:
    write_issue(
        "2026-01-05-links.md",
        issue_text(title="링크 시험", date="2026-01-05 09:00 +0900", body=BODY),
    )
    sync_issues(services)
    with transaction(services.sessions) as session:
        session.execute(update(Issue).values(status=IssueStatus.SENT))
    return "links"


def _directives(policy: str) -> dict[str, str]:
    return {
        part.strip().split(" ", 1)[0]: part.strip().partition(" ")[2]
        for part in policy.split(";")
        if part.strip()
    }


def _assert_page_headers(response_headers: dict[str, str], where: str) -> None:
    policy = response_headers.get("content-security-policy", "")
    directives = _directives(policy)
    assert directives.get("default-src") == "'none'", (where, policy)
    assert directives.get("frame-ancestors") == "'none'", (where, policy)
    assert directives.get("base-uri") == "'none'", (where, policy)
    if "/subscribe" in where:
        # The sign-up page runs exactly one script, by its hash: the timezone hint.
        assert directives.get("script-src") == f"'sha256-{_hint_hash()}'", (where, policy)
    else:
        assert "script-src" not in directives, (where, policy)
    # No external host anywhere: only keywords and (for images) the https scheme.
    assert not re.search(r"[a-z0-9-]+\.[a-z]{2,}", policy), (where, policy)
    assert response_headers.get("x-content-type-options") == "nosniff", where
    assert response_headers.get("referrer-policy") == "no-referrer", where
    assert response_headers.get("x-frame-options") == "DENY", where


def _hint_hash() -> str:
    import base64
    import hashlib

    from newsletter.web.security import TIMEZONE_HINT_SCRIPT

    return base64.b64encode(hashlib.sha256(TIMEZONE_HINT_SCRIPT.encode()).digest()).decode()


def test_every_html_page_has_the_security_headers(
    web_client: TestClient, services: Services, write_issue: WriteIssue
) -> None:
    slug = _sent_issue(services, write_issue)
    sid = add_subscriber(services, "reader@example.org")
    pages = [
        "/subscribe",
        "/archive",
        f"/archive/{slug}",
        "/archive/no-such-issue",
        token_url(services, "preferences", sid, ""),
        token_url(services, "unsubscribe", sid, "weekly"),
        "/confirm/not-a-token",
    ]
    for path in pages:
        response = web_client.get(path, headers={"Accept": "text/html"})
        assert response.headers["content-type"].startswith("text/html"), path
        _assert_page_headers(dict(response.headers), path)
    posted = web_client.post("/subscribe", data={"email": "new@example.org"})
    _assert_page_headers(dict(posted.headers), "POST /subscribe")


def test_other_responses_are_nosniff_too(web_client: TestClient) -> None:
    for path in ("/feed.xml", "/healthz"):
        response = web_client.get(path)
        assert response.headers["x-content-type-options"] == "nosniff", path
        assert response.headers["referrer-policy"] == "no-referrer", path


def test_the_archive_page_allows_only_the_issues_https_images(
    web_client: TestClient, services: Services, write_issue: WriteIssue
) -> None:
    slug = _sent_issue(services, write_issue)
    directives = _directives(web_client.get(f"/archive/{slug}").headers["content-security-policy"])
    assert directives["img-src"].split() == ["'self'", "data:", "https:"]
    other = _directives(web_client.get("/archive").headers["content-security-policy"])
    assert "https:" not in other["img-src"]


def test_the_archive_page_loads_nothing_from_other_hosts(
    web_client: TestClient, services: Services, write_issue: WriteIssue
) -> None:
    slug = _sent_issue(services, write_issue)
    for path in ("/archive", f"/archive/{slug}", "/subscribe"):
        html = web_client.get(path).text
        assert "fonts.googleapis" not in html and "fonts.gstatic" not in html, path
        assert not re.search(
            r"<link[^>]+rel=\"(stylesheet|preconnect|preload|dns-prefetch)", html
        ), path
        assert not re.search(r"@import", html), path
        scripts = re.findall(r"<script[^>]*>(.*?)</script>", html, flags=re.S | re.I)
        if path == "/subscribe":
            from newsletter.web.security import TIMEZONE_HINT_SCRIPT

            assert scripts == [TIMEZONE_HINT_SCRIPT], path  # the hint alone, inline, hashed
        else:
            assert "<script" not in html.lower(), path


def test_the_archive_page_keeps_no_unsafe_link(
    web_client: TestClient, services: Services, write_issue: WriteIssue
) -> None:
    slug = _sent_issue(services, write_issue)
    html = web_client.get(f"/archive/{slug}").text
    hrefs = re.findall(r'(?:href|src)="([^"]*)"', html)
    assert "https://example.org/ok" in hrefs and "mailto:editor@example.org" in hrefs
    for target in hrefs:
        assert is_safe_url(target), target
        assert not target.lower().lstrip().startswith(("data:", "javascript", "vbscript")), target


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JAVASCRIPT:alert(1)",
        " javascript:alert(1)",
        "java\tscript:alert(1)",
        "java\nscript:alert(1)",
        "\x01javascript:alert(1)",
        "jav&#x61;script:alert(1)",
        "jav&#97;script:alert(1)",
        "javascript&colon;alert(1)",
        "javascript&#58;alert(1)",
        "%6Aavascript:alert(1)",
        "javascript%3Aalert(1)",
        "java\u200bscript:alert(1)",
        "vbscript:msgbox(1)",
        "VBScript:msgbox(1)",
        "data:text/html;base64,PHNjcmlwdD4=",
        "DATA:text/html,x",
        " data:image/png;base64,AAAA",
        "data:image/svg+xml;base64,PHN2Zz4=",
        "file:///etc/passwd",
        "jar:file:x",
    ],
)
def test_unsafe_link_variants_never_become_links(url: str) -> None:
    assert not is_safe_url(url)
    for markdown in (f"[x]({url})", f"![x]({url})", f"<{url}>", f"[x][r]\n\n[r]: {url}"):
        html = to_html(markdown)
        for target in re.findall(r'(?:href|src)="([^"]*)"', html):
            assert is_safe_url(target), (markdown, html)


@pytest.mark.parametrize(
    "url",
    [
        "https://example.org/a?b=c#d",
        "http://example.org",
        "mailto:a@example.org",
        "/archive",
        "#top",
        "page.html",
        "tel:+82-2-000-0000",
        "?q=1",
    ],
)
def test_safe_links_stay_links(url: str) -> None:
    assert is_safe_url(url)
    assert "href=" in to_html(f"[x]({url})")


def test_the_embeddable_snippet_may_be_framed_by_other_sites(web_client: TestClient) -> None:
    response = web_client.get("/embed/weekly")
    assert response.status_code == 200
    directives = _directives(response.headers["content-security-policy"])
    assert directives["frame-ancestors"] == "*"
    assert directives["connect-src"] == "'self'" and directives["default-src"] == "'none'"
    assert "x-frame-options" not in response.headers
    assert response.headers["x-content-type-options"] == "nosniff"
