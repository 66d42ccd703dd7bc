"""Advertising consent on the pages: the sign-up form's unticked box, the preferences toggle."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from newsletter.advertising.notices import send_due_notices
from newsletter.services import Services
from subscribers import ad_consent
from tests.fixtures.web import Outbox, add_subscriber, body_text, link, token_url


def _given(services: Services, subscriber_id: int) -> list[str]:
    with services.sessions() as session:
        return ad_consent.given_newsletters(session, subscriber_id)


def test_the_sign_up_box_is_there_unticked_with_a_label_saying_what_it_is(
    web_client: TestClient,
) -> None:
    page = web_client.get("/subscribe").text
    (box,) = re.findall(r'<input type="checkbox" name="ad_consent"[^>]*>', page)
    assert "checked" not in box
    assert "광고성 정보 수신 동의" in page
    english = web_client.get("/subscribe", headers={"Accept-Language": "en"}).text
    assert "I agree to receive advertising (광고성 정보)" in english


def test_a_ticked_box_gives_consent_only_when_the_sign_up_is_confirmed(
    web_client: TestClient, services: Services, outbox: Outbox
) -> None:
    web_client.post(
        "/subscribe",
        data={"email": "ad@example.com", "newsletters": ["weekly"], "ad_consent": "1"},
        headers={"User-Agent": "Browser/1.0"},
    )
    (confirmation,) = outbox.wait_for("ad@example.com")
    with services.sessions() as session:
        from subscribers.queries import find_subscriber

        person = find_subscriber(session, "ad@example.com")
        assert person is not None
        sid = person.id
    assert _given(services, sid) == []  # nobody is opted in by a form alone
    confirm_url = link(confirmation, "confirm")
    assert "광고성 정보 수신에 동의합니다" in web_client.get(confirm_url).text
    web_client.post(confirm_url)
    assert _given(services, sid) == ["weekly"]
    with services.sessions() as session:
        (record,) = ad_consent.records_of(session, sid)
    assert (record.action, record.source, record.user_agent) == ("given", "form", "Browser/1.0")
    assert record.ip  # the form's client address
    run = send_due_notices(services)
    assert len(run.sent) == 1  # the result notice
    notice = outbox.to("ad@example.com")[-1]
    assert "수신동의 처리 결과" in str(notice["Subject"])


def test_an_unticked_box_gives_no_consent(
    web_client: TestClient, services: Services, outbox: Outbox
) -> None:
    web_client.post("/subscribe", data={"email": "no@example.com", "newsletters": ["weekly"]})
    (confirmation,) = outbox.wait_for("no@example.com")
    web_client.post(link(confirmation, "confirm"))
    with services.sessions() as session:
        from subscribers.queries import find_subscriber

        person = find_subscriber(session, "no@example.com")
        assert person is not None
    assert _given(services, person.id) == []


def _csrf(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page)
    assert match
    return match[1]


def test_the_preferences_toggle_gives_and_withdraws_with_records_and_notices(
    web_client: TestClient, services: Services, outbox: Outbox
) -> None:
    sid = add_subscriber(services, "p@example.com")
    url = token_url(services, "preferences", sid)
    page = web_client.get(url).text
    assert 'name="ad_newsletters" value="weekly"' in page
    assert 'name="ad_newsletters" value="weekly" checked' not in page
    assert "‘Weekly’ 광고성 정보 받기" in page
    form = {"csrf_token": _csrf(page), "action": "advertising"}
    response = web_client.post(url, data={**form, "ad_newsletters": ["weekly"]})
    assert response.status_code == 200 and "저장했습니다" in response.text
    assert _given(services, sid) == ["weekly"]
    assert 'name="ad_newsletters" value="weekly" checked' in response.text
    web_client.post(url, data=form)  # nothing ticked: withdrawn
    assert _given(services, sid) == []
    with services.sessions() as session:
        actions = [(r.action, r.source) for r in ad_consent.records_of(session, sid)]
    assert actions == [("given", "preferences"), ("withdrawn", "preferences")]
    assert len(send_due_notices(services).sent) == 2
    given, withdrawn = outbox.to("p@example.com")
    assert "처리되었습니다" in body_text(given) and "수신거부" in str(withdrawn["Subject"])


def test_a_follower_who_ticks_the_box_later_confirms_it_by_mail(
    web_client: TestClient, services: Services, outbox: Outbox
) -> None:
    sid = add_subscriber(services, "old@example.com", ("weekly",))
    web_client.post(
        "/subscribe",
        data={"email": "old@example.com", "newsletters": ["weekly"], "ad_consent": "on"},
    )
    (confirmation,) = outbox.wait_for("old@example.com")  # already following: only the box
    assert _given(services, sid) == []
    web_client.post(link(confirmation, "confirm"))
    assert _given(services, sid) == ["weekly"]
    web_client.post(link(confirmation, "confirm"))  # a second click changes nothing
    with services.sessions() as session:
        assert len(ad_consent.records_of(session, sid)) == 1
