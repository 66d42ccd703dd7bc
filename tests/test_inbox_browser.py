"""The five emails in a real Chromium: no request leaves the file, light and dark mode at
375 px (screenshots kept under artifacts/screenshots/ for CI), dark-mode contrast."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from newsletter.services import Services
from newsletter.settings import Settings
from tests.conftest import CHROMIUM_FLAGS, REPO, require
from tests.inbox_support import NAMES, install_issues, parts, real_message

pytestmark = pytest.mark.browser

#: Where the screenshots go; CI keeps this folder as an artifact (see docs/testing.md).
SCREENSHOTS = REPO / "artifacts" / "screenshots"

#: Colours of the dark masthead line, the card under it, the footer text and the page.
DARK_COLOURS = """() => {
  const cell = document.querySelector('.nl-masthead td');
  const footer = document.querySelector('.nl-footer p');
  return {
    border: getComputedStyle(cell).borderBottomColor,
    card: getComputedStyle(cell).backgroundColor,
    footer: getComputedStyle(footer).color,
    page: getComputedStyle(document.body).backgroundColor,
  };
}"""


#: Remove every <style>, then count line breaks that fall between two Hangul letters
#: (inside a word) in the body's text, by the top of each character's box.
MID_WORD_BREAKS = """() => {
  document.querySelectorAll('style').forEach((el) => el.remove());
  const hangul = /[\\uac00-\\ud7a3]/;
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const range = document.createRange();
  let breaks = 0, inside = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const text = node.textContent;
    if (!hangul.test(text) || !node.parentElement.offsetParent) continue;
    let lastTop = null;
    for (let i = 0; i < text.length; i++) {
      range.setStart(node, i); range.setEnd(node, i + 1);
      const rect = range.getClientRects()[0];
      if (!rect) continue;
      if (lastTop !== null && rect.top > lastTop + 2) {
        breaks++;
        if (hangul.test(text[i]) && i > 0 && hangul.test(text[i - 1])) {
          inside.push(text.slice(Math.max(0, i - 4), i) + '|' + text.slice(i, i + 3));
        }
      }
      lastTop = rect.top;
    }
  }
  return [breaks, inside];
}"""


@pytest.fixture(scope="module")
def browser(chromium_path: str) -> Iterator[Any]:
    require(importlib.util.find_spec("playwright") is not None, "the playwright package")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


def _email_file(services: Services, settings: Settings, name: str, out: Path) -> Path:
    slug = install_issues(settings)[name]
    _, html, _ = parts(real_message(services, slug))
    target = out / f"{name}.html"
    target.write_text(html, encoding="utf-8")
    return target


def _luminance(css: str) -> float:
    values = [float(v) for v in css[css.index("(") + 1 : css.index(")")].split(",")[:3]]
    linear = [
        c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
        for c in (v / 255 for v in values)
    ]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    """WCAG contrast ratio of two CSS ``rgb()`` colours."""
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@pytest.mark.parametrize("name", NAMES)
def test_opening_the_email_requests_nothing_and_screenshots_light_and_dark(
    browser: Any, services: Services, settings: Settings, tmp_path: Path, name: str
) -> None:
    email = _email_file(services, settings, name, tmp_path)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for scheme in ("light", "dark"):
        context = browser.new_context(viewport={"width": 375, "height": 800}, color_scheme=scheme)
        requests: list[str] = []
        context.on("request", lambda request, seen=requests: seen.append(request.url))
        # Nothing may leave the machine even if a request slipped through.
        context.route("http*://**", lambda route: route.abort())
        page = context.new_page()
        try:
            page.goto(email.as_uri(), wait_until="load")
            page.wait_for_timeout(200)
            assert requests == [email.as_uri()], f"{name} {scheme}: {requests}"
            width = page.evaluate("document.scrollingElement.scrollWidth")
            assert width <= 375, f"{name} {scheme}: horizontal scroll ({width}px)"
            shot = SCREENSHOTS / f"{name}-375-{scheme}.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 1000
        finally:
            context.close()


def test_dark_mode_keeps_masthead_line_dim_and_footer_readable(
    browser: Any, services: Services, settings: Settings, tmp_path: Path
) -> None:
    email = _email_file(services, settings, "2026-11-16-small-tools", tmp_path)
    colours = {}
    for scheme in ("light", "dark"):
        page = browser.new_page(viewport={"width": 375, "height": 800}, color_scheme=scheme)
        try:
            page.goto(email.as_uri())
            colours[scheme] = page.evaluate(DARK_COLOURS)
        finally:
            page.close()
    dark = colours["dark"]
    assert dark["page"] != colours["light"]["page"]
    # The masthead line is a quiet divider on the dark card, not a bright stripe.
    assert contrast(dark["border"], dark["card"]) < 1.6, dark
    assert _luminance(dark["border"]) < 0.1, dark
    # The footer reads at WCAG AA on the dark page, as it does on the light one.
    assert contrast(dark["footer"], dark["page"]) >= 4.5, dark
    light = colours["light"]
    assert contrast(light["footer"], light["page"]) >= 4.5, light


@pytest.mark.parametrize("name", ["seed-000", "seed-001", "2026-11-16-small-tools"])
def test_without_style_korean_never_breaks_inside_a_word_at_375px(
    browser: Any, services: Services, settings: Settings, tmp_path: Path, name: str
) -> None:
    # Clients that drop <style> keep only the inline styles: keep-all must be there.
    email = _email_file(services, settings, name, tmp_path)
    page = browser.new_page(viewport={"width": 375, "height": 800})
    try:
        page.goto(email.as_uri())
        breaks, inside = page.evaluate(MID_WORD_BREAKS)
    finally:
        page.close()
    assert breaks > 10  # the text does wrap at this width
    assert inside == []
