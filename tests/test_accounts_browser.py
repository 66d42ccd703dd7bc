"""Editors' accounts in a real Chromium against a real server: login with and without a
second factor, logout ending the session server-side, a removed account's open session,
a viewer shown no write form and refused a forged one."""

from __future__ import annotations

import time
from typing import Any

import pyotp
import pytest

from newsletter.accounts import service as account_service
from tests.admin_support import OWNER, PASSWORD, SLUG, add_account
from tests.test_admin_browser import Dashboard, browser, dashboard

__all__ = ["browser", "dashboard"]
pytestmark = pytest.mark.browser


def log_in(page: Any, url: str, email: str, password: str = PASSWORD, code: str = "") -> None:
    page.goto(f"{url}/admin/login")
    page.fill("#email", email)
    page.fill("#password", password)
    if code:
        page.fill("#code", code)
    page.click("form[action='/admin/login'] button[type=submit]")


def test_login_sessions_page_and_logout_ending_the_session(
    browser: Any, dashboard: Dashboard
) -> None:
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    log_in(page, dashboard.url, OWNER)
    page.wait_for_url("**/admin/issues")
    page.click("nav.admin a[href='/admin/account']")
    assert "this browser" in page.locator("#sessions").inner_text()
    cookies = context.cookies()
    page.click("nav.admin form[action='/admin/logout'] button")
    page.wait_for_url("**/admin/login")
    # The cookie as it was before logout, in another browser: ended server-side.
    thief = browser.new_context(locale="en-US")
    thief.add_cookies([c for c in cookies if c["name"] == "nl_admin"])
    other = thief.new_page()
    other.goto(f"{dashboard.url}/admin/issues")
    assert other.url.endswith("/admin/login")
    thief.close()
    context.close()


def test_login_with_a_second_factor(browser: Any, dashboard: Dashboard) -> None:
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    log_in(page, dashboard.url, OWNER)
    page.wait_for_url("**/admin/issues")
    page.goto(f"{dashboard.url}/admin/account")
    secret = page.locator("#totp-secret").inner_text()
    page.fill("#totp-code", pyotp.TOTP(secret).now())
    page.click("#enable-totp button")
    codes = page.locator("#recovery-codes").inner_text().split()
    assert len(codes) == 10
    page.click("nav.admin form[action='/admin/logout'] button")
    page.wait_for_url("**/admin/login")
    # The password alone is no longer enough.
    log_in(page, dashboard.url, OWNER)
    assert "not right" in page.locator("[role=alert]").inner_text()
    assert page.url.endswith("/admin/login")
    # The code that turned it on is used up: the next 30-second step's code (allowed for
    # clock drift) logs in.
    log_in(page, dashboard.url, OWNER, code=pyotp.TOTP(secret).at(time.time() + 30))
    page.wait_for_url("**/admin/issues")
    context.close()


def test_a_removed_accounts_open_session_is_refused(browser: Any, dashboard: Dashboard) -> None:
    add_account(dashboard.services, "proof@example.org", "viewer")
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    log_in(page, dashboard.url, "proof@example.org")
    page.wait_for_url("**/admin/issues")
    account_service.remove_user(dashboard.services, "proof@example.org", actor="test")
    page.goto(f"{dashboard.url}/admin/issues/{SLUG}")
    assert page.url.endswith("/admin/login")
    context.close()


def test_a_viewer_sees_no_write_form_and_is_refused_a_forged_one(
    browser: Any, dashboard: Dashboard
) -> None:
    add_account(dashboard.services, "reader@example.org", "viewer")
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    log_in(page, dashboard.url, "reader@example.org")
    page.wait_for_url("**/admin/issues")
    page.goto(f"{dashboard.url}/admin/issues/{SLUG}")
    assert page.locator("form[action$='/cancel']").count() == 0
    assert "Read-only" in page.locator("#read-only").inner_text()
    # The form rebuilt by hand on its own page, with its own CSRF token: still refused.
    with page.expect_response(lambda r: r.url.endswith("/cancel")) as answer:
        page.evaluate(
            """(slug) => {
                const form = document.createElement("form");
                form.method = "post";
                form.action = `/admin/issues/${slug}/cancel`;
                form.append(document.querySelector("input[name=csrf_token]").cloneNode());
                document.body.append(form);
                form.submit();
            }""",
            SLUG,
        )
    assert answer.value.status == 403
    page.wait_for_url("**/cancel")
    page.goto(f"{dashboard.url}/admin/issues")
    assert "scheduled" in page.locator(f"tr[data-slug='{SLUG}']").inner_text()
    context.close()
