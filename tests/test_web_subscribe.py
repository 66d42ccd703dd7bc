"""Sign-up: the form, double opt-in, the same answer for every address, abuse guards."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from newsletter.services import Services
from newsletter.web import create_app
from tests.fixtures.web import Outbox, add_subscriber, body_html, body_text, link, statuses

BOTH = {"newsletters": ["weekly", "letters"]}


def _main(html: str) -> str:
    """The page's <main>, where the answer is (the footer holds the language links)."""
    match = re.search(r"<main.*?</main>", html, re.S)
    assert match
    return match[0]


def test_form_ticks_no_newsletter_when_there_are_several(web_client: TestClient) -> None:
    page = web_client.get("/subscribe").text
    assert page.count('type="checkbox" name="newsletters"') == 2
    assert "checked" not in _main(page)
    assert 'for="email"' in page and 'id="email"' in page  # labelled fields
    assert 'for="name"' in page


def test_sign_up_sends_confirmation_and_stays_pending(
    web_client: TestClient, outbox: Outbox, services: Services
) -> None:
    response = web_client.post(
        "/subscribe", data={"email": "reader@example.com", "name": "민지", **BOTH}
    )
    assert response.status_code == 200
    (message,) = outbox.wait_for("reader@example.com")
    assert "구독" in str(message["Subject"])
    assert "민지" not in body_text(message)  # an unconfirmed name is only what was typed
    assert 'lang="ko"' in body_html(message)
    assert "/confirm/" in link(message, "confirm")
    data = web_client.get(link(message, "confirm"))
    assert data.status_code == 200
    sid = _subscriber_id(services, "reader@example.com")
    assert statuses(services, sid) == {"letters": "pending", "weekly": "pending"}


def test_answer_is_the_same_for_known_and_unknown_addresses(
    web_client: TestClient, services: Services
) -> None:
    add_subscriber(services, "known@example.com")
    known = web_client.post("/subscribe", data={"email": "known@example.com", **BOTH})
    unknown = web_client.post("/subscribe", data={"email": "new@example.com", **BOTH})
    assert known.status_code == unknown.status_code == 200
    assert _main(known.text) == _main(unknown.text)
    assert known.headers.get("set-cookie") is None and unknown.headers.get("set-cookie") is None


def test_honeypot_answers_alike_and_sends_nothing(
    web_client: TestClient, outbox: Outbox, services: Services
) -> None:
    trap = web_client.post(
        "/subscribe", data={"email": "bot@example.com", "website": "http://spam", **BOTH}
    )
    real = web_client.post("/subscribe", data={"email": "human@example.com", **BOTH})
    assert trap.status_code == real.status_code == 200
    assert _main(trap.text) == _main(real.text)
    assert outbox.wait_for("human@example.com")
    assert outbox.to("bot@example.com") == []
    with services.sessions() as session:
        from subscribers.queries import find_subscriber

        assert find_subscriber(session, "bot@example.com") is None


def test_rate_limit_per_address(web_client: TestClient, outbox: Outbox) -> None:
    # settings.web.subscribe_rate_limit_per_address defaults to 3 an hour.
    codes = [
        web_client.post("/subscribe", data={"email": "Victim@Example.com", **BOTH}).status_code
        for _ in range(5)
    ]
    assert codes == [200, 200, 200, 429, 429]
    assert len(outbox.wait_for("Victim@Example.com", 3)) == 3
    assert web_client.post("/subscribe", data={"email": "other@example.com", **BOTH}).is_success


def test_rate_limit_per_ip_counts_honeypot_hits_too(web_client: TestClient) -> None:
    # The IP limit defaults to 10 an hour; the TestClient always comes from one address.
    codes = [
        web_client.post(
            "/subscribe", data={"email": f"r{i}@example.com", "website": "x", **BOTH}
        ).status_code
        for i in range(12)
    ]
    assert codes == [200] * 10 + [429] * 2
    page = web_client.post(
        "/subscribe", data={"email": "late@example.com", **BOTH}, headers={"accept": "text/html"}
    )
    assert page.status_code == 429
    assert "잠시 뒤에" in page.text


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"email": "not-an-address", **BOTH}, "올바른 이메일"),
        ({"email": "ok@example.com"}, "하나 이상"),
        ({"email": "ok@example.com", "newsletters": ["nope"]}, "하나 이상"),
    ],
)
def test_bad_input_shows_the_form_again(
    web_client: TestClient, outbox: Outbox, data: dict[str, object], message: str
) -> None:
    response = web_client.post("/subscribe", data=data)
    assert response.status_code == 422
    assert message in response.text
    assert 'role="alert"' in response.text
    assert outbox.messages() == []


def test_accept_language_and_explicit_choice(web_client: TestClient) -> None:
    english = web_client.get("/subscribe", headers={"accept-language": "en-US,en;q=0.9"})
    assert '<html lang="en">' in english.text and "Email address" in english.text
    korean = web_client.get("/subscribe", headers={"accept-language": "fr, ko;q=0.5"})
    assert '<html lang="ko">' in korean.text and "이메일 주소" in korean.text
    default = web_client.get("/subscribe", headers={"accept-language": "fr"})
    assert '<html lang="ko">' in default.text  # site.language
    chosen = web_client.get("/subscribe?lang=en", headers={"accept-language": "ko"})
    assert '<html lang="en">' in chosen.text


def test_english_sign_up_gets_english_email(web_client: TestClient, outbox: Outbox) -> None:
    web_client.post("/subscribe", data={"email": "en@example.com", "lang": "en", **BOTH})
    (message,) = outbox.wait_for("en@example.com")
    assert "confirm" in str(message["Subject"]).lower()
    assert 'lang="en"' in body_html(message)


def test_single_newsletter_site_ticks_it(services: Services) -> None:
    settings = services.settings.model_copy(
        update={"newsletters": services.settings.newsletters[:1]}
    )
    single = Services(settings=settings, engine=services.engine, sessions=services.sessions)
    with TestClient(create_app(single), base_url=settings.site.url) as client:
        page = client.get("/subscribe").text
    assert 'type="hidden" name="newsletters" value="weekly"' in page


def _subscriber_id(services: Services, email: str) -> int:
    from subscribers.queries import find_subscriber

    with services.sessions() as session:
        person = find_subscriber(session, email)
    assert person is not None
    return person.id


def test_documented_snippet_posts_what_the_route_takes(
    web_client: TestClient, outbox: Outbox
) -> None:
    from pathlib import Path

    doc = (Path(__file__).resolve().parent.parent / "docs" / "web.md").read_text("utf-8")
    snippet = re.search(r"```html\n(<form.*?</form>)\n```", doc, re.S)
    assert snippet, "docs/web.md lost its embeddable snippet"
    names = set(re.findall(r'name="([a-z_-]+)"', snippet[1]))
    assert names == {"lang", "email", "name", "newsletters", "website"}
    assert 'action="https://news.example.org/subscribe"' in snippet[1]
    values = re.findall(r'name="newsletters" value="([a-z]+)"', snippet[1])
    data = {"lang": "ko", "email": "embed@example.com", "name": "", "website": ""}
    response = web_client.post("/subscribe", data={**data, "newsletters": values[:1]})
    assert response.status_code == 200
    assert outbox.wait_for("embed@example.com")
