"""Rendering an issue: Markdown → the MJML layout in ``templates/email/`` → HTML, plus text.

Rendered once per issue. The personal values (``name``, ``unsubscribe_url``,
``preferences_url``, ``view_url``) are placeholders, filled per recipient by
:meth:`RenderedIssue.personalize` in one substitution pass, never by re-rendering.

Markers are plain ASCII (``%%NLH_NAME%%`` in the HTML, ``%%NLT_NAME%%`` in the text) so they
survive MJML untouched, also inside ``href``, and serve as SendGrid substitution keys as
they are: the two parts get different markers because HTML takes escaped values.
"""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from functools import cached_property
from typing import Any

import jinja2
from markupsafe import Markup
from mjml import mjml2html

from newsletter import markdown
from newsletter.abtest.spec import AbTest
from newsletter.advertising.footer import ad_footer
from newsletter.advertising.subject import ad_subject
from newsletter.errors import RenderError
from newsletter.inbox import finish_html
from newsletter.issues import CONTROL_CHARACTERS, ParsedIssue
from newsletter.resources import template_dirs
from newsletter.settings import Settings

_BLANK_BETWEEN_TAGS = re.compile(r">[ \t]+<")
PERSONAL_KEYS = ("name", "unsubscribe_url", "preferences_url", "view_url")
ISSUE_TEMPLATE = "issue.mjml.j2"
ISSUE_TEXT_TEMPLATE = "issue.txt.j2"

#: Words of the layout, by language. The greeting falls back to a neutral word for readers
#: who gave no name ("구독자님" / "Hi there") instead of leaving an awkward blank.
STRINGS: dict[str, dict[str, str]] = {
    "ko": {
        "greeting": "{name}님, 안녕하세요.",
        "name_fallback": "구독자",
        "view_in_browser": "웹에서 보기",
        "why": "{newsletter} 구독을 신청하셔서 받으신 메일입니다.",
        "unsubscribe": "구독 해지",
        "preferences": "구독 설정",
        "by": "글",
        "reading_time": "{minutes}분 분량",
        "forwarded": "전달받으셨나요?",
        "subscribe": "구독하기",
        "test_prefix": "[테스트] ",
    },
    "en": {
        "greeting": "Hi {name},",
        "name_fallback": "there",
        "view_in_browser": "View in browser",
        "why": "You get this email because you subscribed to {newsletter}.",
        "unsubscribe": "Unsubscribe",
        "preferences": "Preferences",
        "by": "by",
        "reading_time": "{minutes} min read",
        "forwarded": "Was this forwarded to you?",
        "subscribe": "Subscribe",
        "test_prefix": "[Test] ",
    },
}
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
#: Reading speeds: Korean is counted in characters (spaces excluded), English in words.
KOREAN_CHARS_PER_MINUTE = 500
ENGLISH_WORDS_PER_MINUTE = 230
#: A preheader derived from the first paragraph is cut at about this many characters.
PREHEADER_LENGTH = 110


def html_marker(key: str) -> str:
    """The placeholder for ``key`` as it appears in the HTML part."""
    return f"%%NLH_{key.upper()}%%"


def text_marker(key: str) -> str:
    """The placeholder for ``key`` as it appears in the text part."""
    return f"%%NLT_{key.upper()}%%"


