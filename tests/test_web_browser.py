"""The reader's whole journey in a real Chromium against a real uvicorn server.

Sign up on the form, find the confirmation in the outbox, confirm, receive the welcome
email, open an issue email's unsubscribe link, leave one newsletter, re-subscribe in the
preferences, download the data, erase; screenshots at phone and desktop widths.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from newsletter.delivery.links import Links
from newsletter.web.security import TIMEZONE_HINT_SCRIPT
from tests.conftest import CHROMIUM_FLAGS, require
from tests.fixtures.web import LiveSite, body_text, link, statuses

pytestmark = pytest.mark.browser

WIDTHS = {"phone": (375, 740), "desktop": (1280, 900)}


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


def _shoot(page: Any, folder: Path, name: str) -> None:
    """Screenshots of the current page at phone and desktop widths."""
    for label, (width, height) in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": height})
        path = folder / f"{name}-{label}.png"
        page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 1000
    # The phone layout must not scroll sideways.
    page.set_viewport_size({"width": 375, "height": 740})
    assert page.evaluate("document.documentElement.scrollWidth") <= 375


def test_reader_journey(browser: Any, live_site: LiveSite, tmp_path: Path) -> None:
    shots = tmp_path / "screenshots"
    shots.mkdir()
    context = browser.new_context(locale="ko-KR", accept_downloads=True)
    page = context.new_page()
    page.set_viewport_size({"width": 375, "height": 740})
    services = live_site.services

    # Sign up: labelled fields, nothing ticked in advance, the honeypot out of sight.
    page.goto(f"{live_site.url}/subscribe")
    assert page.locator("html").get_attribute("lang") == "ko"
    trap = page.locator("#website").bounding_box()
    assert trap is not None and trap["x"] + trap["width"] <= 0  # off-screen for people
    assert page.locator("input[name=newsletters]:checked").count() == 0
    _shoot(page, shots, "1-subscribe")
    page.get_by_label("이메일 주소").fill("journey@example.com")
    page.get_by_label("이름").fill("여행자")
    page.get_by_label("Weekly").check()
    # By role and name start: the advertising box's label ends in "Test Letters" too.
    page.get_by_role("checkbox", name=re.compile(r"^Letters")).check()
    page.get_by_role("button", name="구독하기").click()
    page.get_by_role("heading", name="메일함을 확인해 주세요").wait_for()
    _shoot(page, shots, "2-check-inbox")

    # Confirm from the email: the GET page has a button; the click confirms.
    (confirmation,) = live_site.outbox.wait_for("journey@example.com")
    page.goto(link(confirmation, "confirm"))
    _shoot(page, shots, "3-confirm")
    page.get_by_role("button", name="구독 확인하기").click()
    page.get_by_role("heading", name="구독이 완료되었습니다").wait_for()
    welcome = live_site.outbox.wait_for("journey@example.com", 2)[-1]
    assert "여행자" in body_text(welcome)
    sid = services.tokens.loads(link(welcome, "preferences").rsplit("/", 1)[1], "preferences")
    subscriber_id = sid.subscriber_id
    assert statuses(services, subscriber_id) == {"letters": "active", "weekly": "active"}

    # An issue email's unsubscribe link, as the delivery engine makes it.
    values = Links(services.settings, services.tokens, "weekly").values(subscriber_id)
    page.goto(values["unsubscribe_url"])
    _shoot(page, shots, "4-unsubscribe")
    assert statuses(services, subscriber_id)["weekly"] == "active"  # the GET changed nothing
    page.get_by_role("button", name="구독 해지").click()
    page.get_by_role("heading", name="구독이 해지되었습니다").wait_for()
    assert statuses(services, subscriber_id) == {"letters": "active", "weekly": "unsubscribed"}

    # Re-subscribe in the preferences.
    page.get_by_role("link", name="구독 설정에서").click()
    page.get_by_role("heading", name="구독 설정").wait_for()
    _shoot(page, shots, "5-preferences")
    page.get_by_role("button", name="다시 구독").click()
    page.get_by_text("다시 구독했습니다").wait_for()
    assert statuses(services, subscriber_id) == {"letters": "active", "weekly": "active"}

    # Download my data: the preferences page mails a one-hour link; the data page has it.
    page.get_by_role("button", name="내 정보 받기·삭제 링크를 메일로 받기").click()
    page.get_by_text("링크를 메일로 보냈습니다").wait_for()
    data_mail = live_site.outbox.wait_for("journey@example.com", 3)[-1]
    page.goto(link(data_mail, "data"))
    page.get_by_role("heading", name="내 정보").wait_for()
    with page.expect_download() as info:
        page.get_by_role("button", name="내 데이터 내려받기").click()
    data = json.loads(Path(info.value.path()).read_text(encoding="utf-8"))
    assert data["subscriber"]["email"] == "journey@example.com"

    # Erase me, with its confirmation step.
    page.get_by_role("button", name="내 정보 모두 지우기").click()
    page.get_by_role("heading", name="정말 모든 정보를 지울까요?").wait_for()
    _shoot(page, shots, "6-erase")
    page.get_by_role("button", name="네, 모두 지워 주세요").click()
    page.get_by_role("heading", name="정보를 지웠습니다").wait_for()
    assert page.goto(values["unsubscribe_url"]).status == 404
    context.close()


def test_pages_work_in_english_with_keyboard(browser: Any, live_site: LiveSite) -> None:
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    page.goto(f"{live_site.url}/subscribe")
    assert page.locator("html").get_attribute("lang") == "en"
    page.keyboard.press("Tab")  # the skip link comes first and shows on focus
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.get_by_label("Email address").fill("keys@example.com")
    page.keyboard.press("Tab")  # to the name field, by keyboard: a visible focus ring
    assert page.evaluate("document.activeElement.id") == "name"
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"
    page.keyboard.press("Tab")
    page.keyboard.press("Space")  # ticks the first newsletter
    assert page.get_by_label("Weekly").is_checked()
    page.get_by_role("button", name="Subscribe").press("Enter")
    page.get_by_role("heading", name="Check your inbox").wait_for()
    (message,) = live_site.outbox.wait_for("keys@example.com")
    assert "confirm" in str(message["Subject"]).lower()
    context.close()


def test_form_works_without_css(browser: Any, live_site: LiveSite) -> None:
    context = browser.new_context(locale="ko-KR", java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{live_site.url}/subscribe")
    # No JavaScript but the timezone hint (hashed in the page's policy), which only fills a
    # hidden field: without JavaScript it stays empty and the form works the same.
    scripts = page.locator("script")
    assert scripts.count() == 1 and scripts.inner_text() == TIMEZONE_HINT_SCRIPT
    assert page.locator("input[name=timezone]").input_value() == ""
    context.close()
    # CSS off: strip the page's styles, then the form must still read and work in order.
    context = browser.new_context(locale="ko-KR")
    page = context.new_page()
    page.goto(f"{live_site.url}/subscribe")
    page.evaluate("document.querySelectorAll('style').forEach(node => node.remove())")
    assert page.get_by_text("이 칸은 비워 두세요").is_visible()  # the honeypot explains itself
    page.get_by_label("이메일 주소").fill("plain@example.com")
    # By role and name start: the advertising box's label ends in "Test Letters" too.
    page.get_by_role("checkbox", name=re.compile(r"^Letters")).check()
    page.get_by_role("button", name="구독하기").click()
    page.get_by_role("heading", name="메일함을 확인해 주세요").wait_for()
    assert live_site.outbox.wait_for("plain@example.com")
    context.close()
