"""Fetching a feed: one conditional GET, bounded in time, size and redirects.

``If-None-Match``/``If-Modified-Since`` carry the validators the last answer gave; a
``304 Not Modified`` comes back as :attr:`Fetched.not_modified` with no body. Every way a
fetch can fail (a refused connection, a timeout, a 4xx/5xx, too many redirects, a body past
``feeds.max_bytes``) is one :class:`~newsletter.errors.FeedError` whose message is the line
``feeds list`` shows.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx

from newsletter import __version__
from newsletter.errors import FeedError
from newsletter.settings import FeedsSettings

ACCEPT = (
    "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)


@dataclass(frozen=True)
class Fetched:
    """A feed's answer: its bytes (none when not modified) and the validators to send next."""

    not_modified: bool
    body: bytes
    content_type: str
    url: str  # after redirects: the base for relative links
    etag: str
    last_modified: str


def open_client(
    limits: FeedsSettings, *, transport: httpx.BaseTransport | None = None
) -> httpx.Client:
    """An HTTP client for feeds: redirects followed up to ``max_redirects``, each step timed."""
    return httpx.Client(
        timeout=httpx.Timeout(limits.timeout.total_seconds()),
        follow_redirects=True,
        max_redirects=limits.max_redirects,
        headers={"User-Agent": f"newsletter/{__version__} (feeds)", "Accept": ACCEPT},
        transport=transport,
    )


def fetch_feed(
    client: httpx.Client, url: str, *, etag: str, last_modified: str, limits: FeedsSettings
) -> Fetched:
    """GET ``url`` with the validators of the last answer; ``FeedError`` when it fails."""
    headers = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    try:
        with client.stream("GET", url, headers=headers) as response:
            if response.status_code == 304:
                return _answer(response, b"", not_modified=True, etag=etag, modified=last_modified)
            if not 200 <= response.status_code < 300:
                raise FeedError(f"{url}: HTTP {response.status_code} {response.reason_phrase}")
            body = _read_capped(response, limits, url)
    except httpx.TimeoutException:
        raise FeedError(f"{url}: timed out after {limits.timeout.total_seconds():g} s") from None
    except httpx.TooManyRedirects:
        raise FeedError(f"{url}: more than {limits.max_redirects} redirects") from None
    except httpx.HTTPError as exc:
        raise FeedError(f"{url}: {type(exc).__name__}: {exc}".strip()) from None
    return _answer(response, body, not_modified=False, etag="", modified="")


def _answer(
    response: httpx.Response, body: bytes, *, not_modified: bool, etag: str, modified: str
) -> Fetched:
    # A 304 may omit the validators: the ones sent stay valid then.
    return Fetched(
        not_modified=not_modified,
        body=body,
        content_type=response.headers.get("content-type", ""),
        url=str(response.url),
        etag=_one_line(response.headers.get("etag", "")) or etag,
        last_modified=_one_line(response.headers.get("last-modified", "")) or modified,
    )


def _read_capped(response: httpx.Response, limits: FeedsSettings, url: str) -> bytes:
    """The body, refused past ``max_bytes`` (counted after decompression) or past the
    timeout in all (a server dripping a byte at a time never trips the per-read timeout)."""
    deadline = time.monotonic() + limits.timeout.total_seconds()
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > limits.max_bytes:
            raise FeedError(f"{url}: larger than {limits.max_bytes:,} bytes (feeds.max_bytes)")
        if time.monotonic() > deadline:
            raise httpx.ReadTimeout("the whole body took too long", request=response.request)
        chunks.append(chunk)
    return b"".join(chunks)


def _one_line(value: str) -> str:
    return " ".join(value.split())[:500]
