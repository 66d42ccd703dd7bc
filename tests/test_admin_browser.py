"""An editor's session in a real Chromium against a real uvicorn server.

Log in (after a wrong password), preview the issue at both widths, run the check, send a
test, schedule it, send it now after the confirmation, watch the send finish on the
self-refreshing page, read the report; a form posted without its CSRF token is refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from newsletter.services import Services
from tests.admin_support import OWNER, PASSWORD, SLUG, open_project, outbox_files
from tests.conftest import CHROMIUM_FLAGS
from tests.fixtures.web import live_server

pytestmark = pytest.mark.browser


@dataclass
class Dashboard:
    """A running server with the dashboard enabled, and its project."""

    url: str
    services: Services


@pytest.fixture
def dashboard(config_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Dashboard]:
    """The dashboard served for real, over a project with one issue."""
    with live_server(config_path, lambda: open_project(config_path, monkeypatch)) as (
        url,
        services,
    ):
        yield Dashboard(url, services)


@pytest.fixture
def browser(chromium_path: str) -> Iterator[Any]:
    """A headless Debian Chromium driven by Playwright."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_FLAGS)
        yield instance
        instance.close()


def test_editor_session(browser: Any, dashboard: Dashboard, tmp_path: Path) -> None:
    context = browser.new_context(locale="ko-KR", viewport={"width": 1280, "height": 900})
    page = context.new_page()

    # Not logged in: the dashboard sends the editor to the login page.
    page.goto(f"{dashboard.url}/admin/issues")
    assert page.url.endswith("/admin/login")

    # A wrong password is refused.
    page.fill("#email", OWNER)
    page.fill("#password", "not the password")
    page.click("button[type=submit]")
    assert (
        page.locator("[role=alert]").inner_text() == "이메일, 비밀번호 또는 코드가 맞지 않습니다."
    )
    assert page.url.endswith("/admin/login")

    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/admin/issues")
    row = page.locator(f"tr[data-slug='{SLUG}']")
    assert "예약됨" in row.inner_text()
    assert "KST" in row.inner_text()

    # Preview at phone and desktop widths: the email is inside both frames.
    row.locator("a").first.click()
    page.wait_for_url(f"**/admin/issues/{SLUG}")
    for frame_id in ("#preview-phone", "#preview-desktop"):
        frame = page.frame_locator(frame_id)
        assert "첫 번째 이야기" in frame.locator("body").inner_text()
    assert page.locator("#preview-phone").evaluate("e => e.clientWidth") <= 375
    page.screenshot(path=str(tmp_path / "issue.png"), full_page=True)

    # The preflight check.
    page.click("form[action$='/check'] button")
    assert page.locator("#check-report").is_visible()

    # A test send to the editor only.
    page.fill("#test-to", "editor@example.org")
    page.click("form[action$='/test'] button")
    assert "editor@example.org" in page.locator("[role=status]").inner_text()
    assert len(outbox_files(dashboard.services)) == 1

    # Schedule at a local time.
    page.fill("#at", "2031-03-02T09:00")
    page.click("form[action$='/schedule'] button")
    assert "예약했습니다" in page.locator("[role=status]").inner_text()
    assert "2031-03-02 09:00 KST" in page.locator("time").inner_text()

    # Send now: the confirmation states how many people will receive it.
    page.click("a[href$='/send']")
    assert "3명" in page.locator("#confirm-body").inner_text()
    page.click("form[action$='/send'] button")
    page.wait_for_url("**/admin/sends/*")
    # The page refreshes itself (meta refresh, no JavaScript) until the send is done.
    page.wait_for_selector("[data-status='sent']", timeout=30_000)
    assert page.locator("#fig-accepted").inner_text() == "3"
    assert page.locator("#fig-failed").inner_text() == "0"
    assert page.locator("svg.chart polyline").count() == 1
    assert len(outbox_files(dashboard.services)) == 4
    page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    context.close()


def test_form_without_csrf_token_is_refused(browser: Any, dashboard: Dashboard) -> None:
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    page.goto(f"{dashboard.url}/admin/login")
    page.fill("#email", OWNER)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/admin/issues")
    page.goto(f"{dashboard.url}/admin/issues/{SLUG}")
    # The editor's own form, with its token taken out, in the editor's logged-in browser.
    page.evaluate(
        "document.querySelector(\"form[action$='/cancel'] input[name=csrf_token]\").remove()"
    )
    with page.expect_response(lambda r: r.url.endswith("/cancel")) as answer:
        page.click("form[action$='/cancel'] button")
    assert answer.value.status == 403
    page.goto(f"{dashboard.url}/admin/issues")
    assert "scheduled" in page.locator(f"tr[data-slug='{SLUG}']").inner_text()
    context.close()
