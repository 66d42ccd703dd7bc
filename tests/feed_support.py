"""A real HTTP server for the feed tests, and feeds written for them.

:class:`FeedServer` (``http.server`` in a thread, a real socket) serves each path from a
:class:`Route` the test changes between polls: the body, its content type, validators
(ETag, Last-Modified) that it honours with ``304``, a status to fail with, a delay to time
out on, a redirect. It counts what it answered, per path.

The feeds are modelled on the two platforms the seed writers publish on: a brunch RSS 2.0
feed (``<guid>`` = the post URL, ``<pubDate>`` in RFC 822 with ``+0900``, the post's HTML in
``<description>``, ``<dc:creator>``) and a Jekyll ``feed.xml`` (jekyll-feed's Atom: ``<id>``
per entry, ``<published>``/``<updated>`` in ISO 8601 with the site's offset, ``<content
type="html">`` and ``<summary type="html">``, ``<category term=…>``). Their text is the
tests' own.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Route:
    """What one path answers."""

    body: bytes = b""
    content_type: str = "application/rss+xml"
    etag: str = ""
    last_modified: str = ""
    status: int = 200
    delay: float = 0.0  # seconds before answering (a hanging server)
    location: str = ""  # with a 3xx status: where to


@dataclass
class FeedServer:
    """``http.server`` in a thread; ``routes`` by path, ``counts[(path, status)]``."""

    routes: dict[str, Route] = field(default_factory=dict)
    counts: Counter[tuple[str, int]] = field(default_factory=Counter)
    requests: list[dict[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0

    def url(self, path: str) -> str:
        """The URL of ``path`` on this server."""
        return f"http://127.0.0.1:{self.port}{path}"

    def count(self, path: str, status: int) -> int:
        """How many times ``path`` was answered with ``status``."""
        with self.lock:
            return self.counts[(path, status)]


def _handler(server: FeedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            route = server.routes.get(self.path.split("?")[0])
            with server.lock:
                server.requests.append({k.lower(): v for k, v in self.headers.items()})
            if route is None:
                self._answer(404, b"not found", "text/plain")
                return
            if route.delay:
                time.sleep(route.delay)
            if 300 <= route.status < 400:
                self._answer(route.status, b"", "text/plain", {"Location": route.location})
            elif route.status != 200:
                self._answer(route.status, b"<h1>error</h1>", "text/html")
            elif self._not_modified(route):
                self._answer(304, b"", "", self._validators(route))
            else:
                self._answer(200, route.body, route.content_type, self._validators(route))

        def _not_modified(self, route: Route) -> bool:
            sent_etag = self.headers.get("If-None-Match")
            if route.etag and sent_etag is not None:
                return sent_etag == route.etag
            since = self.headers.get("If-Modified-Since")
            return bool(route.last_modified) and since == route.last_modified

        def _validators(self, route: Route) -> dict[str, str]:
            headers = {}
            if route.etag:
                headers["ETag"] = route.etag
            if route.last_modified:
                headers["Last-Modified"] = route.last_modified
            return headers

        def _answer(
            self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
        ) -> None:
            with server.lock:
                server.counts[(self.path.split("?")[0], status)] += 1
            self.send_response(status)
            if content_type:
                self.send_header("Content-Type", content_type)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if body:
                # The client may give up first (size cap, timeout).
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


def serve_feeds() -> Iterator[FeedServer]:
    """Run a :class:`FeedServer` on a free local port until the generator is closed."""
    state = FeedServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    state.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()


# -- feeds written for the tests --------------------------------------------------------------


@dataclass
class Post:
    """One post of a test blog."""

    guid: str
    title: str
    date: str  # RFC 822 for RSS, ISO 8601 for Atom
    html: str
    author: str = "김필자"
    tags: tuple[str, ...] = ()
    summary: str = ""
    updated: str = ""


def brunch_rss(posts: list[Post], *, codec: str = "utf-8", declared: str | None = "utf-8") -> bytes:
    """A brunch-style RSS 2.0 feed of ``posts`` in bytes of ``codec``, its XML prolog saying
    ``declared`` (``None``: no encoding in the prolog, only the HTTP header can say it)."""
    prolog = f'<?xml version="1.0" encoding="{declared}"?>' if declared else '<?xml version="1.0"?>'
    items = "".join(
        f"""
    <item>
      <title><![CDATA[{post.title}]]></title>
      <link>{post.guid}</link>
      <guid isPermaLink="true">{post.guid}</guid>
      <pubDate>{post.date}</pubDate>
      <dc:creator><![CDATA[{post.author}]]></dc:creator>
      {"".join(f"<category><![CDATA[{tag}]]></category>" for tag in post.tags)}
      <description><![CDATA[{post.html}]]></description>
    </item>"""
        for post in posts
    )
    text = f"""{prolog}
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">
  <channel>
    <title><![CDATA[테스트 작가의 브런치]]></title>
    <link>https://brunch.example/@tester</link>
    <description><![CDATA[시험용으로 쓴 글 모음]]></description>
    <language>ko</language>{items}
  </channel>
</rss>
"""
    return text.encode(codec)


def jekyll_atom(posts: list[Post], *, site: str = "https://blog.example") -> bytes:
    """A jekyll-feed style Atom ``feed.xml`` of ``posts`` (UTF-8)."""
    entries = "".join(
        f"""
<entry>
  <title type="html">{escape(post.title)}</title>
  <link href="{post.guid}" rel="alternate" type="text/html" title="{escape(post.title)}" />
  <published>{post.date}</published>
  <updated>{post.updated or post.date}</updated>
  <id>{post.guid}</id>
  <content type="html" xml:base="{post.guid}">{escape(post.html)}</content>
  <author><name>{escape(post.author)}</name></author>
  {"".join(f'<category term="{escape(tag)}" />' for tag in post.tags)}
  <summary type="html">{escape(post.summary)}</summary>
</entry>"""
        for post in posts
    )
    text = f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
<generator uri="https://jekyllrb.com/" version="4.3.3">Jekyll</generator>
<link href="{site}/feed.xml" rel="self" type="application/atom+xml" />
<link href="{site}/" rel="alternate" type="text/html" />
<updated>2026-11-20T09:00:00+09:00</updated>
<id>{site}/feed.xml</id>
<title type="html">테스트 기술 뉴스</title>
<subtitle>시험용 사이트</subtitle>{entries}
</feed>
"""
    return text.encode("utf-8")
