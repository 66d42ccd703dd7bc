"""The preferences page: CSRF-protected actions, pause, re-subscribe, export and erasure."""

from __future__ import annotations

import re

import httpx
from fastapi.testclient import TestClient

from newsletter.services import Services
from newsletter.web import create_app
from tests.fixtures.web import LiveSite, add_subscriber, statuses, token_url


def _csrf(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page)
    assert match, "no CSRF token on the page"
    return match[1]


def _open(client: TestClient, url: str) -> str:
    page = client.get(url)
    assert page.status_code == 200
    return _csrf(page.text)


def test_save_changes_newsletters_and_name(web_client: TestClient, services: Services) -> None:
    sid = add_subscriber(services, "s@example.com", name="Old")
    url = token_url(services, "preferences", sid)
    csrf = _open(web_client, url)
    response = web_client.post(
        url,
        data={"csrf_token": csrf, "action": "save", "newsletters": ["letters"], "name": "새 이름"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert statuses(services, sid) == {"letters": "active", "weekly": "unsubscribed"}
    page = web_client.get(response.headers["location"]).text
    assert "새 이름" in page and "저장했습니다" in page


def test_csrf_refusals(web_client: TestClient, services: Services) -> None:
    owner = add_subscriber(services, "owner@example.com")
    other = add_subscriber(services, "other@example.com")
    owner_url = token_url(services, "preferences", owner)
    other_url = token_url(services, "preferences", other)
    leave = {"action": "unsubscribe_all"}

    # No token at all, and a made-up one.
    _open(web_client, owner_url)
    assert web_client.post(owner_url, data=leave).status_code == 403
    assert web_client.post(owner_url, data={**leave, "csrf_token": "0" * 64}).status_code == 403
    # A token from the other subscriber's page, in the same browser.
    other_token = _open(web_client, other_url)
    assert web_client.post(owner_url, data={**leave, "csrf_token": other_token}).status_code == 403
    # The owner's token replayed from someone else's browser session (another cookie).
    owner_token = _open(web_client, owner_url)
    with TestClient(create_app(services), base_url=services.settings.site.url) as stranger:
        stranger.get(owner_url)  # the stranger has a session of their own
        refused = stranger.post(owner_url, data={**leave, "csrf_token": owner_token})
        assert refused.status_code == 403
    assert statuses(services, owner) == {"letters": "active", "weekly": "active"}
    # The owner's own session still works.
    ok = web_client.post(owner_url, data={**leave, "csrf_token": owner_token})
    assert ok.status_code == 200  # followed the 303 back to the page
    assert set(statuses(services, owner).values()) == {"unsubscribed"}


def test_session_cookie_is_httponly_and_lax(web_client: TestClient, services: Services) -> None:
    sid = add_subscriber(services, "cookie@example.com")
    response = web_client.get(token_url(services, "preferences", sid))
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" in cookie


def test_pause_resume_and_resubscribe(web_client: TestClient, services: Services) -> None:
    sid = add_subscriber(services, "pause@example.com")
    url = token_url(services, "preferences", sid)
    csrf = _open(web_client, url)
    page = web_client.post(url, data={"csrf_token": csrf, "action": "pause", "weeks": "2"}).text
    assert "일시 중지" in page
    from subscribers.queries import subscriptions_of

    with services.sessions() as session:
        assert all(s.paused_until for s in subscriptions_of(session, sid))
    web_client.post(url, data={"csrf_token": csrf, "action": "resume"})
    with services.sessions() as session:
        assert not any(s.paused_until for s in subscriptions_of(session, sid))
    web_client.post(url, data={"csrf_token": csrf, "action": "unsubscribe_all"})
    page = web_client.get(url).text
    assert page.count('value="resubscribe"') == 2
    web_client.post(url, data={"csrf_token": csrf, "action": "resubscribe", "newsletter": "weekly"})
    assert statuses(services, sid) == {"letters": "unsubscribed", "weekly": "active"}


def test_pause_weeks_out_of_range_is_refused(web_client: TestClient, services: Services) -> None:
    sid = add_subscriber(services, "range@example.com")
    url = token_url(services, "preferences", sid)
    csrf = _open(web_client, url)
    response = web_client.post(url, data={"csrf_token": csrf, "action": "pause", "weeks": "999"})
    assert response.status_code == 422


def test_bounced_subscriber_cannot_resubscribe_here(
    web_client: TestClient, services: Services
) -> None:
    from newsletter.db import transaction
    from subscribers import service
    from subscribers.models import Subscriber

    sid = add_subscriber(services, "bounced@example.com")
    with transaction(services.sessions) as session:
        service.unsubscribe(session, subscriber_id=sid, newsletter_id="weekly")
        person = session.get(Subscriber, sid)
        assert person is not None
        person.status = "bounced"
    url = token_url(services, "preferences", sid)
    csrf = _open(web_client, url)
    page = web_client.post(
        url, data={"csrf_token": csrf, "action": "resubscribe", "newsletter": "weekly"}
    )
    assert page.status_code == 200 and 'role="alert"' in page.text
    assert statuses(services, sid)["weekly"] == "unsubscribed"


def test_unknown_action_is_refused_and_changes_nothing(live_site: LiveSite) -> None:
    services = live_site.services
    sid = add_subscriber(services, "odd@example.com", name="Odd")
    url = token_url(services, "preferences", sid)
    with httpx.Client() as client:
        csrf = _csrf(client.get(url).text)
        for action in ("delete", "Save", "save ", ""):
            response = client.post(url, data={"csrf_token": csrf, "action": action})
            assert response.status_code == 400, action
            assert "아무것도 바꾸지 않았습니다" in response.text
    assert statuses(services, sid) == {"letters": "active", "weekly": "active"}
