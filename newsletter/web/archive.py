"""Routes: the web archive: /archive, /archive/{slug}, /feed.xml.

Only issues whose status is ``sent`` are shown: drafts, scheduled and cancelled issues
never leak. The view-in-browser page is the email itself, rendered once per version of
the issue file and filled with non-personal values (no name, no personal links).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from newsletter.errors import IssueError, IssueNotFound
from newsletter.issues import parse_issue_file
from newsletter.models import Issue
from newsletter.render import archive_url, render_issue
from newsletter.settings import Settings
from newsletter.web import store
from newsletter.web.deps import PagesDep, ServicesDep
from newsletter.web.security import ISSUE_CONTENT_POLICY as CONTENT_POLICY

router = APIRouter(tags=["archive"])

ATOM = "http://www.w3.org/2005/Atom"
FEED_ENTRIES = 50
_CACHE_SIZE = 64


class ViewCache:
    """Rendered view-in-browser pages by (slug, source hash): a small LRU."""

    def __init__(self) -> None:
        self._items: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, settings: Settings, issue: Issue) -> str:
        """The page of ``issue``, rendering it on first use of this version."""
        key = (issue.slug, issue.source_hash)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        html = _render_public(settings, issue)
        with self._lock:
            self._items[key] = html
            while len(self._items) > _CACHE_SIZE:
                self._items.popitem(last=False)
        return html


@router.get("/archive", response_class=HTMLResponse)
def archive(request: Request, services: ServicesDep, pages: PagesDep) -> Response:
    """Sent issues, newest first, grouped by newsletter."""
    with services.sessions() as session:
        issues = store.sent_issues(session)
    tz = services.settings.site.tz
    groups = [
        {
            "newsletter": newsletter,
            "issues": [
                {"slug": i.slug, "title": i.title, "published": i.publish_at.astimezone(tz)}
                for i in issues
                if i.newsletter_id == newsletter.id
            ],
        }
        for newsletter in services.settings.newsletters
    ]
    response = pages.render(request, "archive.html", {"groups": groups})
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@router.get("/archive/{slug}", response_class=HTMLResponse)
def view_in_browser(slug: str, request: Request, services: ServicesDep) -> Response:
    """The email of a sent issue, as a page, without personal values."""
    with services.sessions() as session:
        issue = store.sent_issue(session, slug)
    if issue is None:
        raise IssueNotFound(f"no sent issue {slug!r}")
    html = _cache(request).get(services.settings, issue)
    headers = {"Cache-Control": "public, max-age=300", "Content-Security-Policy": CONTENT_POLICY}
    return HTMLResponse(html, headers=headers)


@router.get("/feed.xml")
def feed(services: ServicesDep) -> Response:
    """An Atom feed of the sent issues."""
    with services.sessions() as session:
        issues = store.sent_issues(session, limit=FEED_ENTRIES)
    body = atom_feed(services.settings, issues)
    return Response(body, media_type="application/atom+xml; charset=utf-8")


def atom_feed(settings: Settings, issues: list[Issue]) -> bytes:
    """The Atom document (RFC 4287) listing ``issues``."""
    site = settings.site
    ET.register_namespace("", ATOM)
    root = ET.Element(f"{{{ATOM}}}feed", {"xml:lang": site.language})
    _text(root, "id", f"{site.url}/archive")
    _text(root, "title", site.name)
    updated = max((i.publish_at for i in issues), default=None)
    _text(root, "updated", (updated.isoformat() if updated else "1970-01-01T00:00:00+00:00"))
    ET.SubElement(root, f"{{{ATOM}}}link", {"rel": "self", "href": f"{site.url}/feed.xml"})
    ET.SubElement(root, f"{{{ATOM}}}link", {"rel": "alternate", "href": f"{site.url}/archive"})
    author = ET.SubElement(root, f"{{{ATOM}}}author")
    _text(author, "name", settings.sender.from_name or site.name)
    for issue in issues:
        _entry(root, settings, issue)
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))


def _entry(root: ET.Element, settings: Settings, issue: Issue) -> None:
    entry = ET.SubElement(root, f"{{{ATOM}}}entry")
    url = archive_url(settings, issue.slug)
    _text(entry, "id", url)
    _text(entry, "title", issue.title)
    _text(entry, "published", issue.publish_at.isoformat())
    _text(entry, "updated", issue.publish_at.isoformat())
    ET.SubElement(entry, f"{{{ATOM}}}link", {"rel": "alternate", "href": url})
    _text(entry, "summary", issue.preheader or issue.subject)
    name = next((n.name for n in settings.newsletters if n.id == issue.newsletter_id), "")
    if name:
        ET.SubElement(entry, f"{{{ATOM}}}category", {"term": issue.newsletter_id, "label": name})


def _text(parent: ET.Element, tag: str, value: str) -> None:
    ET.SubElement(parent, f"{{{ATOM}}}{tag}").text = value


def _cache(request: Request) -> ViewCache:
    state: Any = request.app.state
    if not hasattr(state, "archive_cache"):
        state.archive_cache = ViewCache()
    cache: ViewCache = state.archive_cache
    return cache


def _render_public(settings: Settings, issue: Issue) -> str:
    try:
        parsed = parse_issue_file(settings, settings.path(Path(issue.source_path)))
    except IssueError:
        # The file went away after sending: to a reader that is an issue not found.
        raise IssueNotFound(f"issue file of {issue.slug!r} is gone") from None
    rendered = render_issue(settings, parsed)
    site = settings.site.url
    html, _text_part = rendered.personalize(
        {
            "name": "",
            "unsubscribe_url": f"{site}/subscribe",
            "preferences_url": f"{site}/subscribe",
            "view_url": archive_url(settings, issue.slug),
        }
    )
    return html
