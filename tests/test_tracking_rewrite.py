"""Which links are tracked: campaign http(s) links only, never subscriber pages or markers."""

from __future__ import annotations

from dataclasses import replace

import pytest

from newsletter.tracking.rewrite import issue_links, trackable, with_utm
from tests.fixtures.delivery import rendered_issue

SITE = "https://news.example.org"


@pytest.mark.parametrize(
    "url",
    [
        "HTTPS://NEWS.EXAMPLE.ORG/Unsubscribe/abc",
        f"{SITE}/preferences/abc",
        f"{SITE}/subscribe",
        f"{SITE}/confirm/abc",
        f"{SITE}/data/abc",
        f"{SITE}/l/abc",
        "mailto:editor@example.org",
        "tel:+82-2-000-0000",
        "#section",
        "/relative",
        "javascript:alert(1)",
        "https://example.com/%%NLH_UNSUBSCRIBE_URL%%",
    ],
)
def test_never_tracked(url: str) -> None:
    assert not trackable(url, site_url=SITE)


@pytest.mark.parametrize(
    "url", ["https://example.com/", "http://x.example/a?b#c", f"{SITE}/archive/other-issue"]
)
def test_tracked(url: str) -> None:
    assert trackable(url, site_url=SITE)


def test_only_real_href_attributes_of_anchors_count() -> None:
    base = rendered_issue()
    html = base.html.replace(
        "</body>",
        '<a data-href="https://a.example/">x</a><link href="https://b.example/">'
        "<a class='x' href='https://c.example/?a=1&amp;b=2'>c</a></body>",
    )
    assert issue_links(replace(base, html=html), site_url=SITE) == ["https://c.example/?a=1&b=2"]


def test_utm_keeps_an_existing_campaign_and_an_empty_query() -> None:
    utm = {"utm_source": "nl"}
    assert with_utm("https://a.example/?utm_source=x", utm, slug="s") == (
        "https://a.example/?utm_source=x"
    )
    assert with_utm("https://a.example/?", utm, slug="s") == "https://a.example/?utm_source=nl"
    assert with_utm("https://a.example/#f", {}, slug="s") == "https://a.example/#f"
