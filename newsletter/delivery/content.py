"""From a rendered issue to what backends send: the shared content and each recipient.

The issue is rendered once per send (``newsletter.render``); the values that are the same
for everyone (``view_url``) are filled into the shared body here, so a batch carries only
the truly personal ones (name, unsubscribe and preferences links).
"""

from __future__ import annotations

import html as html_lib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from newsletter.advertising.check import send_refusal
from newsletter.advertising.subject import with_test_prefix
from newsletter.delivery.links import Links
from newsletter.delivery.message import Content, Recipient
from newsletter.delivery.store import ClaimedDelivery
from newsletter.errors import SendStateError
from newsletter.services import Services

if TYPE_CHECKING:
    from newsletter.render import RenderedIssue
    from newsletter.tracking.service import ReaderParts

#: Loads and renders the issue with a slug (a seam: tests hand in their own).
Renderer = Callable[[Services, str], "RenderedIssue"]
SHARED_KEYS = ("view_url",)
#: The sends of sequence steps are named ``sequence/NEWSLETTER/NAME`` (no issue slug holds
#: ``/``); see newsletter/automations/sequences/models.py.
STEP_PREFIX = "sequence/"


def render_for_send(services: Services, slug: str) -> RenderedIssue:
    """Find the issue file with this slug in ``issues_dir`` and render it once.

    A draft is refused: only its test copies (:func:`render_for_test`) may go out. A
    sequence step's send (``sequence/NEWSLETTER/NAME``) renders its step file.
    """
    from newsletter.issues import find_issue
    from newsletter.render import render_issue

    if slug.startswith(STEP_PREFIX):
        from newsletter.automations.sequences.render import render_step

        return render_step(services, slug)
    issue = find_issue(services.settings, slug)
    if issue.draft:
        raise SendStateError(
            f"{issue.source_path}: {slug} is a draft (draft: true); remove that line to send it"
        )
    refusal = send_refusal(services.settings, issue)
    if refusal is not None:
        raise SendStateError(f"{issue.source_path}: {slug} is an advertising issue: {refusal}")
    return render_issue(services.settings, issue)


def render_for_test(services: Services, slug: str) -> RenderedIssue:
    """Like :func:`render_for_send`, drafts included: editors test an issue before it is done."""
    from newsletter.issues import find_issue
    from newsletter.render import render_issue

    return render_issue(services.settings, find_issue(services.settings, slug))


def issue_content(
    services: Services,
    rendered: RenderedIssue,
    *,
    links: Links,
    send_id: int | None,
    subject_prefix: str = "",
) -> Content:
    """The shared part of every message of the send, ``view_url`` already filled in.

    From, Reply-To are the newsletter's own (``Settings.sender_for``)."""
    sender = services.settings.sender_for(rendered.newsletter_id)
    shared = {"view_url": rendered.default_values.get("view_url") or links.view_url(rendered.slug)}
    html, text = _fill_shared(rendered, shared)
    custom_args = {"send_id": str(send_id)} if send_id is not None else {}
    return Content(
        subject=with_test_prefix(rendered.subject, subject_prefix),
        html=html,
        text=text,
        from_email=sender.from_email,
        from_name=sender.from_name,
        reply_to=sender.reply_to,
        headers={"List-Id": links.list_id()},
        placeholders_html=_personal(rendered.placeholders_html),
        placeholders_text=_personal(rendered.placeholders_text),
        categories=("newsletter", rendered.newsletter_id, rendered.slug),
        custom_args=custom_args,
    )


def recipient_for(
    row: ClaimedDelivery,
    *,
    links: Links,
    name_fallback: str,
    delivery_id: int | None,
    track: ReaderParts | None = None,
    subject: str = "",
    group: int | None = None,
) -> Recipient:
    """One claimed ledger row as a backend recipient with its links and headers
    (and its part of the tracking tokens when the send is tracked).

    ``subject``: the row's own (an A/B variant), else the content's. ``group``: the A/B
    group an aggregate tracking token carries (newsletter/abtest/service.py)."""
    values = links.values(row.subscriber_id, name=row.name or name_fallback)
    if track is not None:
        track.add_to(values, delivery_id=delivery_id, email=row.email, group=group)
    return Recipient(
        email=row.email,
        name=row.name,
        values=values,
        headers=links.headers(values["unsubscribe_url"], delivery_id=delivery_id),
        delivery_id=delivery_id,
        return_path=links.return_path(delivery_id),
        subject=subject,
    )


def _fill_shared(rendered: RenderedIssue, shared: Mapping[str, str]) -> tuple[str, str]:
    html, text = rendered.html, rendered.text
    for key, value in shared.items():
        if key in rendered.placeholders_html:
            html = html.replace(rendered.placeholders_html[key], html_lib.escape(value))
        if key in rendered.placeholders_text:
            text = text.replace(rendered.placeholders_text[key], value)
    return html, text


def _personal(markers: Mapping[str, str]) -> dict[str, str]:
    return {key: marker for key, marker in markers.items() if key not in SHARED_KEYS}
