"""The embeddable sign-up form: GET /embed/{newsletter}, and POST /subscribe from another
site answering JSON (honeypot and rate limits still apply)."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.fixtures.web import LiveSite, Outbox, link
from tests.test_web_browser import browser  # noqa: F401  (the Chromium fixture)

JSON = {"Accept": "application/json", "Origin": "https://blog.example.net"}


def test_embed_gives_a_snippet_posting_to_this_site(web_client: TestClient) -> None:
    answer = web_client.get("/embed/letters", params={"lang": "en"})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
    html = answer.text
    assert 'action="https://news.example.org/subscribe"' in html
    assert 'name="newsletters" value="letters"' in html
    assert set(re.findall(r'name="([a-z_-]+)"', html)) == {
        "lang",
        "email",
        "name",
        "newsletters",
        "timezone",  # the browser's hint, filled by the snippet's script
        "website",
    }
    assert "Letters" in html and "<script>" in html
    assert web_client.get("/embed/nope").status_code == 404


def test_cross_site_post_answers_json(web_client: TestClient, outbox: Outbox) -> None:
    form = {"email": "far@example.org", "newsletters": "weekly", "lang": "en", "website": ""}
    answer = web_client.post("/subscribe", data=form, headers=JSON)
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == "*"
    assert answer.json()["ok"] is True and "confirmation" in answer.json()["message"]
    assert outbox.wait_for("far@example.org")
    bad = web_client.post("/subscribe", data={**form, "email": "nope"}, headers=JSON)
    assert bad.status_code == 422 and bad.json()["field"] == "email"
    assert bad.headers["access-control-allow-origin"] == "*"
    none = web_client.post("/subscribe", data={**form, "newsletters": "x"}, headers=JSON)
    assert none.status_code == 422 and none.json()["field"] == "newsletters"


def test_honeypot_and_rate_limit_still_apply(web_client: TestClient, outbox: Outbox) -> None:
    bot = {"email": "bot@example.org", "newsletters": "weekly", "website": "http://spam"}
    answer = web_client.post("/subscribe", data=bot, headers=JSON)
    assert answer.status_code == 200 and answer.json()["ok"] is True  # the same answer
    assert outbox.to("bot@example.org") == []
    form = {"email": "again@example.org", "newsletters": "weekly"}
    codes = [web_client.post("/subscribe", data=form, headers=JSON).status_code for _ in range(4)]
    assert codes[:3] == [200, 200, 200] and codes[3] == 429  # 3 an address an hour
    limited = web_client.post("/subscribe", data=form, headers=JSON)
    assert limited.json()["ok"] is False and limited.headers["access-control-allow-origin"] == "*"


@pytest.fixture
def other_site(live_site: LiveSite) -> Iterator[str]:
    """Another origin (localhost vs 127.0.0.1, its own port) whose page embeds the snippet."""
    snippet = httpx.get(f"{live_site.url}/embed/weekly?lang=en").text
    page = f"<!doctype html><html><body><h1>A blog</h1>{snippet}</body></html>".encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "text/html; charset=utf-8")
            self.send_header("content-length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://localhost:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.mark.browser
def test_snippet_signs_up_from_another_site_in_chromium(
    browser: Any,  # noqa: F811
    live_site: LiveSite,
    other_site: str,
) -> None:
    page = browser.new_page()
    page.goto(other_site)
    page.fill("input[name=email]", "embedded@example.com")
    page.click("button[type=submit]")
    page.wait_for_function("document.querySelector('[data-nl-answer]').textContent.length > 0")
    assert "confirmation" in page.inner_text("[data-nl-answer]")
    assert page.url == other_site  # answered in place, the reader stayed on the blog
    (message,) = live_site.outbox.wait_for("embedded@example.com")
    assert "/confirm/" in link(message, "confirm")
