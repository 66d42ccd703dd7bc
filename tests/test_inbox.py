"""Inbox quality of the emails readers get (issue 13): the five real emails parsed back from
the messages the outbox backend writes, plus the per-newsletter sender and the importers."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import yaml

from newsletter.check import check_issue
from newsletter.delivery.backends.outbox import OutboxBackend
from newsletter.errors import ConfigError
from newsletter.importers import write_issue
from newsletter.importers.brunch import import_brunch
from newsletter.inbox import HANGUL
from newsletter.issues import find_issue, parse_issue_file
from newsletter.markdown import to_html, to_text
from newsletter.render import mjml_to_html, render_issue
from newsletter.services import Services
from newsletter.settings import Settings, load_settings
from newsletter.web.emails import Mailer
from newsletter.web.i18n import Catalog
from tests.conftest import REPO, base_config, seed_path, write_config
from tests.fixtures.issues import WriteIssue
from tests.inbox_support import NAMES, copy_message, install_issues, parts, real_message

_STYLE_BLOCK = re.compile(r"<style\b[^>]*>.*?</style>", re.DOTALL | re.IGNORECASE)


class _HangulHolders(HTMLParser):
    """Every element whose own text holds Hangul, with its inline style (head skipped)."""

    VOID = frozenset(
        {"br", "img", "hr", "meta", "link", "input", "col", "area", "source", "wbr", "base"}
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, str]] = []
        self.holders: list[tuple[str, str, str]] = []  # (tag, style, text)
        self.in_head = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "head":
            self.in_head = True
        if tag not in self.VOID:
            self.stack.append((tag, dict(attrs).get("style") or ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "head":
            self.in_head = False
        for depth in range(len(self.stack) - 1, -1, -1):
            if self.stack[depth][0] == tag:
                del self.stack[depth:]
                break

    def handle_data(self, data: str) -> None:
        if not self.in_head and self.stack and HANGUL.search(data):
            tag, style = self.stack[-1]
            self.holders.append((tag, style, data.strip()[:30]))


def hangul_holders(html: str) -> list[tuple[str, str, str]]:
    """(tag, inline style, text) of every element holding Hangul, ``<style>`` removed."""
    parser = _HangulHolders()
    parser.feed(_STYLE_BLOCK.sub("", html))
    return parser.holders


def visible_text(html: str) -> str:
    """The text a reader sees (no head, no style), joined by spaces."""
    body = _STYLE_BLOCK.sub("", html.partition("<body")[2])
    return " ".join(re.sub(r"<[^>]+>", " ", body).split())


@pytest.fixture
def slugs(settings: Settings) -> dict[str, str]:
    return install_issues(settings)


@pytest.mark.parametrize("name", NAMES)
def test_every_element_holding_hangul_keeps_words_whole_without_style(
    services: Services, slugs: dict[str, str], name: str
) -> None:
    _, html, _ = parts(real_message(services, slugs[name]))
    holders = hangul_holders(html)
    if name != "2026-12-03-boring-queues":  # the English sample has no Hangul text
        assert len(holders) > 10
    missing = [(tag, text) for tag, style, text in holders if "word-break:keep-all" not in style]
    assert missing == []
    assert all("overflow-wrap:anywhere" in style for _, style, _ in holders)
    assert "word-break:break-word" not in html


@pytest.mark.parametrize("name", NAMES)
def test_no_request_to_another_host_is_written_into_the_email(
    services: Services, slugs: dict[str, str], name: str
) -> None:
    _, html, _ = parts(real_message(services, slugs[name]))
    assert "fonts.googleapis" not in html and "@import" not in html
    assert not re.search(r"<link\b[^>]*https?://", html)
    sources = re.findall(r"""\bsrc=["']([^"']+)""", html)
    assert sources == []  # the samples and seeds have no images: nothing at all to load


def test_an_operators_own_web_font_is_kept() -> None:
    url = "https://fonts.example.net/css?family=Nanum+Gothic"
    source = (
        f'<mjml><mj-head><mj-font name="Nanum Gothic" href="{url}" />'
        '<mj-attributes><mj-all font-family="Nanum Gothic, Roboto, sans-serif" />'
        "</mj-attributes></mj-head><mj-body><mj-section><mj-column><mj-text>글</mj-text>"
        "</mj-column></mj-section></mj-body></mjml>"
    )
    html = mjml_to_html(source)
    assert url in html and "fonts.googleapis.com/css?family=Roboto" not in html


def test_preheader_is_derived_padded_and_hidden_without_a_colour(
    services: Services, settings: Settings, slugs: dict[str, str]
) -> None:
    # The Jekyll seed gives no preheader: its first paragraph becomes one, check warns.
    issue = find_issue(settings, slugs["seed-001"])
    assert issue.preheader == ""
    report = check_issue(settings, issue)
    assert "missing_preheader" in {finding.code for finding in report.warnings}
    _, html, _ = parts(real_message(services, slugs["seed-001"]))
    hidden = re.search(r'<body[^>]*><div style="([^"]*)">(.*?)</div>', html, re.DOTALL)
    assert hidden is not None
    style, content = hidden[1], hidden[2]
    for rule in ("display:none", "max-height:0", "overflow:hidden", "mso-hide:all", "opacity:0"):
        assert rule in style
    assert "color" not in style
    preview = content.split("&#8199;")[0]
    first_words = " ".join(to_text(issue.body).split("\n\n")[1].split()[:5])
    assert preview.startswith(first_words) and len(preview) <= 111
    assert content.count("&#8199;&#65279;&#847;") >= 80  # the spacer after it
    assert "#ffffff" not in html.partition("<body")[2].partition("</div>")[0]
    # A file that gives one: no warning, its words first.
    sample = find_issue(settings, slugs["2026-11-16-small-tools"])
    assert "missing_preheader" not in {f.code for f in check_issue(settings, sample).warnings}
    _, html, _ = parts(real_message(services, sample.slug))
    assert re.search(r'<body[^>]*><div style="[^"]*">' + re.escape(sample.preheader), html)


def test_text_part_keeps_strikethrough(services: Services, slugs: dict[str, str]) -> None:
    _, html, text = parts(real_message(services, slugs["2026-11-16-small-tools"]))
    assert "~~미루는~~ 자동으로" in text
    assert re.search(r"<s\b[^>]*>미루는</s>", html)


def test_autolink_only_with_a_scheme_or_www() -> None:
    html = to_html(
        "Character.AI와 README.md, www.example.com, <https://a.example>, http://b.example"
    )
    links = re.findall(r'href="([^"]+)"', html)
    assert links == ["https://www.example.com", "https://a.example", "http://b.example"]
    assert "Character.AI와" in html


def test_check_warns_on_plain_http_links(settings: Settings, write_issue: WriteIssue) -> None:
    body = "[보안 링크](https://example.org)\n\n[평문 링크](http://example.org/plain)\n"
    path = write_issue("http.md", body=body, preheader="미리 보기")
    report = check_issue(settings, parse_issue_file(settings, path))
    insecure = [f.message for f in report.warnings if f.code == "insecure_link"]
    assert len(insecure) == 1 and "http://example.org/plain" in insecure[0]


def test_date_reading_time_and_forwarded_link(services: Services, slugs: dict[str, str]) -> None:
    _, html, text = parts(real_message(services, slugs["seed-001"]))
    assert "2025년 8월 18일" in visible_text(html) and "2025년 8월 18일" in text
    assert re.search(r"\d+분 분량", visible_text(html))
    assert 'href="https://news.example.org/subscribe"' in html
    assert "전달받으셨나요?" in text and "https://news.example.org/subscribe" in text
    _, html, text = parts(real_message(services, slugs["2026-12-03-boring-queues"]))
    assert "December 3, 2026" in visible_text(html)
    assert re.search(r"\b\d+ min read\b", text)
    assert "Was this forwarded to you?" in visible_text(html)


def test_feature_image_and_logo(settings: Settings, write_issue: WriteIssue) -> None:
    path = write_issue(
        "image.md",
        preheader="미리 보기",
        image="https://cdn.example.org/cover.png",
        image_alt="표지 그림",
    )
    html = render_issue(settings, parse_issue_file(settings, path)).html
    assert re.search(r'<img[^>]*alt="표지 그림"[^>]*src="https://cdn.example.org/cover.png"', html)
    assert check_issue(settings, parse_issue_file(settings, path)).ok
    no_alt = write_issue("noalt.md", image="https://cdn.example.org/cover.png")
    report = check_issue(settings, parse_issue_file(settings, no_alt))
    assert "missing_alt" in {finding.code for finding in report.errors}


def test_brunch_cover_becomes_the_feature_image_with_a_base_url(
    settings: Settings, tmp_path: Path
) -> None:
    plain = import_brunch(seed_path("000"))
    assert "image" not in plain.front_matter
    with_url = import_brunch(seed_path("000"), image_base_url="https://cdn.example.org/brunch/")
    cover = plain.front_matter["cover_image"]
    assert cover
    image = with_url.front_matter["image"]
    assert image.startswith("https://cdn.example.org/brunch/") and " " not in image
    path = write_issue(with_url, settings.path(settings.issues_dir))
    issue = parse_issue_file(settings, path)
    html = render_issue(settings, issue).html
    assert f'src="{image}"' in html and issue.extra["image_alt"] in html


# --- one sender per newsletter -----------------------------------------------------------

ENGLISH = {
    "from_name": "Field Notes",
    "from_email": "notes@example.org",
    "reply_to": "letters@example.org",
    "postal_address": "1 Harbour Road, Busan",
    "footer": "Written by hand, sent now and then.",
}


@pytest.fixture
def two_newsletters(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A project with a Korean newsletter (site sender) and an English one with its own."""
    config = base_config(tmp_path)
    config["site"]["name"] = "작은 기술 소식"
    config["site"]["postal_address"] = "서울특별시 중구 세종대로 110"
    config["sender"] = {"from_email": "news@example.org", "from_name": "작은 기술 소식"}
    config["newsletters"] = [
        {"id": "weekly", "name": "작은 기술 소식 주간", "default": True},
        {"id": "letters", "name": "Field Notes", "language": "en", **ENGLISH},
    ]
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", "test-secret-key-0123456789abcdef")
    settings = load_settings(write_config(tmp_path, config))
    services = Services.open(settings)
    yield services
    services.close()


def test_english_newsletter_is_english_from_its_from_line_to_its_footer(
    two_newsletters: Services, tmp_path: Path
) -> None:
    services = two_newsletters
    slugs = install_issues(services.settings)
    for raw in (
        real_message(services, slugs["2026-12-03-boring-queues"]),
        copy_message(services, slugs["2026-12-03-boring-queues"], tmp_path),
    ):
        message, html, text = parts(raw)
        assert message["From"].addresses[0].display_name == "Field Notes"
        assert message["From"].addresses[0].addr_spec == "notes@example.org"
        assert str(message["Reply-To"]) == "letters@example.org"
        assert "notes@example.org" in str(message["List-Unsubscribe"])
        seen = visible_text(html)
        assert not HANGUL.search(seen), HANGUL.findall(seen)[:10]
        assert not HANGUL.search(text)
        for words in ("Unsubscribe", "1 Harbour Road, Busan", ENGLISH["footer"]):
            assert words in seen and words in text
    assert str(message["Subject"]).startswith("[Test] Field Notes")
    # The Korean newsletter keeps the site's sender and address.
    message, html, _ = parts(real_message(services, slugs["2026-11-16-small-tools"]))
    assert message["From"].addresses[0].display_name == "작은 기술 소식"
    assert "서울특별시 중구 세종대로 110" in visible_text(html)
    korean_copy = parts(copy_message(services, slugs["2026-11-16-small-tools"], tmp_path))[0]
    assert str(korean_copy["Subject"]).startswith("[테스트] ")


def test_welcome_for_the_english_newsletter_comes_from_it(
    two_newsletters: Services, tmp_path: Path
) -> None:
    services = two_newsletters
    settings = services.settings
    mailer = Mailer(services, Catalog.load(REPO / "templates" / "web" / "i18n"))
    letters = settings.newsletter("letters")
    mailer.send_welcome(
        to="reader@example.net", subscriber_id=1, name="", lang="en", newsletters=[letters]
    )
    mailer.send_confirmation(
        to="both@example.net",
        subscriber_id=2,
        name="",
        lang="ko",
        newsletters=[settings.newsletter("weekly"), letters],
    )
    box = OutboxBackend(settings.path(settings.delivery.outbox_dir)).path / "new"
    found = {}
    for path in box.iterdir():
        message, html, text = parts(path.read_bytes())
        found[str(message["To"])] = (message, html, text)
    message, html, text = found["reader@example.net"]
    assert message["From"].addresses[0].display_name == "Field Notes"
    assert message["From"].addresses[0].addr_spec == "notes@example.org"
    assert "1 Harbour Road, Busan" in text and not HANGUL.search(visible_text(html))
    assert all("word-break:keep-all" in style for _, style, _ in hangul_holders(html))
    # About two newsletters at once: the site's sender.
    message, html, _ = found["both@example.net"]
    assert message["From"].addresses[0].addr_spec == "news@example.org"
    assert hangul_holders(html) and all(
        "word-break:keep-all" in style for _, style, _ in hangul_holders(html)
    )


def test_config_documents_the_newsletter_overrides() -> None:
    text = (REPO / "config.yaml").read_text(encoding="utf-8")
    for key in ("from_name", "from_email", "reply_to", "postal_address", "logo", "footer"):
        assert re.search(rf"^#\s+{key}:", text, re.MULTILINE), key
    assert yaml.safe_load(text)["newsletters"]


def test_masthead_shows_the_newsletters_logo(tmp_path: Path) -> None:
    config = base_config(tmp_path)
    config["newsletters"][0]["logo"] = "https://cdn.example.org/logo.png"
    config["newsletters"][0]["logo_alt"] = "주간 로고"
    settings = load_settings(write_config(tmp_path, config))
    path = settings.path(settings.issues_dir) / "logo.md"
    path.write_text("---\ntitle: 로고\ndate: 2026-12-07\n---\n\n본문.\n", encoding="utf-8")
    html = render_issue(settings, parse_issue_file(settings, path)).html
    masthead = html[html.index("nl-masthead") :]
    assert re.search(
        r'<img[^>]*alt="주간 로고"[^>]*src="https://cdn.example.org/logo.png"', masthead
    )
    config["newsletters"][0]["logo"] = "logo.png"
    with pytest.raises(ConfigError, match=r"newsletters\.0\.logo"):
        load_settings(write_config(tmp_path, config))
