"""The preflight check: what would embarrass an issue in a reader's inbox, found before sending.

Errors (the check fails): HTML of 102 KB or more (Gmail clips it), an image without alt
text, an empty or ``javascript:`` link, a missing title or subject. Warnings: images
not served over https, links over plain http, a very long subject, no ``preheader`` in
the front matter (the preview then shows the first paragraph), links to localhost, and
every warning the parser had about the file; advertising (`ad: true`) rules in
:mod:`newsletter.advertising.check`. The HTML checked is the personalized preview
(real-length links).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

from newsletter.abtest.check import ab_findings, ab_summary
from newsletter.advertising.check import ad_findings
from newsletter.issues import ParsedIssue
from newsletter.render import RenderedIssue, preview_values, render_issue
from newsletter.settings import Settings

#: Gmail clips messages whose HTML reaches about 102 KB; we count bytes of UTF-8.
MAX_HTML_BYTES = 102 * 1024
#: Subjects longer than this are cut in most inboxes (characters; Hangul counts once).
LONG_SUBJECT = 60
_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "0.0.0.0"}


@dataclass(frozen=True)
class Finding:
    """One thing the check found: a stable ``code`` for scripts and a message for people."""

    code: str
    message: str


@dataclass
class CheckReport:
    """The check's verdict on one issue."""

    slug: str
    subject: str
    html_bytes: int
    text_bytes: int
    errors: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)
    #: An A/B issue's subjects and its test in one line (newsletter/abtest/check.py).
    subjects: list[str] = field(default_factory=list)
    ab_test: str = ""

    @property
    def ok(self) -> bool:
        """True when no error was found (warnings do not fail the check)."""
        return not self.errors

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape of ``newsletter check --json`` (documented in docs/issues.md)."""
        return {
            "slug": self.slug,
            "ok": self.ok,
            "subject": self.subject,
            "html_bytes": self.html_bytes,
            "text_bytes": self.text_bytes,
            "subjects": self.subjects,
            "ab_test": self.ab_test,
            "errors": [vars(finding) for finding in self.errors],
            "warnings": [vars(finding) for finding in self.warnings],
        }


class _Elements(HTMLParser):
    """Collects the links and images of an HTML document."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str | None] = []
        self.images: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "a":
            self.links.append(values.get("href"))
        elif tag == "img":
            self.images.append(values)

    handle_startendtag = handle_starttag


def check_issue(settings: Settings, issue: ParsedIssue) -> CheckReport:
    """Render ``issue`` and check it; see the module docstring for what counts."""
    rendered = render_issue(settings, issue)
    return check_rendered(settings, issue, rendered)


def check_rendered(settings: Settings, issue: ParsedIssue, rendered: RenderedIssue) -> CheckReport:
    """Check an already rendered issue (personalized with preview values)."""
    values = preview_values(settings, issue.slug)
    html, text = rendered.personalize(values)
    report = CheckReport(
        slug=issue.slug,
        subject=rendered.subject,
        html_bytes=len(html.encode("utf-8")),
        text_bytes=len(text.encode("utf-8")),
        subjects=list(issue.ab_test.subjects) if issue.ab_test else [],
        ab_test=ab_summary(issue),
    )
    _check_headers(issue, rendered, report)
    if report.html_bytes >= MAX_HTML_BYTES:
        report.errors.append(
            Finding(
                "html_too_large",
                f"HTML is {report.html_bytes:,} bytes; Gmail clips at {MAX_HTML_BYTES:,}",
            )
        )
    elements = _Elements()
    elements.feed(html)
    personal = {value for key, value in values.items() if key != "name"}
    _check_links([link for link in elements.links if link not in personal], report)
    _check_images(elements.images, report)
    if _is_local(settings.site.url):
        report.warnings.append(
            Finding(
                "localhost_link",
                f"site.url is {settings.site.url}: readers cannot open the unsubscribe, "
                "preferences and view-in-browser links",
            )
        )
    if issue.local_with_offset:
        report.errors.append(
            Finding(
                "deliver_local_offset",
                f"deliver: local needs a date without an offset (a wall time such as "
                f"{issue.publish_at_local:%Y-%m-%d %H:%M}): each reader gets it at that time "
                "in their own timezone",
            )
        )
    report.warnings.extend(Finding("parse_warning", warning) for warning in issue.warnings)
    _check_advertising(settings, issue, html, text, values["unsubscribe_url"], report)
    for level, code, message in ab_findings(settings, issue):
        (report.errors if level == "error" else report.warnings).append(Finding(code, message))
    return report


def _check_advertising(
    settings: Settings,
    issue: ParsedIssue,
    html: str,
    text: str,
    unsubscribe: str,
    report: CheckReport,
) -> None:
    for level, code, message in ad_findings(
        settings, issue, html=html, text=text, unsubscribe_url=unsubscribe
    ):
        (report.errors if level == "error" else report.warnings).append(Finding(code, message))


def _check_headers(issue: ParsedIssue, rendered: RenderedIssue, report: CheckReport) -> None:
    if not issue.title.strip():
        report.errors.append(Finding("missing_title", "the issue has no title"))
    if not issue.preheader.strip():
        shown = rendered.preheader[:60] + ("…" if len(rendered.preheader) > 60 else "")
        report.warnings.append(
            Finding(
                "missing_preheader",
                f"no preheader in the front matter; the inbox preview shows the first "
                f"paragraph: {shown!r}",
            )
        )
    if not rendered.subject.strip():
        report.errors.append(Finding("missing_subject", "the email has no subject"))
    elif len(rendered.subject) > LONG_SUBJECT:
        report.warnings.append(
            Finding(
                "long_subject",
                f"subject is {len(rendered.subject)} characters; inboxes cut after ~{LONG_SUBJECT}",
            )
        )


def _check_links(links: list[str | None], report: CheckReport) -> None:
    for href in links:
        target = (href or "").strip()
        if not target or target == "#":
            report.errors.append(Finding("empty_link", "a link has no target (empty href)"))
        elif target.lower().replace(" ", "").startswith(("javascript:", "vbscript:")):
            report.errors.append(Finding("javascript_link", f"a link runs script: {target[:60]}"))
        elif _is_local(target):
            report.warnings.append(
                Finding("localhost_link", f"a link points at this machine: {target}")
            )
        elif target.lower().startswith("http://"):
            report.warnings.append(
                Finding("insecure_link", f"a link over plain http (use https): {target[:80]}")
            )


def _check_images(images: list[dict[str, str | None]], report: CheckReport) -> None:
    for image in images:
        src = (image.get("src") or "").strip()
        if not (image.get("alt") or "").strip():
            report.errors.append(Finding("missing_alt", f"image without alt text: {src[:80]}"))
        if not src.lower().startswith("https://"):
            report.warnings.append(
                Finding("insecure_image", f"image not served over https: {src[:80]}")
            )


def _is_local(url: str) -> bool:
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return False
    return host in _LOCAL_HOSTS or host.endswith(".localhost")
