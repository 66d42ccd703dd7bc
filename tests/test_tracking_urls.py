"""Redirect targets byte for byte: any URL an email may link to comes back as it was sent."""

from __future__ import annotations

import html
import itertools
import shutil
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsletter.delivery import RunOptions, start_send
from newsletter.render import RenderedIssue
from newsletter.services import Services
from newsletter.tracking.routes import location
from tests.fixtures.delivery import rendered_issue
from tests.fixtures.web import add_subscriber
from tests.tracking_support import app_client, delivered, path_of, tracked_links, with_tracking

pytestmark = pytest.mark.db

# RFC 3986: unreserved, sub-delims, ':' '@' and percent-encoded octets.
_CHARS = st.sampled_from(
    list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:@")
)
_PCT = st.builds(lambda n: f"%{n:02X}", st.integers(0, 255))
_PIECE = st.lists(st.one_of(_CHARS, _PCT), max_size=12).map("".join)
URLS = st.builds(
    lambda scheme, host, path, query, fragment: (
        f"{scheme}://{host}/{path}"
        + (f"?{query}" if query is not None else "")
        + (f"#{fragment}" if fragment is not None else "")
    ),
    st.sampled_from(["https", "http", "HTTPS"]),
    st.sampled_from(["example.com", "xn--3e0b707e.kr", "a.example:8443", "[2001:db8::1]"]),
    st.lists(_PIECE, max_size=4).map("/".join),
    st.one_of(st.none(), st.lists(_PIECE, max_size=4).map("&".join)),
    st.one_of(st.none(), st.lists(_PIECE, max_size=3).map("?/".join)),
)


def _issue(slug: str, urls: list[str]) -> RenderedIssue:
    base = rendered_issue(slug)
    links = "".join(f'<p><a href="{html.escape(url)}">{n}</a></p>' for n, url in enumerate(urls))
    return replace(base, html=base.html.replace("</body>", links + "</body>"))


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(urls=st.lists(URLS, min_size=1, max_size=15, unique=True))
def test_redirect_targets_are_the_sent_urls_byte_for_byte(
    services: Services, urls: list[str]
) -> None:
    tracked = with_tracking(services, tracking="per_reader")
    if not _READER:
        _READER.append(add_subscriber(services, "reader@naver.com", ("weekly",)))
    outbox = services.settings.path(services.settings.delivery.outbox_dir)
    shutil.rmtree(outbox, ignore_errors=True)
    slug = f"hello-{next(_SLUGS)}"
    options = RunOptions(renderer=lambda _services, _slug: _issue(slug, urls))
    assert start_send(tracked, slug, options=options).status == "sent"
    sent = tracked_links(delivered(services, "reader@naver.com"))
    assert len(sent) == len(urls) + 1  # and the trap
    with app_client(tracked) as client:
        targets = [client.get(path_of(url)).headers["location"] for url in sent[:-1]]
    assert targets == urls


_SLUGS = itertools.count()
_READER: list[int] = []


@pytest.fixture(autouse=True)
def _fresh_reader() -> None:
    _READER.clear()


@given(st.text(max_size=40))
def test_a_location_never_carries_what_a_header_cannot(text: str) -> None:
    value = location("https://example.com/" + text)
    assert all(0x21 <= ord(char) <= 0x7E for char in value)
    if all(0x21 <= ord(char) <= 0x7E for char in text):
        assert value == "https://example.com/" + text
