"""Tracked links in a rendered issue: rewritten once per send, personalized by substitution.

Every ``<a href="http(s)://…">`` of the issue's HTML becomes ``{site}/l/{track}.{i}.{mac}``
where ``{track}`` is a new personal marker (``%%NLH_TRACK%%``; the per-recipient reader
part of the token, :mod:`newsletter.tracking.tokens`) and ``.{i}.{mac}`` the link's signed
index, the same for everyone. The text part's copies of those URLs are rewritten the same
way. Links holding a personal marker (unsubscribe, preferences, view in browser), the site's
own subscriber pages, ``mailto:``/``tel:`` and anchors are never rewritten; nor is anything
but a campaign send (test copies and transactional emails never come here).

A hidden trap link and, with ``opens: true``, a pixel go before ``</body>``.
"""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from newsletter.settings import NewsletterSettings
from newsletter.tracking.models import LinkKind
from newsletter.tracking.tokens import TrackSigner

if TYPE_CHECKING:
    from newsletter.render import RenderedIssue

TRACK_KEY = "track"
#: The markers of the ``track`` value (as ``newsletter.render`` spells markers; not imported
#: from it so that delivery imports no renderer).
TRACK_HTML_MARKER = "%%NLH_TRACK%%"
TRACK_TEXT_MARKER = "%%NLT_TRACK%%"
_HREF = re.compile(r"(<a\b[^>]*?\shref=)(\"([^\"]*)\"|'([^']*)')", re.IGNORECASE)
_HTTP = re.compile(r"^https?://[^/\s]", re.IGNORECASE)
_NEVER_PATHS = (
    "/unsubscribe",
    "/preferences",
    "/subscribe",
    "/confirm",
    "/data/",
    "/l/",
    "/o/",
)
TRAP_STYLE = (
    "display:none;font-size:0;line-height:0;max-height:0;max-width:0;"
    "opacity:0;overflow:hidden;mso-hide:all"
)


@dataclass(frozen=True)
class LinkRow:
    """One tracked index of a send."""

    index: int
    kind: str
    url: str


def trackable(url: str, *, site_url: str) -> bool:
    """Whether a link's target may go through ``/l/``: http(s), no marker, no subscriber page."""
    if "%%NL" in url or not _HTTP.match(url):
        return False
    if url.lower().startswith(site_url.lower() + "/"):
        path = url[len(site_url) :].lower()
        return not any(path.startswith(prefix) for prefix in _NEVER_PATHS)
    return True


def with_utm(url: str, utm: Mapping[Any, str], *, slug: str) -> str:
    """``url`` with the UTM parameters appended in name order (its own bytes, query and
    fragment kept); unchanged when it already carries any ``utm_`` parameter."""
    if not utm or "utm_" in url:
        return url
    base, hash_mark, fragment = url.partition("#")
    extra = "&".join(
        f"{key}={quote(value.replace('{slug}', slug), safe='')}"
        for key, value in sorted(utm.items())
    )
    separator = "&" if "?" in base else "?"
    if base.endswith(("?", "&")):
        separator = ""
    return f"{base}{separator}{extra}{hash_mark}{fragment}"


def issue_links(rendered: RenderedIssue, *, site_url: str) -> list[str]:
    """The distinct trackable link targets of the issue's HTML, in order of appearance."""
    seen: dict[str, None] = {}
    for match in _HREF.finditer(rendered.html):
        url = html_lib.unescape(match[3] if match[3] is not None else match[4])
        if trackable(url, site_url=site_url):
            seen.setdefault(url, None)
    return list(seen)


def plan_links(
    existing: Sequence[LinkRow],
    urls: Sequence[str],
    *,
    trap_url: str,
    newsletter: NewsletterSettings,
    slug: str,
) -> tuple[dict[str, int], list[LinkRow]]:
    """Each URL's index (kept from ``existing`` rows, new ones appended) and the new rows.

    Index 0 is the trap and 1 the pixel, so every send has both whatever its content.
    """
    rows = {row.index: row for row in existing}
    new: list[LinkRow] = []
    if 0 not in rows:
        new.append(LinkRow(0, LinkKind.TRAP, trap_url))
    if 1 not in rows:
        new.append(LinkRow(1, LinkKind.OPEN, ""))
    by_target = {row.url: row.index for row in existing if row.kind == LinkKind.LINK}
    following = max([1, *rows]) + 1
    indexes: dict[str, int] = {}
    for url in urls:
        target = with_utm(url, newsletter.utm, slug=slug)
        index = by_target.get(target)
        if index is None:
            index, following = following, following + 1
            by_target[target] = index
            new.append(LinkRow(index, LinkKind.LINK, target))
        indexes[url] = index
    return indexes, new


def rewrite_issue(
    rendered: RenderedIssue,
    *,
    indexes: Mapping[str, int],
    signer: TrackSigner,
    send_id: int,
    site_url: str,
    opens: bool,
) -> RenderedIssue:
    """The issue with its links through ``/l/``, a trap link, the pixel when ``opens``,
    and the ``track`` marker among its personal placeholders."""
    h_marker, t_marker = TRACK_HTML_MARKER, TRACK_TEXT_MARKER

    def tracked(marker: str, index: int, route: str = "l") -> str:
        return f"{site_url}/{route}/{marker}{signer.link_part(send_id, index)}"

    def href(match: re.Match[str]) -> str:
        url = html_lib.unescape(match[3] if match[3] is not None else match[4])
        if url not in indexes:
            return match[0]
        return f'{match[1]}"{html_lib.escape(tracked(h_marker, indexes[url]))}"'

    html = _HREF.sub(href, rendered.html)
    extra = (
        f'<a href="{html_lib.escape(tracked(h_marker, 0))}" style="{TRAP_STYLE}"'
        ' aria-hidden="true" tabindex="-1"></a>'
    )
    if opens:
        extra += (
            f'<img src="{html_lib.escape(tracked(h_marker, 1, "o"))}" width="1" height="1"'
            ' alt="" style="display:block;border:0;width:1px;height:1px" />'
        )
    html = _before_body_end(html, extra)
    text = _rewrite_text(rendered.text, {url: tracked(t_marker, i) for url, i in indexes.items()})
    return replace(
        rendered,
        html=html,
        text=text,
        placeholders_html={**rendered.placeholders_html, TRACK_KEY: h_marker},
        placeholders_text={**rendered.placeholders_text, TRACK_KEY: t_marker},
    )


def _before_body_end(html: str, extra: str) -> str:
    position = html.lower().rfind("</body>")
    if position < 0:
        return html + extra
    return html[:position] + extra + html[position:]


def _rewrite_text(text: str, targets: Mapping[str, str]) -> str:
    if not targets:
        return text
    # A URL in the text part ends at whitespace or a closing bracket/angle; the longest
    # URL first, so a URL that is a prefix of another is not rewritten inside it.
    urls = sorted(targets, key=len, reverse=True)
    pattern = re.compile(
        r"(?<![^\s(<\[])(" + "|".join(re.escape(url) for url in urls) + r")(?=[\s)>\]]|$)"
    )
    return pattern.sub(lambda match: targets[match[1]], text)
