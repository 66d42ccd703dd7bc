"""Export and erasure need the short-lived link mailed to the address, not the long-lived
preferences link (issue 11, point 7). Through a real uvicorn server and the outbox."""

from __future__ import annotations

import json
import re
import time

import httpx
import pytest

from subscribers import tokens
from subscribers.queries import find_subscriber
from subscribers.tokens import TokenPurpose
from tests.fixtures.web import LiveSite, add_subscriber, body_text, link, token_url


def _csrf(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page)
    assert match, "no CSRF token on the page"
    return match[1]


def _exists(site: LiveSite, email: str) -> bool:
    with site.services.sessions() as session:
        return find_subscriber(session, email) is not None


def test_the_preferences_link_alone_neither_exports_nor_erases(live_site: LiveSite) -> None:
    sid = add_subscriber(live_site.services, "held@example.com", name="Held")
    url = token_url(live_site.services, "preferences", sid)
    with httpx.Client() as client:
        csrf = _csrf(client.get(url).text)
        for action in ("export", "erase"):
            response = client.post(url, data={"csrf_token": csrf, "action": action})
            assert response.status_code == 303  # back to the page: "we mailed you a link"
        notice = client.get(response.headers["location"]).text
        assert "링크를 메일로 보냈습니다" in notice
        confirm = client.post(url, data={"csrf_token": csrf, "action": "erase_confirm"})
        assert confirm.status_code == 400
        preferences_token = url.rsplit("/", 1)[1]
        assert client.get(f"{live_site.url}/data/{preferences_token}").status_code == 404
        posted = client.post(
            f"{live_site.url}/data/{preferences_token}",
            data={"csrf_token": csrf, "action": "export"},
        )
        assert posted.status_code == 404
    assert _exists(live_site, "held@example.com")
    mails = live_site.outbox.wait_for("held@example.com", 2)
    assert len(mails) == 2 and all("/data/" in body_text(m) for m in mails)


def test_the_mailed_link_exports_and_erases(live_site: LiveSite) -> None:
    sid = add_subscriber(live_site.services, "mine@example.com", name="Mine")
    url = token_url(live_site.services, "preferences", sid)
    with httpx.Client() as client:
        client.post(url, data={"csrf_token": _csrf(client.get(url).text), "action": "export"})
        (mail,) = live_site.outbox.wait_for("mine@example.com")
        data_url = link(mail, "data")
        csrf = _csrf(client.get(data_url).text)
        export = client.post(data_url, data={"csrf_token": csrf, "action": "export"})
        assert export.headers["content-type"].startswith("application/json")
        assert json.loads(export.content)["subscriber"]["email"] == "mine@example.com"
        step = client.post(data_url, data={"csrf_token": csrf, "action": "erase"})
        assert step.status_code == 200 and 'value="erase_confirm"' in step.text
        assert _exists(live_site, "mine@example.com")
        done = client.post(
            data_url, data={"csrf_token": _csrf(step.text), "action": "erase_confirm"}
        )
        assert done.status_code == 200
        assert client.get(data_url).status_code == 404
    assert not _exists(live_site, "mine@example.com")


def test_an_expired_data_link_does_nothing(
    live_site: LiveSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    sid = add_subscriber(live_site.services, "late@example.com")
    issued = time.time() - tokens.DATA_MAX_AGE.total_seconds() - 60
    with monkeypatch.context() as patch:
        patch.setattr(tokens.time, "time", lambda: issued)
        old = live_site.services.tokens.dumps(TokenPurpose.DATA, sid)
    data_url = f"{live_site.url}/data/{old}"
    with httpx.Client() as client:
        assert client.get(data_url).status_code == 404
        posted = client.post(data_url, data={"action": "erase_confirm"})
        assert posted.status_code == 404
    assert _exists(live_site, "late@example.com")