@dataclass(frozen=True)
class RenderedIssue:
    """One issue rendered once: HTML and text with placeholders for the personal values."""

    slug: str
    newsletter_id: str
    lang: str
    subject: str
    preheader: str
    html: str
    text: str
    placeholders_html: Mapping[str, str]
    placeholders_text: Mapping[str, str]
    name_fallback: str = ""
    default_values: Mapping[str, str] = field(default_factory=dict)
    ad: bool = False  # an advertising issue: the subject starts with (광고)
    #: The issue's A/B test (``subjects:``); ``subject`` is then its first subject.
    ab_test: AbTest | None = None

    def substitutions(self, values: Mapping[str, str]) -> dict[str, str]:
        """marker → value for both parts (HTML-escaped for HTML markers, raw for text).

        This is what a provider's per-recipient substitutions need; an empty ``name``
        becomes :attr:`name_fallback`. Missing keys take :attr:`default_values`.
        """
        merged = {**self.default_values, **values}
        if not str(merged.get("name", "")).strip():
            merged["name"] = self.name_fallback
        missing = [key for key in PERSONAL_KEYS if key not in merged]
        if missing:
            raise RenderError(f"{self.slug}: no value for {', '.join(missing)}")
        result = {
            marker: html_lib.escape(merged[k]) for k, marker in self.placeholders_html.items()
        }
        result.update({marker: merged[k] for k, marker in self.placeholders_text.items()})
        return result

    def personalize(self, values: Mapping[str, str]) -> tuple[str, str]:
        """(html, text) for one recipient: one substitution pass over each part."""
        table = self.substitutions(values)
        fill = table.__getitem__
        html = self._pattern.sub(lambda m: fill(m[0]), self.html)
        text = self._pattern.sub(lambda m: fill(m[0]), self.text)
        return html, text

    @cached_property
    def _pattern(self) -> re.Pattern[str]:
        markers = [*self.placeholders_html.values(), *self.placeholders_text.values()]
        return re.compile("|".join(re.escape(marker) for marker in markers))


def email_environment(settings: Settings) -> jinja2.Environment:
    """Jinja2 over ``templates_dir/email``, then the packaged defaults, file by file.

    ``*.mjml.j2`` are autoescaped, ``*.txt.j2`` not.
    """
    folders = [str(folder) for folder in template_dirs(settings, "email")]
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(folders),
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("mjml.j2", "mjml", "html", "html.j2"), default=False
        ),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def mjml_to_html(source: str) -> str:
    """Compile MJML to email HTML; ``RenderError`` with MJML's message when it fails.

    The output is then made inbox-proof (:func:`newsletter.inbox.finish_html`): Korean
    line breaking inline on every element holding Hangul, the preheader padded and hidden
    without a colour, and no web font the template did not ask for.
    """
    # mjml-python refuses spaces-only text between head tags unless it holds a newline;
    # for HTML a newline is the same whitespace as spaces.
    source = CONTROL_CHARACTERS.sub("", _BLANK_BETWEEN_TAGS.sub(">\n<", source))
    try:
        result: Any = mjml2html(source)
    except Exception as exc:  # mjml-python raises its own untyped errors
        raise RenderError(f"MJML failed: {exc}") from None
    return finish_html(str(result), source)


def issue_language(settings: Settings, newsletter_id: str) -> str:
    """The language of a newsletter's emails: its own ``language``, else the site's."""
    return settings.newsletter(newsletter_id).language or settings.site.language


def render_issue(settings: Settings, issue: ParsedIssue) -> RenderedIssue:
    """Render ``issue`` once: the email HTML and text with placeholders."""
    lang = issue_language(settings, issue.newsletter_id)
    body = markdown.parse(issue.body)
    preheader = issue.preheader.strip() or derived_preheader(body)
    context = _context(settings, issue, body, lang, preheader)
    environment = _environment(settings)
    try:
        mjml_source = environment.get_template(ISSUE_TEMPLATE).render(context)
        text = environment.get_template(ISSUE_TEXT_TEMPLATE).render(context)
    except jinja2.TemplateError as exc:
        raise RenderError(f"{issue.slug}: email template: {exc}") from None
    return RenderedIssue(
        slug=issue.slug,
        newsletter_id=issue.newsletter_id,
        lang=lang,
        subject=ad_subject(issue.subject) if issue.ad else issue.subject,
        preheader=preheader,
        html=mjml_to_html(mjml_source),
        text=text.strip() + "\n",
        placeholders_html={key: html_marker(key) for key in PERSONAL_KEYS},
        placeholders_text={key: text_marker(key) for key in PERSONAL_KEYS},
        name_fallback=STRINGS[lang]["name_fallback"],
        default_values={"view_url": archive_url(settings, issue.slug)},
        ad=issue.ad,
        ab_test=_ab_test(issue),
    )


def _ab_test(issue: ParsedIssue) -> AbTest | None:
    """The issue's A/B test with each subject as it is sent (``(광고)`` first for an ad)."""
    test = issue.ab_test
    if test is None or not issue.ad:
        return test
    return replace(test, subjects=tuple(ad_subject(subject) for subject in test.subjects))


