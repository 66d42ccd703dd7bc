"""Each role sees only the write forms it may post: a logged-in viewer walks every admin
page and finds no form but its own account's (and a read-only note), an editor finds the
issue and send forms but not the owner's, the owner finds them all.

Pages and forms come from the app's own routes: a new page or form is covered without
touching this test, and a form whose route the role may not post fails it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import select

from newsletter.catalog import sync_issues
from newsletter.web import create_app
from newsletter.web.admin import deps as admin_deps
from subscribers.models import Subscriber
from tests.admin_support import OWNER, SLUG, add_account, login_as, open_project, write_issue
from tests.test_accounts import SELF_SERVICE, admin_posts, needs

VIEWER, EDITOR = "viewer@example.org", "editor@example.org"
#: A second issue, still scheduled (the first one's send is paused by the fixture).
SCHEDULED = "second-notes"
#: Pages before a session (login, set-password, forgot) and downloads: no forms to judge.
NOT_PAGES = {"/admin/login", "/admin/password", "/admin/forgot"}
#: The editor-level writes a page offers (each must show up for an editor and the owner).
EDITOR_FORMS = {
    "/admin/issues/sync",
    "/admin/issues/{slug}/check",
    "/admin/issues/{slug}/test",
    "/admin/issues/{slug}/schedule",
    "/admin/issues/{slug}/cancel",
    "/admin/issues/{slug}/send",
    "/admin/sends/{send_id}/resume",
    "/admin/subscribers/{subscriber_id}/unsubscribe",
}
OWNER_FORMS = {"/admin/subscribers/{subscriber_id}/erase", "/admin/subscribers/import"}


class _Forms(HTMLParser):
    """The (method, action) of every form on a page, and its links."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, str]] = []
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append((values.get("method", "get").lower(), values.get("action", "")))
        elif tag == "a":
            self.links.append(values.get("href", ""))


def parse(html: str) -> _Forms:
    found = _Forms()
    found.feed(html)
    return found


