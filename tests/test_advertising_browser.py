"""Advertising consent in a real Chromium: the sign-up box and the preferences toggle."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from subscribers import ad_consent
from tests.conftest import CHROMIUM_FLAGS, require
from tests.fixtures.web import LiveSite, link

pytestmark = pytest.mark.browser


@pytest.fixture
def browser(chromium_path: str) -> Iterator[Any]:
    """A headless Debian Chromium driven by Playwright."""
    try:
        from playwright import sync_api
    except ImportError:  # pragma: no cover - a dev dependency
        sync_api = None
    require(sync_api is not None, "the playwright package (pip install -e '.[dev]')")
    assert sync_api is not None
    with sync_api.sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_FLAGS)
        yield instance
        instance.close()


def test_ticking_the_box_then_unticking_it_in_the_preferences(
    browser: Any, live_site: LiveSite
) -> None:
    services = live_site.services
    page = browser.new_context(locale="ko-KR").new_page()
    page.goto(f"{live_site.url}/subscribe")
    box = page.get_by_label("광고성 정보 수신 동의")
    assert not box.is_checked()  # never ticked in advance
    page.get_by_label("이메일 주소").fill("ad@example.com")
    page.get_by_label("Weekly").check()
    box.check()
    page.get_by_role("button", name="구독하기").click()
    page.get_by_role("heading", name="메일함을 확인해 주세요").wait_for()
    (confirmation,) = live_site.outbox.wait_for("ad@example.com")
    page.goto(link(confirmation, "confirm"))
    page.get_by_text("광고성 정보 수신에 동의합니다").wait_for()
    page.get_by_role("button", name="구독 확인하기").click()
    page.get_by_role("heading", name="구독이 완료되었습니다").wait_for()
    data = services.tokens.loads(link(confirmation, "confirm").rsplit("/", 1)[1], "confirm")
    with services.sessions() as session:
        assert ad_consent.given_newsletters(session, data.subscriber_id) == ["weekly"]

    token = services.tokens.dumps("preferences", data.subscriber_id)
    page.goto(f"{live_site.url}/preferences/{token}")
    toggle = page.get_by_label("‘Weekly’ 광고성 정보 받기")
    assert toggle.is_checked()
    toggle.uncheck()
    page.get_by_role("button", name="광고 수신 설정 저장").click()
    page.get_by_text("광고성 정보 수신 설정을 저장했습니다").wait_for()
    assert not page.get_by_label("‘Weekly’ 광고성 정보 받기").is_checked()
    with services.sessions() as session:
        assert ad_consent.given_newsletters(session, data.subscriber_id) == []
        actions = [r.action for r in ad_consent.records_of(session, data.subscriber_id)]
    assert actions == ["given", "withdrawn"]
