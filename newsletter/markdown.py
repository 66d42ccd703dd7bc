"""Markdown → an email-safe HTML fragment and the plain text that says the same.

CommonMark plus tables, strikethrough, footnotes and autolinks (markdown-it-py). Soft line
breaks are kept as line breaks (``breaks``): authors put a sub-heading on the line right
above its paragraph. Raw HTML in Markdown is shown as text, not passed through: an issue's
look comes from the layout in ``templates/email/``, and the text part must say the same.
"""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import unquote

from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore
from markdown_it.token import Token
from markdown_it.tree import SyntaxTreeNode
from mdit_py_plugins.footnote import footnote_plugin

# Inline styles: many mail clients drop <style>, so each element carries its own look.
_STYLES = {
    "h1": "margin:28px 0 12px;font-size:24px;line-height:1.35;font-weight:700;",
    "h2": "margin:28px 0 12px;font-size:21px;line-height:1.4;font-weight:700;",
    "h3": "margin:24px 0 10px;font-size:18px;line-height:1.45;font-weight:700;",
    "h4": "margin:20px 0 8px;font-size:16px;line-height:1.5;font-weight:700;",
    "h5": "margin:20px 0 8px;font-size:16px;line-height:1.5;font-weight:700;",
    "h6": "margin:20px 0 8px;font-size:16px;line-height:1.5;font-weight:700;",
    "p": "margin:0 0 16px;",
    "ul": "margin:0 0 16px;padding-left:22px;",
    "ol": "margin:0 0 16px;padding-left:22px;",
    "li": "margin:0 0 8px;",
    "blockquote": "margin:0 0 16px;padding:4px 0 4px 16px;border-left:4px solid #d4d4d8;"
    "color:#52525b;",
    "pre": "margin:0 0 16px;padding:12px;background:#f4f4f5;border-radius:6px;"
    "white-space:pre-wrap;word-break:break-all;font-size:14px;",
    "code": "font-family:SFMono-Regular,Menlo,Consolas,monospace;font-size:14px;",
    "table": "width:100%;margin:0 0 16px;border-collapse:collapse;font-size:15px;",
    "th": "padding:6px 8px;border:1px solid #d4d4d8;text-align:left;",
    "td": "padding:6px 8px;border:1px solid #d4d4d8;",
    "img": "display:block;max-width:100%;height:auto;border:0;",
    "hr": "margin:24px 0;border:0;border-top:1px solid #e4e4e7;",
    "a": "color:#2563eb;text-decoration:underline;overflow-wrap:anywhere;",
}
_TAG = re.compile(r"<(" + "|".join(sorted(_STYLES, key=len, reverse=True)) + r")(?=[\s>/])")


@lru_cache(maxsize=1)
def markdown_parser() -> MarkdownIt:
    """The one configured parser (built once; parsing is then thread-safe)."""
    parser = MarkdownIt(
        "commonmark", {"breaks": True, "html": False, "linkify": True, "typographer": False}
    )
    parser.enable(["table", "strikethrough", "linkify"])
    parser.core.ruler.after("linkify", "linkify_explicit_only", _unlink_fuzzy)
    parser.use(footnote_plugin)
    parser.validateLink = _safe_link  # type: ignore[method-assign]
    return parser


_EXPLICIT_LINK = re.compile(r"^(?:[a-z][a-z0-9+.-]*://|www\.|mailto:)", re.IGNORECASE)


def _unlink_fuzzy(state: StateCore) -> None:
    """Autolink only what has a scheme or starts with ``www.`` (then as https):
    "Character.AI" or an address-looking "README.md" in running text stays text."""
    for block in state.tokens:
        if block.type != "inline" or not block.children:
            continue
        kept: list[Token] = []
        children = block.children
        index = 0
        while index < len(children):
            token = children[index]
            if (
                token.type == "link_open"
                and token.markup == "linkify"
                and index + 2 < len(children)
                and children[index + 2].type == "link_close"
                and not _EXPLICIT_LINK.match(children[index + 1].content)
            ):
                kept.append(children[index + 1])
                index += 3
                continue
            if token.type == "link_open" and token.markup == "linkify":
                href = str(token.attrs.get("href", ""))
                bare = index + 1 < len(children) and children[index + 1].content.lower()
                if href.startswith("http://www.") and str(bare).startswith("www."):
                    # A bare www. address: the web is https now.
                    token.attrSet("href", "https://" + href.removeprefix("http://"))
            kept.append(token)
            index += 1
        block.children = kept


#: The schemes a link or image may use; a URL without a scheme (relative, ``#anchor``) too.
SAFE_SCHEMES = frozenset({"http", "https", "mailto", "tel"})
_SCHEME = re.compile(r"^([a-z][a-z0-9+.-]*):")
#: What a browser's URL parser drops before reading a scheme (C0 controls and space at the
#: ends, tab and newlines anywhere), plus what it would never see in a real scheme.
_IGNORED_IN_SCHEME = re.compile(r"[\x00-\x20\x7f-\x9f\u00ad\u200b-\u200f\u2028-\u202e\ufeff]+")


def is_safe_url(url: str) -> bool:
    """Whether a link or image URL is one we let into an email: http(s), mailto, tel or
    relative. ``javascript:``, ``vbscript:``, ``data:``, ``file:`` and every other scheme
    are refused in any case, with entities, percent-escapes or whitespace inside it."""
    text = url
    for _ in range(3):  # nested escapes (&amp;#58;, %253A) unwrap a little at a time
        unwrapped = unquote(html.unescape(text))
        if unwrapped == text:
            break
        text = unwrapped
    text = _IGNORED_IN_SCHEME.sub("", text).lower()
    match = _SCHEME.match(text)
    if match is None:
        return ":" not in text.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    return match[1] in SAFE_SCHEMES