def _title_subject(issue: ParsedIssue) -> str:
    subject = issue.title if issue.ab_test else issue.subject
    return ad_subject(subject) if issue.ad else subject


def archive_url(settings: Settings, slug: str) -> str:
    """The issue's page in the web archive (the view-in-browser target)."""
    return f"{settings.site.url}/archive/{slug}"


def preview_values(settings: Settings, slug: str) -> dict[str, str]:
    """Stand-in personal values for previews (``render``, ``check``, the benchmark)."""
    return {
        "name": "",
        "unsubscribe_url": f"{settings.site.url}/unsubscribe/preview",
        "preferences_url": f"{settings.site.url}/preferences/preview",
        "view_url": archive_url(settings, slug),
    }


_ENVIRONMENTS: dict[str, jinja2.Environment] = {}


def _environment(settings: Settings) -> jinja2.Environment:
    # One environment per templates folder: Jinja compiles each template once, which
    # keeps a render in the low milliseconds (see benchmarks/render.py).
    key = str(settings.path(settings.templates_dir).resolve())
    if key not in _ENVIRONMENTS:
        _ENVIRONMENTS[key] = email_environment(settings)
    return _ENVIRONMENTS[key]


def derived_preheader(body: markdown.Body) -> str:
    """The inbox preview when the file gives none: the first paragraph, cut at a word."""
    text = " ".join(body.first_paragraph().split())
    if len(text) <= PREHEADER_LENGTH:
        return text
    cut = text[:PREHEADER_LENGTH].rsplit(" ", 1)[0] or text[:PREHEADER_LENGTH]
    return cut.rstrip(" ,.·:;") + "…"


def reading_minutes(text: str, lang: str) -> int:
    """Minutes to read ``text``: Korean at 500 characters (no spaces) a minute, English at
    230 words a minute; at least one."""
    if lang == "ko":
        count = len("".join(text.split()))
        return max(1, round(count / KOREAN_CHARS_PER_MINUTE))
    return max(1, round(len(text.split()) / ENGLISH_WORDS_PER_MINUTE))


def reader_date(value: date, lang: str) -> str:
    """A date the reader's way: ``2025년 8월 18일`` or ``August 18, 2025``."""
    if lang == "ko":
        return f"{value.year}년 {value.month}월 {value.day}일"
    return f"{_MONTHS[value.month - 1]} {value.day}, {value.year}"


def _feature_image(issue: ParsedIssue) -> dict[str, str] | None:
    src = str(issue.extra.get("image") or "").strip()
    if not src:
        return None
    alt = str(issue.extra.get("image_alt") or "").strip()
    return {"src": src, "alt": alt}


def _context(
    settings: Settings, issue: ParsedIssue, body: markdown.Body, lang: str, preheader: str
) -> dict[str, Any]:
    newsletter = settings.newsletter(issue.newsletter_id)
    sender = settings.sender_for(issue.newsletter_id)
    words = STRINGS[lang]
    content_text = body.text()
    minutes = reading_minutes(content_text, lang)
    return {
        "lang": lang,
        "site": settings.site,
        "newsletter": newsletter,
        "sender": sender,
        "issue": issue,
        # The HTML's <title>: an A/B issue's body is the same for every subject.
        "subject": _title_subject(issue),
        "preheader": preheader,
        "ad": ad_footer(settings, issue.newsletter_id, lang) if issue.ad else None,
        "t": words,
        "why": words["why"].format(newsletter=newsletter.name),
        "greeting_html": Markup(words["greeting"].format(name=html_marker("name"))),
        "greeting_text": words["greeting"].format(name=text_marker("name")),
        "content_html": Markup(body.html()),
        "content_text": content_text,
        "published": reader_date(issue.publish_at_local.date(), lang),
        "reading_time": words["reading_time"].format(minutes=minutes),
        "image": _feature_image(issue),
        "subscribe_url": f"{settings.site.url}/subscribe",
        "html_marker": html_marker,
        "text_marker": text_marker,
    }
