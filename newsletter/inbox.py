"""The last pass over MJML's HTML: what makes an email read right in every inbox.

- Korean line breaking inline. Many clients drop ``<style>`` (Gmail's apps with other
  accounts, several webmails), and MJML writes ``word-break:break-word`` inline on its text
  cells, so Korean would break inside words. Every element holding Hangul text directly
  gets ``word-break:keep-all;overflow-wrap:anywhere`` in its own ``style`` (``anywhere`` so
  a long URL still wraps, also in table cells), and MJML's ``break-word`` becomes the same.
- The preheader: MJML hides it with ``color:#ffffff`` (SpamAssassin's
  HTML_FONT_LOW_CONTRAST); it is hidden here without a colour (``display:none``,
  ``max-height:0``, ``overflow:hidden``, ``mso-hide:all``, ``opacity:0``) and padded with
  invisible characters so the inbox preview stops after it instead of running on into
  "웹에서 보기".
- No external request the template did not ask for: MJML links Google Fonts for any of
  its five default font names found in a ``font-family`` (Roboto is in ours); those links
  and ``@import`` rules are removed unless their URL is in the MJML source (an operator's
  ``<mj-font>``).
"""

from __future__ import annotations

import html as html_lib
import re

#: Hangul syllables, jamo and compatibility jamo.
HANGUL = re.compile("[\u1100-\u11ff\u3130-\u318f\ua960-\ua97f\uac00-\ud7af\ud7b0-\ud7ff]")
KEEP_ALL = "word-break:keep-all;overflow-wrap:anywhere;"
#: What follows the preheader: figure space, zero-width no-break space, combining
#: grapheme joiner, space — invisible, and enough of them to fill any inbox preview.
PREHEADER_SPACER = "&#8199;&#65279;&#847; " * 90
PREHEADER_STYLE = (
    "display:none;max-height:0;max-width:0;overflow:hidden;mso-hide:all;opacity:0;"
    "font-size:1px;line-height:1px;"
)

_MJML_PREVIEW = re.compile(
    r'<div style="display:none;font-size:1px;color:#ffffff;line-height:1px;max-height:0px;'
    r'max-width:0px;opacity:0;overflow:hidden;">(.*?)</div>',
    re.DOTALL,
)
_FONT_LINK = re.compile(r'<link href="([^"]+)" rel="stylesheet" type="text/css">')
_FONT_IMPORT = re.compile(r"@import url\(([^)]+)\);?")
_EMPTY_STYLE = re.compile(r'<style type="text/css">\s*</style>')
_EMPTY_NOT_MSO = re.compile(r"<!--\[if !mso\]><!-->\s*<!--<!\[endif\]-->")
_TOKEN = re.compile(
    r"<!--.*?-->|<(/?)([a-zA-Z][a-zA-Z0-9]*)((?:[^>\"']|\"[^\"]*\"|'[^']*')*)>", re.DOTALL
)
_STYLE_ATTR = re.compile(r"""\sstyle=(["'])(.*?)\1""", re.DOTALL | re.IGNORECASE)
_WORD_BREAK = re.compile(r"(?:^|;)\s*(?:word-break|overflow-wrap|word-wrap)\s*:[^;]*", re.I)
_VOID = {
    "area",
    "base",
    "br",
    "col",
    "embed",
    "hr",
    "img",
    "input",
    "link",
    "meta",
    "source",
    "wbr",
}
_RAW_TEXT = {"style", "script", "title", "head"}


def finish_html(html: str, source: str = "") -> str:
    """MJML's output made inbox-proof (see the module docstring); ``source`` is the MJML."""
    html = _MJML_PREVIEW.sub(lambda m: preheader_div(m[1]), html, count=1)
    html = _strip_undeclared_fonts(html, source)
    html = html.replace("word-break:break-word;", KEEP_ALL)
    return keep_all_inline(html)


def preheader_div(text_html: str) -> str:
    """The hidden preheader: its (already escaped) text, then the invisible spacer."""
    if not text_html.strip():
        return ""
    return f'<div style="{PREHEADER_STYLE}">{text_html}{PREHEADER_SPACER}</div>'


def _strip_undeclared_fonts(html: str, source: str) -> str:
    def keep(match: re.Match[str]) -> str:
        return match[0] if html_lib.unescape(match[1]) in source else ""

    head, body_tag, body = html.partition("<body")
    head = _EMPTY_STYLE.sub("", _FONT_IMPORT.sub(keep, _FONT_LINK.sub(keep, head)))
    return _EMPTY_NOT_MSO.sub("", head) + body_tag + body


def keep_all_inline(html: str) -> str:
    """``html`` with ``word-break:keep-all`` inline on every element whose own text holds
    Hangul (outside ``<head>``, comments and raw-text elements)."""
    starts: list[tuple[int, int]] = []  # (start, end) of each start tag
    stack: list[tuple[str, int]] = []  # open elements: (name, index into starts)
    marked: set[int] = set()
    position = 0
    raw_depth = 0
    for match in _TOKEN.finditer(html):
        if raw_depth == 0 and HANGUL.search(html, position, match.start()) and stack:
            marked.add(stack[-1][1])
        position = match.end()
        closing, name = match[1], (match[2] or "").lower()
        if not name:
            continue  # a comment (Outlook's conditional markup included)
        if closing:
            for depth in range(len(stack) - 1, -1, -1):
                if stack[depth][0] == name:
                    del stack[depth:]
                    break
            if name in _RAW_TEXT:
                raw_depth = max(0, raw_depth - 1)
            continue
        if name in _RAW_TEXT:
            raw_depth += 1
        if name in _VOID or match[3].rstrip().endswith("/"):
            continue
        starts.append((match.start(), match.end()))
        stack.append((name, len(starts) - 1))
    if not marked:
        return html
    out: list[str] = []
    last = 0
    for index in sorted(marked):
        start, end = starts[index]
        out.append(html[last:start])
        out.append(_with_keep_all(html[start:end]))
        last = end
    out.append(html[last:])
    return "".join(out)


def _with_keep_all(tag: str) -> str:
    style = _STYLE_ATTR.search(tag)
    if style is None:
        return f'{tag[:-1]} style="{KEEP_ALL}">'
    rest = _WORD_BREAK.sub("", style[2]).strip().strip(";")
    value = f"{rest};{KEEP_ALL}" if rest else KEEP_ALL
    quote = style[1]
    return f"{tag[: style.start()]} style={quote}{value}{quote}{tag[style.end() :]}"