def _safe_link(url: str) -> bool:
    # markdown-it's own rule lets data:image through; ours is an allow-list.
    return is_safe_url(url)


@dataclass(frozen=True)
class Body:
    """One parse of an issue body, read three ways (a render needs all three: parsing once
    instead of three times halves a render)."""

    tokens: tuple[Token, ...]

    def html(self) -> str:
        """The HTML fragment for the email's content column, with inline styles."""
        parser = markdown_parser()
        html = parser.renderer.render(list(self.tokens), parser.options, {})
        return _TAG.sub(lambda m: f'<{m[1]} style="{_STYLES[m[1]]}"', html)

    def text(self) -> str:
        """Plain text that says the same as :meth:`html`: headings, lists, links with URLs."""
        blocks = _blocks(SyntaxTreeNode(list(self.tokens)).children)
        return "\n\n".join(block for block in blocks if block.strip()).strip("\n") + "\n"

    def first_paragraph(self) -> str:
        """The plain text of the first paragraph (headings and quotes skipped)."""
        for node in SyntaxTreeNode(list(self.tokens)).children:
            if node.type == "paragraph":
                text = _inline(node)
                if text.strip():
                    return text
        return ""


def parse(markdown: str) -> Body:
    """Parse ``markdown`` once with the configured parser."""
    return Body(tuple(markdown_parser().parse(markdown)))


def to_html(markdown: str) -> str:
    """The HTML fragment for the email's content column, with inline styles."""
    return parse(markdown).html()


def to_text(markdown: str) -> str:
    """Plain text that says the same as :func:`to_html`: headings, lists, links with URLs."""
    return parse(markdown).text()


def _blocks(nodes: list[SyntaxTreeNode]) -> list[str]:
    return [text for node in nodes if (text := _block(node))]


def _block(node: SyntaxTreeNode) -> str:
    kind = node.type
    if kind == "heading":
        text = _inline(node)
        rule = "=" if node.tag in ("h1", "h2") else "-"
        return f"{text}\n{rule * max(3, min(display_width(text), 60))}"
    if kind == "paragraph":
        return _inline(node)
    if kind in ("bullet_list", "ordered_list"):
        return _list(node)
    if kind == "blockquote":
        inner = "\n\n".join(_blocks(node.children))
        return "\n".join(f"> {line}" if line else ">" for line in inner.split("\n"))
    if kind in ("fence", "code_block"):
        return "\n".join(f"    {line}" for line in node.content.rstrip("\n").split("\n"))
    if kind == "hr":
        return "----------"
    if kind == "table":
        return _table(node)
    if kind == "footnote_block":
        return "----------\n" + "\n".join(_footnote(item) for item in node.children)
    return "\n\n".join(_blocks(node.children))


def _list(node: SyntaxTreeNode) -> str:
    start = int(str(node.attrs.get("start", 1)))
    lines: list[str] = []
    for number, item in enumerate(node.children, start=start):
        marker = f"{number}. " if node.type == "ordered_list" else "- "
        body = "\n".join(_blocks(item.children)) or ""
        pad = " " * len(marker)
        first, *rest = body.split("\n") or [""]
        lines.append(marker + first)
        lines.extend(pad + line if line else "" for line in rest)
    return "\n".join(lines)


def _table(node: SyntaxTreeNode) -> str:
    rows = [
        " | ".join(_inline(cell) for cell in row.children)
        for section in node.children
        for row in section.children
    ]
    return "\n".join(rows)


def _footnote(node: SyntaxTreeNode) -> str:
    label = int(str(node.meta.get("id", 0))) + 1
    text = " ".join(
        _block(child) for child in node.children if child.type != "footnote_anchor"
    ).strip()
    return f"[{label}] {text}"


def _inline(node: SyntaxTreeNode) -> str:
    parts: list[str] = []
    for child in node.children:
        parts.append(_inline_node(child))
    return "".join(parts).strip()


def _inline_node(node: SyntaxTreeNode) -> str:
    kind = node.type
    if kind == "inline":
        return "".join(_inline_node(child) for child in node.children)
    if kind in ("text", "code_inline", "html_inline"):
        return node.content
    if kind in ("softbreak", "hardbreak"):
        return "\n"
    if kind == "link":
        return _link_text(node)
    if kind == "image":
        alt = "".join(_inline_node(child) for child in node.children) or node.content
        return f"[{alt}] {node.attrs.get('src', '')}".strip()
    if kind == "footnote_ref":
        return f"[{int(str(node.meta.get('id', 0))) + 1}]"
    if kind == "s":
        # Strikethrough says something ("~~미루는~~ 자동으로"): keep its mark in the text.
        return "~~" + "".join(_inline_node(child) for child in node.children) + "~~"
    return "".join(_inline_node(child) for child in node.children)


def first_paragraph(markdown: str) -> str:
    """The plain text of the body's first paragraph (headings and quotes skipped)."""
    return parse(markdown).first_paragraph()


def _link_text(node: SyntaxTreeNode) -> str:
    label = "".join(_inline_node(child) for child in node.children).strip()
    href = str(node.attrs.get("href", ""))
    bare = href.removeprefix("mailto:")
    if not href or label in (href, bare) or node.info == "auto" or node.markup == "linkify":
        return label or href
    return f"{label} ({href})"


def display_width(text: str) -> int:
    """Columns ``text`` takes in a monospace terminal (Hangul and CJK count twice)."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