class Site:
    """The dashboard with a viewer, an editor, a paused send and a scheduled issue."""

    def __init__(self, config_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        # Two emails a second: the send of eight is caught running and paused.
        monkeypatch.setenv("NEWSLETTER_DELIVERY__RATE_LIMIT_PER_SECOND", "2")
        self.services = open_project(config_path, monkeypatch, readers=8)
        write_issue(config_path.parent / "issues", slug=SCHEDULED, days_ahead=8)
        sync_issues(self.services)
        self.app = create_app(self.services)
        add_account(self.services, VIEWER, "viewer")
        add_account(self.services, EDITOR, "editor")
        with self.services.sessions() as session:
            self.reader_id = session.scalars(select(Subscriber.id).order_by(Subscriber.id)).first()
        self.send_id = self._paused_send()

    def _paused_send(self) -> int:
        with self.client() as owner:
            token = login_as(owner, OWNER)
            page = owner.post(f"/admin/issues/{SLUG}/send", data={"csrf_token": token})
            send_id = int(page.headers["location"].rsplit("/", 1)[1])
            owner.post(f"/admin/sends/{send_id}/pause", data={"csrf_token": token})
            for _ in range(300):
                if 'data-status="paused"' in owner.get(f"/admin/sends/{send_id}").text:
                    return send_id
                time.sleep(0.05)
        raise AssertionError("the send never paused")

    def client(self) -> TestClient:
        return TestClient(self.app, follow_redirects=False)

    def pages(self) -> list[str]:
        """Every admin GET page of the app, with real values for its path parameters."""
        values = {
            "slug": [SLUG, SCHEDULED],
            "send_id": [str(self.send_id)],
            "subscriber_id": [str(self.reader_id)],
        }
        found: list[str] = []
        for context in iter_route_contexts(self.app.routes):
            path, methods = context.path or "", context.methods or set()
            if not path.startswith("/admin") or "GET" not in methods or path in NOT_PAGES:
                continue
            if path.endswith(".csv"):
                continue
            names = re.findall(r"\{(\w+)\}", path)
            missing = [n for n in names if n not in values]
            assert not missing, f"{path}: give this test a value for {missing}"
            variants = [path]
            for name in names:
                variants = [v.replace(f"{{{name}}}", x) for v in variants for x in values[name]]
            found += variants
        return sorted(set(found))


@pytest.fixture
def site(config_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    built = Site(config_path, monkeypatch)
    yield built
    built.services.close()


def post_route(app: Any, action: str) -> tuple[str, APIRoute]:
    """The POST route a form's action goes to (its path pattern and the route)."""
    for path, route in admin_posts(app):
        if re.fullmatch(re.sub(r"\{\w+\}", "[^/]+", path), action):
            return path, route
    raise AssertionError(f"a form posts to {action}, which no admin route takes")


def walk(site: Site, email: str) -> dict[str, tuple[int, _Forms, str]]:
    """Log in as ``email`` and GET every page: path → (status, forms and links, HTML)."""
    seen = {}
    with site.client() as client:
        login_as(client, email)
        for page in site.pages():
            answer = client.get(page, follow_redirects=True)
            seen[page] = (answer.status_code, parse(answer.text), answer.text)
    return seen


def write_forms(app: Any, seen: dict[str, tuple[int, _Forms, str]]) -> set[str]:
    """The route paths of every POST form on the pages, but an account's own."""
    found = set()
    for _status, page, _html in seen.values():
        for method, action in page.forms:
            if method == "post":
                path, _route = post_route(app, action)
                if path not in SELF_SERVICE:
                    found.add(path)
    return found


def test_the_walk_reaches_every_page(site: Site) -> None:
    pages = site.pages()
    assert f"/admin/sends/{site.send_id}" in pages and f"/admin/issues/{SCHEDULED}/send" in pages
    assert f"/admin/subscribers/{site.reader_id}" in pages and len(pages) >= 10


def test_a_viewer_sees_no_write_form_on_any_page(site: Site) -> None:
    seen = walk(site, VIEWER)
    assert write_forms(site.app, seen) == set()
    for page, (status, forms, _html) in seen.items():
        assert status in (200, 403), page  # the owners' pages stay 403
        if status == 200:
            assert ("post", "/admin/logout") in forms.forms, page  # the logout form remains
            assert not any(link.endswith("/send") for link in forms.links), page
    for page in (
        "/admin/issues",
        f"/admin/issues/{SCHEDULED}",
        f"/admin/issues/{SCHEDULED}/send",
        f"/admin/sends/{site.send_id}",
        f"/admin/subscribers/{site.reader_id}",
    ):
        assert 'id="read-only"' in seen[page][2], page
    # Its own account stays its own to change.
    account = {action for method, action in seen["/admin/account"][1].forms if method == "post"}
    assert {"/admin/account/password", "/admin/account/sessions/end-others"} <= account


def test_an_editor_sees_the_editors_forms_and_not_the_owners(site: Site) -> None:
    found = write_forms(site.app, walk(site, EDITOR))
    assert found == EDITOR_FORMS


def test_the_owner_sees_every_form(site: Site) -> None:
    seen = walk(site, OWNER)
    found = write_forms(site.app, seen)
    assert found >= EDITOR_FORMS | OWNER_FORMS
    assert not any('id="read-only"' in html for _s, _f, html in seen.values())


def test_every_form_a_role_sees_is_one_it_may_post(site: Site) -> None:
    for email, level in ((VIEWER, 0), (EDITOR, 1), (OWNER, 2)):
        for _status, page, _html in walk(site, email).values():
            for method, action in page.forms:
                if method != "post":
                    continue
                path, route = post_route(site.app, action)
                if path in SELF_SERVICE:
                    continue
                needed = 2 if needs(route, admin_deps.get_form_owner) else 1
                assert level >= needed, (email, action)
