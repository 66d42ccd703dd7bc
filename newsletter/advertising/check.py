"""What ``newsletter check`` finds about advertising (``ad: true``) issues.

Errors: a hand-written prefix other than exactly ``(광고)`` (``[광고]``, ``(광고 )``,
``（광고）``, ``(AD)``, ``광고:`` …: the renderer adds ``(광고) `` itself); a sender without
a postal address or telephone number (the footer must show both); an email template that
dropped the advertising footer (the notice, the sender line or the 수신거부 link).
Warning: an issue without ``ad: true`` whose subject starts like an advertisement.
"""

from __future__ import annotations

from collections.abc import Iterator

from newsletter.advertising.footer import UNSUBSCRIBE_LABEL, ad_footer
from newsletter.advertising.subject import wrong_prefix
from newsletter.issues import ParsedIssue
from newsletter.settings import Settings


def ad_findings(
    settings: Settings, issue: ParsedIssue, *, html: str, text: str, unsubscribe_url: str
) -> Iterator[tuple[str, str, str]]:
    """(level, code, message) for the advertising rules; ``html``/``text`` are the
    personalized preview, ``unsubscribe_url`` the preview's unsubscribe link."""
    field = "subject" if issue.subject != issue.title else "title"
    found = wrong_prefix(issue.subject)
    if not issue.ad:
        if found is not None or issue.subject.lstrip().startswith("(광고)"):
            yield (
                "warning",
                "ad_not_marked",
                f"{field}: starts like an advertisement; add `ad: true` to the front matter",
            )
        return
    if found is not None:
        yield (
            "error",
            "ad_subject_prefix",
            f"{field}: hand-written advertising prefix {found!r}; remove it: an `ad: true` "
            "issue's subject gets exactly '(광고) ' in front",
        )
    yield from _contact(settings, issue.newsletter_id)
    footer = ad_footer(settings, issue.newsletter_id, "ko")
    missing = [
        what
        for what, ok in (
            (
                "the 수신거부 (Unsubscribe) link (HTML)",
                f'href="{unsubscribe_url}"' in html and UNSUBSCRIBE_LABEL in html,
            ),
            (
                "the 수신거부 (Unsubscribe) link (text)",
                f"{UNSUBSCRIBE_LABEL}: {unsubscribe_url}" in text,
            ),
            ("the sender line", footer.sender_line.split(" · ")[0].split(": ")[1] in text),
        )
        if not ok
    ]
    if missing:
        yield (
            "error",
            "ad_footer_missing",
            f"templates: the advertising footer lacks {', '.join(missing)}; "
            "include _ad_footer.mjml.j2 / _ad_footer.txt.j2 in the issue templates",
        )


def send_refusal(settings: Settings, issue: ParsedIssue) -> str | None:
    """Why an advertising issue must not be sent (its first error of the prefix and contact
    rules), or None: a send refuses what ``check`` would fail, whoever starts it."""
    if not issue.ad:
        return None
    found = wrong_prefix(issue.subject)
    if found is not None:
        return f"hand-written advertising prefix {found!r} in the subject"
    return next((message for _, _, message in _contact(settings, issue.newsletter_id)), None)


def _contact(settings: Settings, newsletter_id: str) -> Iterator[tuple[str, str, str]]:
    sender = settings.sender_for(newsletter_id)
    for key, value in (("postal_address", sender.postal_address), ("phone", sender.phone)):
        if not value.strip():
            yield (
                "error",
                f"ad_no_{key}",
                f"{key}: empty for newsletter {newsletter_id!r} and in site.{key}: an "
                "advertising issue's footer must give the sender's address and phone",
            )
