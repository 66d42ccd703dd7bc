"""The subscriber web's emails: the double opt-in confirmation, the welcome email and the
"your data" link.

They come from ``templates/email/{confirm,welcome,data}.mjml.j2`` (HTML through MJML) and
``.txt.j2`` (the plain-text part), in the reader's language, and go out at once through
the configured backend with :func:`newsletter.delivery.send_transactional`. About one
newsletter, they come from that newsletter's sender (its ``from_name``, ``from_email``,
``postal_address``, see ``Settings.sender_for``); about several, from the site's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import jinja2

from newsletter.delivery import send_transactional
from newsletter.delivery.links import Links
from newsletter.errors import RenderError
from newsletter.render import email_environment, mjml_to_html
from newsletter.services import Services
from newsletter.settings import NewsletterSettings
from newsletter.web.i18n import Catalog
from subscribers.tokens import TokenPurpose


@dataclass(frozen=True)
class Email:
    """One rendered email."""

    subject: str
    preheader: str
    html: str
    text: str


class Mailer:
    """Renders and sends the confirmation and welcome emails of one app."""

    def __init__(self, services: Services, catalog: Catalog) -> None:
        self.services = services
        self.catalog = catalog
        self.environment = email_environment(services.settings)

    def render(
        self,
        template: str,
        *,
        lang: str,
        subject_key: str,
        newsletter_id: str | None = None,
        **values: Any,
    ) -> Email:
        """Render ``<template>.mjml.j2`` and ``<template>.txt.j2`` in ``lang``, signed by
        ``newsletter_id``'s sender (the site's when ``None``)."""
        text_of = partial(self.catalog.text, lang)
        settings = self.services.settings
        site = settings.site
        sender = settings.sender_for(newsletter_id)
        own_name = settings.newsletter(newsletter_id).from_name if newsletter_id else ""
        brand = own_name or site.name
        subject = text_of(subject_key, site=brand)
        preheader = text_of(subject_key.replace("_subject", "_preheader"))
        context = {
            "lang": lang,
            "t": text_of,
            "site": site,
            "brand": brand,
            "sender": sender,
            "subject": subject,
            "preheader": preheader,
            **values,
        }
        try:
            source = self.environment.get_template(f"{template}.mjml.j2").render(context)
            text = self.environment.get_template(f"{template}.txt.j2").render(context)
        except jinja2.TemplateError as exc:
            raise RenderError(f"templates/email/{template}: {exc}") from None
        html = mjml_to_html(source)
        return Email(subject=subject, preheader=preheader, html=html, text=text)

    def send_confirmation(
        self,
        *,
        to: str,
        subscriber_id: int,
        name: str,
        lang: str,
        newsletters: Sequence[NewsletterSettings],
        consent_id: int | None = None,
    ) -> None:
        """Send the double opt-in email with a fresh confirm link (expires, see tokens)
        naming the consent record (the sign-up) it confirms."""
        token = self.services.tokens.dumps(TokenPurpose.CONFIRM, subscriber_id, ref=consent_id)
        confirm_url = f"{self.services.settings.site.url}/confirm/{token}"
        email = self.render(
            "confirm",
            lang=lang,
            subject_key="email.confirm_subject",
            newsletter_id=_only(newsletters),
            name=name,
            newsletters=list(newsletters),
            confirm_url=confirm_url,
        )
        self._send(to, email, newsletter_id=_only(newsletters))

    def send_data_link(self, *, to: str, subscriber_id: int, name: str, lang: str) -> None:
        """Send the short-lived link to download or erase the person's data (see tokens)."""
        token = self.services.tokens.dumps(TokenPurpose.DATA, subscriber_id)
        email = self.render(
            "data",
            lang=lang,
            subject_key="email.data_subject",
            name=name,
            data_url=f"{self.services.settings.site.url}/data/{token}",
        )
        self._send(to, email)

    def send_welcome(
        self,
        *,
        to: str,
        subscriber_id: int,
        name: str,
        lang: str,
        newsletters: Sequence[NewsletterSettings],
    ) -> None:
        """Send the welcome email, with the list headers of the first newsletter joined."""
        settings = self.services.settings
        links = Links(settings, self.services.tokens, newsletters[0].id)
        values = links.values(subscriber_id, name=name)
        email = self.render(
            "welcome",
            lang=lang,
            subject_key="email.welcome_subject",
            newsletter_id=_only(newsletters),
            name=name,
            newsletters=list(newsletters),
            archive_url=f"{settings.site.url}/archive",
            preferences_url=values["preferences_url"],
        )
        headers = {"List-Id": links.list_id(), **links.headers(values["unsubscribe_url"])}
        self._send(to, email, headers=headers, newsletter_id=_only(newsletters))

    def _send(
        self,
        to: str,
        email: Email,
        *,
        headers: dict[str, str] | None = None,
        newsletter_id: str | None = None,
    ) -> None:
        send_transactional(
            self.services,
            to=to,
            subject=email.subject,
            html=email.html,
            text=email.text,
            headers=headers,
            newsletter_id=newsletter_id,
        )


def _only(newsletters: Sequence[NewsletterSettings]) -> str | None:
    """The id of the one newsletter an email is about; ``None`` for several."""
    return newsletters[0].id if len(newsletters) == 1 else None
