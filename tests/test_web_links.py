"""The signed-link pages: confirm, unsubscribe (RFC 8058 one-click), and bad tokens."""

from __future__ import annotations

import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from newsletter.services import Services
from subscribers.db import Base
from subscribers.tokens import TokenSigner
from tests.fixtures.web import Outbox, add_subscriber, body_text, link, statuses, token_url

ONE_CLICK = {"List-Unsubscribe": "One-Click"}


def snapshot(services: Services) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table: what "no state changed" is asserted against."""
    with services.sessions() as session:
        return {
            table.name: sorted(map(tuple, session.execute(select(table))), key=repr)
            for table in Base.metadata.sorted_tables
        }


def _sign_up(client: TestClient, outbox: Outbox, email: str) -> str:
    client.post("/subscribe", data={"email": email, "newsletters": ["weekly", "letters"]})
    (message,) = outbox.wait_for(email)
    return link(message, "confirm")


def test_confirm_get_shows_a_button_and_post_confirms(
    web_client: TestClient, outbox: Outbox, services: Services
) -> None:
    url = _sign_up(web_client, outbox, "c@example.com")
    page = web_client.get(url)
    assert page.status_code == 200
    assert f'action="{url}"' in page.text and "<button" in page.text
    sid = services.tokens.loads(url.rsplit("/", 1)[1], "confirm").subscriber_id
    assert set(statuses(services, sid).values()) == {"pending"}
    assert web_client.post(url).status_code == 200
    assert set(statuses(services, sid).values()) == {"active"}


def test_welcome_email_is_sent_once(
    web_client: TestClient, outbox: Outbox, services: Services
) -> None:
    url = _sign_up(web_client, outbox, "w@example.com")
    for _ in range(3):
        assert web_client.post(url).status_code == 200
    messages = outbox.wait_for("w@example.com", 2)
    time.sleep(0.2)
    messages = outbox.to("w@example.com")
    assert len(messages) == 2, [m["Subject"] for m in messages]
    welcome = messages[-1]
    assert "감사" in str(welcome["Subject"])
    assert "One-Click" in str(welcome["List-Unsubscribe-Post"])
    assert "/preferences/" in body_text(welcome)


def test_expired_confirm_link_offers_a_new_email(
    web_client: TestClient, outbox: Outbox, services: Services
) -> None:
    url = _sign_up(web_client, outbox, "late@example.com")
    token = url.rsplit("/", 1)[1]
    sid = services.tokens.loads(token, "confirm").subscriber_id
    # A signer whose links expire at once stands in for a week passing.
    services.tokens.confirm_max_age = services.tokens.confirm_max_age * 0
    time.sleep(1.1)
    page = web_client.get(url)
    assert page.status_code == 200 and "/resend" in page.text
    assert web_client.post(url).status_code == 200  # the same page: nothing confirmed
    assert set(statuses(services, sid).values()) == {"pending"}
    resent = web_client.post(f"{url}/resend")
    assert resent.status_code == 200
    assert len(outbox.wait_for("late@example.com", 2)) == 2


def test_unsubscribe_get_never_changes_state(web_client: TestClient, services: Services) -> None:
    sid = add_subscriber(services, "g@example.com")
    before = snapshot(services)
    urls = [
        token_url(services, "unsubscribe", sid, "weekly"),
        token_url(services, "preferences", sid),
        token_url(services, "confirm", sid),
        f"{services.settings.site.url}/archive",
        f"{services.settings.site.url}/subscribe",
    ]
    for _ in range(20):
        for url in urls:
            assert web_client.get(url).status_code == 200
            assert web_client.head(url).status_code in (200, 405)
    assert snapshot(services) == before
    assert statuses(services, sid) == {"letters": "active", "weekly": "active"}


def test_unsubscribe_page_form_unsubscribes(web_client: TestClient, services: Services) -> None:
    sid = add_subscriber(services, "p@example.com")
    url = token_url(services, "unsubscribe", sid, "weekly")
    page = web_client.get(url)
    assert "/preferences/" in page.text
    done = web_client.post(url, data={"lang": "en"})
    assert done.status_code == 200 and "unsubscribed" in done.text
    assert statuses(services, sid) == {"letters": "active", "weekly": "unsubscribed"}
    assert "already" in web_client.get(url + "?lang=en").text


@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
def test_one_click_unsubscribe(services: Services, encoding: str) -> None:
    from newsletter.web import create_app

    sid = add_subscriber(services, f"{encoding}@example.com")
    url = token_url(services, "unsubscribe", sid, "letters")
    # A fresh client with no cookie jar, as a mail provider's one-click POST comes.
    with TestClient(create_app(services), base_url=services.settings.site.url) as client:
        for _ in range(3):  # providers retry: repeats are harmless
            if encoding == "multipart":
                response = client.post(url, files={"List-Unsubscribe": (None, "One-Click")})
            else:
                response = client.post(url, data=ONE_CLICK)
            assert response.status_code == 200
            assert not response.is_redirect and response.history == []
            assert "set-cookie" not in response.headers
        assert client.cookies == {} or not client.cookies
    assert statuses(services, sid) == {"letters": "unsubscribed", "weekly": "active"}


def test_one_click_after_erasure_is_still_200(web_client: TestClient, services: Services) -> None:
    from newsletter.db import transaction
    from subscribers import privacy

    sid = add_subscriber(services, "gone@example.com")
    url = token_url(services, "unsubscribe", sid, "weekly")
    with transaction(services.sessions) as session:
        privacy.erase(session, subscriber_id=sid)
    assert web_client.post(url, data=ONE_CLICK).status_code == 200
    assert web_client.get(url).status_code == 404


def _bad_tokens(services: Services, sid: int, purpose: str) -> list[str]:
    newsletter = "weekly" if purpose == "unsubscribe" else None
    good = services.tokens.dumps(purpose, sid, newsletter)
    body, _, signature = good.partition(".")
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    other = "preferences" if purpose != "preferences" else "unsubscribe"
    return [
        f"{body}.{flipped}",  # tampered signature
        TokenSigner(["another-site-secret"]).dumps(purpose, sid, newsletter),  # foreign key
        services.tokens.dumps(other, sid, "weekly"),  # the wrong purpose
        "made-up",
        body,
        services.tokens.dumps(purpose, sid + 999, newsletter),  # nobody
    ]


def test_bad_tokens_get_the_same_404(web_client: TestClient, services: Services) -> None:
    sid = add_subscriber(services, "t@example.com")
    site = services.settings.site.url
    answers = set()
    for route in ("unsubscribe", "preferences", "confirm"):
        for bad in _bad_tokens(services, sid, route):
            for method in ("GET", "POST"):
                response = web_client.request(
                    method, f"{site}/{route}/{bad}", headers={"accept": "text/html"}
                )
                assert response.status_code == 404, (route, method, bad)
                # Only the page's own address (in its language links) differs.
                answers.add(response.text.replace(f"/{route}/{bad}", "/PATH"))
    unknown = services.tokens.dumps("unsubscribe", sid, "no-such-newsletter")
    assert web_client.get(f"{site}/unsubscribe/{unknown}").status_code == 404
    assert len(answers) == 1
    assert statuses(services, sid) == {"letters": "active", "weekly": "active"}


def test_one_click_writes_one_event_and_bad_tokens_still_404(
    web_client: TestClient, services: Services
) -> None:
    from subscribers.models import Event

    sid = add_subscriber(services, "events@example.com")
    url = token_url(services, "unsubscribe", sid, "weekly")
    for _ in range(3):
        assert web_client.post(url, data=ONE_CLICK).status_code == 200
    with services.sessions() as session:
        kinds = [
            (e.kind, e.how, e.newsletter_id)
            for e in session.scalars(select(Event).where(Event.subscriber_id == sid))
            if e.kind == "unsubscribed"
        ]
    assert kinds == [("unsubscribed", "one-click", "weekly")]
    forged = url[:-3] + ("AAA" if not url.endswith("AAA") else "BBB")
    assert web_client.post(forged, data=ONE_CLICK).status_code == 404
    big = {"List-Unsubscribe": "One-Click", "padding": "x" * 10_000}
    other = token_url(services, "unsubscribe", sid, "letters")
    assert web_client.post(other, data=big).status_code == 200  # the route, not the fast path
    assert statuses(services, sid) == {"letters": "unsubscribed", "weekly": "unsubscribed"}
