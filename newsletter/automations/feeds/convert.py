"""A feed entry → an issue file (front matter + Markdown), without touching the disk.

The entry's HTML is sanitized first (nh3, an allow-list: no ``script``/``style``/``iframe``
or any other active element, no ``on*`` attribute, only ``http``/``https``/``mailto`` URLs;
an ``iframe`` with an http(s) ``src`` becomes a link to it), then converted to Markdown
(markdownify): headings, lists, quotes, code, tables, links and images with their alt text.
An image without alt text takes its ``title``, else the entry's title (an email image
without alt text fails ``newsletter check``); an image left without a usable ``src`` is
dropped. A link back to the original ends the body.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import nh3
from bs4 import BeautifulSoup
from markdownify import MarkdownConverter

from newsletter.automations.feeds.parse import FeedItem
from newsletter.importers import ImportedIssue

#: Elements kept (their text is kept for every other element but the dropped ones).
ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "code", "dd", "del", "div", "dl", "dt",
    "em", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins",
    "kbd", "li", "mark", "ol", "p", "pre", "q", "s", "small", "span", "strike", "strong",
    "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"}}
#: Elements dropped with everything inside them.
DROPPED_WITH_CONTENT = {"script", "style", "iframe", "object", "embed", "template", "svg", "math"}
URL_SCHEMES = {"http", "https", "mailto"}
#: The link back to the original, in the newsletter's language.
READ_ORIGINAL = {"ko": "원문 보기", "en": "Read the original"}
#: Characters percent-encoded in a URL written into Markdown: they would end the link.
_URL_SAFE = ":/?#@!$&'*+,;=%~[]"


@dataclass(frozen=True)
class EntryIssue:
    """What an entry becomes: the issue file's slug base, front matter and Markdown body."""

    slug_base: str
    front_matter: dict[str, Any]
    body: str

    def as_imported(self, slug: str) -> ImportedIssue:
        """The issue file with this slug (file name ``SLUG.md``, ``slug:`` spelled out)."""
        front = {**self.front_matter, "slug": slug}
        return ImportedIssue(filename=f"{slug}.md", front_matter=front, body=self.body)


def entry_issue(
    item: FeedItem,
    *,
    feed_url: str,
    newsletter_id: str,
    language: str,
    date: datetime,
    draft: bool,
) -> EntryIssue:
    """The issue file an entry becomes (its ``date`` and ``draft`` decided by the caller)."""
    title = item.title or _first_words(item.body_html) or "(untitled)"
    front: dict[str, Any] = {
        "title": title,
        "date": date,
        "newsletter": newsletter_id,
        "preheader": _cut(item.summary_text, 150),
        "author": item.author,
        "categories": list(item.tags),
        "draft": True if draft else "",
        "source": item.link if _is_web_url(item.link) else "",
        "feed": feed_url,
        "feed_entry": item.key,
    }
    body = html_to_markdown(item.body_html, fallback_alt=title)
    if _is_web_url(item.link):
        label = READ_ORIGINAL.get(language, READ_ORIGINAL["en"])
        body = f"{body.rstrip()}\n\n[{label}]({_url(item.link)})\n"
    slug_base = f"{date:%Y-%m-%d}-{slugify(title) or 'entry'}"
    return EntryIssue(slug_base=slug_base, front_matter=front, body=body)


def sanitize_html(html: str) -> str:
    """The entry's HTML with only the allow-listed elements, attributes and URL schemes."""
    return nh3.clean(
        _iframes_as_links(html),
        tags=ALLOWED_TAGS,
        clean_content_tags=DROPPED_WITH_CONTENT,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel=None,
        strip_comments=True,
    )


def html_to_markdown(html: str, *, fallback_alt: str) -> str:
    """Sanitized, then Markdown (ATX headings, ``-`` bullets), blank runs squeezed."""
    if not html.strip():
        return ""
    markdown = _Converter(fallback_alt=fallback_alt).convert(sanitize_html(html))
    return re.sub(r"\n{3,}", "\n\n", markdown).strip() + "\n"


class _Converter(MarkdownConverter):
    """markdownify with alt text always present, URLs made safe for Markdown."""

    def __init__(self, *, fallback_alt: str) -> None:
        super().__init__(heading_style="ATX", bullets="-")
        self.fallback_alt = fallback_alt

    def convert_img(self, el: Any, text: str, parent_tags: set[str]) -> str:
        src = str(el.attrs.get("src") or "").strip()
        own = str(el.attrs.get("alt") or el.attrs.get("title") or "")
        alt = _alt(own) or _alt(self.fallback_alt)
        if not _is_web_url(src):
            return ""  # no src left after sanitizing (data:, javascript:): nothing to show
        return f"![{alt}]({_url(src)})"

    def convert_a(self, el: Any, text: str, parent_tags: set[str]) -> str:
        href = str(el.attrs.get("href") or "").strip()
        if href:
            el.attrs["href"] = _url(href)
        parent = getattr(super(), "convert_a")  # noqa: B009 (not in markdownify's stubs)
        return str(parent(el, text, parent_tags))


def _iframes_as_links(html: str) -> str:
    if "<iframe" not in html.lower():
        return html
    soup = BeautifulSoup(html, "html.parser")
    for frame in soup.find_all("iframe"):
        src = str(frame.get("src") or "")
        if _is_web_url(src):
            link = soup.new_tag("a", href=src)
            link.string = str(frame.get("title") or src)
            paragraph = soup.new_tag("p")
            paragraph.append(link)
            frame.replace_with(paragraph)
    return str(soup)


def _alt(text: str) -> str:
    return re.sub(r"([\[\]\\])", r"\\\1", " ".join(text.split()))


def _url(url: str) -> str:
    return quote(url, safe=_URL_SAFE)


def _is_web_url(url: str) -> bool:
    return bool(re.match(r"^https?://[^\s/]+", url, re.IGNORECASE))


def _first_words(html: str) -> str:
    text = " ".join(BeautifulSoup(html, "html.parser").get_text(" ").split())
    return _cut(text, 60)


def _cut(text: str, limit: int) -> str:
    """``text`` cut at a space near ``limit`` characters, with an ellipsis when cut."""
    if len(text) <= limit:
        return text
    head = text[:limit]
    space = head.rfind(" ")
    return (head[:space] if space > limit // 2 else head).rstrip() + "…"


def slugify(text: str) -> str:
    """The words of a title (Latin letters, digits, Hangul), lower-case, joined by ``-``."""
    words = re.findall(r"[0-9A-Za-z\uac00-\ud7a3]+", text)
    return "-".join(words).lower()[:80].strip("-")
