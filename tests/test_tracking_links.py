"""Tracked links: rewritten in campaign emails only, 302 to the exact URL, forged tokens 404."""

from __future__ import annotations

import pytest

from newsletter.tracking.report import engagement_for_issue
from tests.fixtures.web import body_html, body_text
from tests.tracking_support import (
    LINKS,
    READERS,
    Tracked,
    app_client,
    delivered,
    flush,
    path_of,
    send_issue,
    tracked_links,
)

pytestmark = pytest.mark.db


def test_tracking_is_off_by_default_and_links_go_out_untouched(tracked: Tracked) -> None:
    services = tracked()
    assert services.settings.newsletter("weekly").tracking == "off"
    send_issue(services, readers=READERS[:1])
    message = delivered(services, READERS[0])
    assert "/l/" not in body_html(message) and "/o/" not in body_html(message)
    assert 'href="https://example.com/a?x=1&amp;y=%ED%95%9C#part-2"' in body_html(message)


def test_yaml_off_reads_as_off(tracked: Tracked) -> None:
    services = tracked(tracking=False)  # YAML's bare `off`
    assert services.settings.newsletter("weekly").tracking == "off"


@pytest.mark.parametrize("mode", ["aggregate", "per_reader"])
def test_every_campaign_link_redirects_to_its_exact_url(tracked: Tracked, mode: str) -> None:
    services = tracked(tracking=mode)
    send_issue(services)
    with app_client(services) as client:
        for email in READERS:
            message = delivered(services, email)
            urls = tracked_links(message)
            # Three distinct links (one twice) and the trap; the unsubscribe, preferences
            # and view links are never rewritten.
            assert len(urls) == 5 and len(set(urls)) == 4
            html = body_html(message)
            assert "https://news.example.org/unsubscribe/" in html
            assert "https://news.example.org/preferences/" in html
            assert 'href="https://news.example.org/archive/hello"' in html
            targets = [client.get(path_of(url)) for url in urls[:4]]
            assert [r.status_code for r in targets] == [302] * 4
            assert [r.headers["location"] for r in targets] == [
                LINKS[0],
                LINKS[1],
                LINKS[0],
                LINKS[2],
            ]
            # The text part's copies go through the same tracked links.
            text = body_text(message)
            assert LINKS[2] not in text and path_of(urls[3]) in text


def test_each_reader_gets_personal_tokens_rendered_once(tracked: Tracked) -> None:
    services = tracked(tracking="per_reader")
    send_issue(services)
    firsts = {tracked_links(delivered(services, email))[0] for email in READERS}
    assert len(firsts) == len(READERS)
    # Only the reader part differs: the link part is the same in every email.
    assert len({tuple(url.rsplit(".", 2)[1:]) for url in firsts}) == 1


def test_forged_or_altered_tokens_404(tracked: Tracked) -> None:
    services = tracked(tracking="per_reader", opens=True)
    send_issue(services, readers=READERS[:2])
    one = path_of(tracked_links(delivered(services, READERS[0]))[0])
    two = path_of(tracked_links(delivered(services, READERS[1]))[1])
    head, _, _ = one.rpartition(".")
    reader_part = one.rsplit(".", 2)[0]
    link_part = "." + ".".join(two.rsplit(".", 2)[1:])
    with app_client(services) as client:
        assert client.get(one).status_code == 302
        # Halves of two genuine emails of the same send fit: both were sent.
        assert client.get(reader_part + link_part).status_code == 302
        forged = [
            head + ".AAAAAAAAAAAA",
            one[:-1] + ("A" if one[-1] != "A" else "B"),
            one.replace("/l/1.", "/l/2.", 1),
            one.replace("/l/", "/l/0", 1),
            "/l/1.1.pn.AAAAAAAAAAAA.2.AAAAAAAAAAAA",
            "/l/https%3A%2F%2Fevil.example",
            "/l/" + "1." * 80,
            one + ".x",
            one.replace("/l/", "/o/"),  # a link is not a pixel
        ]
        for path in forged:
            response = client.get(path)
            assert response.status_code == 404, path
            assert "location" not in response.headers


def test_open_pixel_only_with_opens(tracked: Tracked) -> None:
    services = tracked(tracking="aggregate", opens=True)
    send_issue(services, readers=READERS[:1])
    html = body_html(delivered(services, READERS[0]))
    assert html.count("https://news.example.org/o/") == 1
    pixel = html.split('src="https://news.example.org', 1)[1].split('"', 1)[0]
    proxy = {
        "user-agent": "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0"
        " (via ggpht.com GoogleImageProxy)"
    }
    with app_client(services) as client:
        response = client.get(pixel.replace("&amp;", "&"), headers=proxy)
        assert response.status_code == 200 and response.headers["content-type"] == "image/gif"
        flush(client)
        report = engagement_for_issue(services, "hello")
        assert report.openers == 0 and report.machine_reasons == {"proxy:Google image proxy": 1}
        client.get(pixel.replace("&amp;", "&"), headers={"user-agent": "Thunderbird/128.0"})
    assert engagement_for_issue(services, "hello").openers == 1


def test_utm_parameters_are_added_keeping_query_and_fragment(tracked: Tracked) -> None:
    utm = {"utm_source": "newsletter", "utm_campaign": "{slug}"}
    services = tracked(tracking="aggregate", utm=utm)
    send_issue(services, readers=READERS[:1])
    urls = tracked_links(delivered(services, READERS[0]))
    with app_client(services) as client:
        first = client.get(path_of(urls[0])).headers["location"]
        second = client.get(path_of(urls[1])).headers["location"]
    assert first == (
        "https://example.com/a?x=1&y=%ED%95%9C&utm_campaign=hello&utm_source=newsletter#part-2"
    )
    assert second == "https://example.com/b/?utm_campaign=hello&utm_source=newsletter"
