"""The "still want this?" email: ``templates/email/sunset.{mjml,txt}.j2``, texts ``sunset.*``.

It goes out like the welcome email (``newsletter.web.emails.Mailer``, through
:func:`newsletter.delivery.send_transactional`): in the newsletter's language, from its
sender, with ``List-Id`` and the one-click ``List-Unsubscribe`` pair. Its "yes" link is a
signed ``keep`` token naming the episode (``/keep/{token}``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from newsletter.delivery import send_transactional
from newsletter.delivery.backends import Backend, make_backend
from newsletter.delivery.links import Links
from newsletter.resources import template_dirs
from newsletter.services import Services
from newsletter.web.emails import Mailer
from newsletter.web.i18n import Catalog
from subscribers.tokens import TokenPurpose


@dataclass(frozen=True)
class Ask:
    """Who is asked, in which episode, about how many issues, answering by when."""

    newsletter_id: str
    subscriber_id: int
    episode_id: int
    email: str
    name: str
    issues: int
    deadline: datetime


@dataclass
class Outgoing:
    """What one run sends its asks with: the templates' mailer and one open backend (an
    SMTP connection is reused from one ask to the next)."""

    mailer: Mailer
    backend: Backend

    def close(self) -> None:
        """Close the backend (its connection)."""
        self.backend.close()


def open_outgoing(services: Services) -> Outgoing:
    """A mailer with the project's page texts (``templates/web/i18n``, then the packaged)
    and the configured backend."""
    catalog = Catalog.load(*(d / "i18n" for d in template_dirs(services.settings, "web")))
    return Outgoing(Mailer(services, catalog), make_backend(services.settings))


def keep_url(services: Services, ask: Ask) -> str:
    """The signed "yes, keep sending" page of this episode."""
    token = services.tokens.dumps(
        TokenPurpose.KEEP, ask.subscriber_id, ask.newsletter_id, ref=ask.episode_id
    )
    return f"{services.settings.site.url}/keep/{token}"


def send_ask(services: Services, outgoing: Outgoing, ask: Ask) -> None:
    """Render and send the email now; raises the backend's error when it is not accepted."""
    settings = services.settings
    newsletter = settings.newsletter(ask.newsletter_id)
    links = Links(settings, services.tokens, ask.newsletter_id)
    values = links.values(ask.subscriber_id, name=ask.name)
    deadline = ask.deadline.astimezone(ZoneInfo(settings.site.timezone)).strftime("%Y-%m-%d")
    email = outgoing.mailer.render(
        "sunset",
        lang=settings.sender_for(ask.newsletter_id).language,
        subject_key="sunset.email_subject",
        newsletter_id=ask.newsletter_id,
        name=ask.name,
        newsletter=newsletter,
        count=ask.issues,
        deadline=deadline,
        keep_url=keep_url(services, ask),
        unsubscribe_url=values["unsubscribe_url"],
        preferences_url=values["preferences_url"],
    )
    headers = {"List-Id": links.list_id(), **links.headers(values["unsubscribe_url"])}
    send_transactional(
        services,
        to=ask.email,
        subject=email.subject,
        html=email.html,
        text=email.text,
        headers=headers,
        newsletter_id=ask.newsletter_id,
        backend=outgoing.backend,
    )
