"""The rendered seed emails in a real Chromium at phone and desktop widths."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from newsletter.importers import write_issue
from newsletter.importers.brunch import import_brunch
from newsletter.issues import parse_issue_file
from newsletter.render import preview_values, render_issue
from newsletter.settings import Settings
from tests.conftest import CHROMIUM_FLAGS, require, seed_path

pytestmark = pytest.mark.browser


# The smallest computed font size among elements that hold body text.
SMALLEST_BODY_FONT = """() => {
  const sizes = [...document.querySelectorAll('.nl-content p, .nl-content li')]
    .filter((el) => el.textContent.trim().length > 0)
    .map((el) => parseFloat(getComputedStyle(el).fontSize));
  return [sizes.length, Math.min(...sizes)];
}"""


@pytest.fixture(scope="module")
def browser(chromium_path: str) -> Iterator[Any]:
    require(importlib.util.find_spec("playwright") is not None, "the playwright package")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


def _seed_email(settings: Settings, prefix: str, out: Path) -> Path:
    path = seed_path(prefix)
    if prefix == "000":
        path = write_issue(import_brunch(path), settings.path(settings.issues_dir))
    issue = parse_issue_file(settings, path)
    html, _ = render_issue(settings, issue).personalize(preview_values(settings, issue.slug))
    target = out / f"{prefix}.html"
    target.write_text(html, encoding="utf-8")
    return target


@pytest.mark.parametrize("prefix", ["000", "001"])
@pytest.mark.parametrize("width", [375, 600])
def test_seed_email_fits_and_reads(
    browser: Any, settings: Settings, tmp_path: Path, prefix: str, width: int
) -> None:
    email = _seed_email(settings, prefix, tmp_path)
    page = browser.new_page(viewport={"width": width, "height": 900})
    try:
        page.goto(email.as_uri())
        scroll_width, inner_width = page.evaluate(
            "[document.scrollingElement.scrollWidth, window.innerWidth]"
        )
        assert scroll_width <= inner_width, f"horizontal scroll at {width}px"
        count, smallest = page.evaluate(SMALLEST_BODY_FONT)
        assert count > 10
        assert smallest >= 14
        shot = tmp_path / f"{prefix}-{width}.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 1000
    finally:
        page.close()


def test_dark_mode_switches_colors(browser: Any, settings: Settings, tmp_path: Path) -> None:
    email = _seed_email(settings, "001", tmp_path)
    backgrounds = []
    for scheme in ("light", "dark"):
        page = browser.new_page(viewport={"width": 600, "height": 900}, color_scheme=scheme)
        page.goto(email.as_uri())
        backgrounds.append(page.evaluate("getComputedStyle(document.body).backgroundColor"))
        page.screenshot(path=str(tmp_path / f"001-{scheme}.png"))
        page.close()
    assert backgrounds[0] != backgrounds[1]
