"""The bounce mailbox tests' world: a real send to six readers with VERP, the samples of
``tests/data/mailbox`` dropped into the mailbox with their placeholders filled, and what
happened to each reader. Shared by the Maildir and the IMAP tests."""

from __future__ import annotations

import mailbox
from pathlib import Path
from typing import Any

from sqlalchemy import select

from newsletter.delivery import RunOptions, start_send
from newsletter.delivery.models import Delivery
from newsletter.delivery.verp import VerpPurpose, VerpSigner
from newsletter.events.store import ProviderEventRecord
from newsletter.mailbox.service import process_maildir
from newsletter.services import Services
from newsletter.settings import MailboxSettings
from subscribers.addresses import address_hash
from subscribers.models import Subscriber, Subscription, Suppression
from tests.conftest import REPO
from tests.fixtures.delivery import add_audience, stand_in_renderer, with_delivery

SAMPLES = REPO / "tests" / "data" / "mailbox"
DOMAIN = "bounce.example.org"
HARD = ["postfix_hard", "exim_hard", "exim_hard_plain", "exchange_hard", "gmail_hard"]


class World:
    """A sent issue to six readers, VERP on, and the Maildir the bounce domain fills.

    ``mailbox`` replaces the Maildir settings (the IMAP tests pass an IMAP URL and override
    the methods that touch the mailbox: ``drop_bytes``, ``process``, ``folder``, ``waiting``).
    """

    def __init__(
        self, services: Services, tmp_path: Path, *, mailbox_settings: MailboxSettings | None = None
    ) -> None:
        self.maildir = tmp_path / "bounces"
        mailbox.Maildir(self.maildir, create=True)
        self.services = with_delivery(
            services,
            bounce_domain=DOMAIN,
            mailbox=mailbox_settings
            or MailboxSettings(maildir=self.maildir, max_message_bytes=50_000),
        )
        add_audience(self.services, 6)
        start_send(self.services, "hello", options=RunOptions(renderer=stand_in_renderer))
        with self.services.sessions() as session:
            self.deliveries = dict(
                session.execute(
                    select(Subscriber.email, Delivery.id).join(
                        Subscriber, Subscriber.id == Delivery.subscriber_id
                    )
                ).all()
            )
        self.verp: VerpSigner = self.services.verp

    def bounce(self, email: str) -> str:
        return self.verp.address(VerpPurpose.BOUNCE, self.deliveries[email], DOMAIN)

    def unsub(self, email: str) -> str:
        return self.verp.address(VerpPurpose.UNSUBSCRIBE, self.deliveries[email], DOMAIN)

    def drop(
        self,
        sample: str,
        *,
        rcpt: str,
        bounce: str | None = None,
        unsub: str | None = None,
    ) -> bytes:
        """Deliver ``sample`` into the Maildir's new/, placeholders filled; its bytes."""
        text = (SAMPLES / f"{sample}.eml").read_text(encoding="utf-8")
        text = text.replace("{{BOUNCE}}", bounce or self.bounce(rcpt))
        text = text.replace("{{UNSUB}}", unsub or self.unsub(rcpt))
        data = text.replace("{{RCPT}}", rcpt).replace("\n", "\r\n").encode("utf-8")
        self.drop_bytes(data)
        return data

    def drop_bytes(self, data: bytes) -> None:
        mailbox.Maildir(self.maildir, create=False).add(data)

    def process(self) -> dict[str, int]:
        report = process_maildir(self.services, path=self.maildir)
        return dict(report.outcomes)

    def folder(self, name: str) -> list[Any]:
        return sorted((self.maildir / name / "cur").iterdir())

    def waiting(self) -> list[Any]:
        return [*(self.maildir / "new").iterdir(), *(self.maildir / "cur").iterdir()]

    def person(self, email: str) -> tuple[str, dict[str, str], str | None]:
        with self.services.sessions() as session:
            found = session.scalars(select(Subscriber).where(Subscriber.email == email)).one()
            subs = session.scalars(
                select(Subscription).where(Subscription.subscriber_id == found.id)
            )
            suppression = session.get(Suppression, address_hash(email))
            return (
                found.status,
                {s.newsletter_id: s.status for s in subs},
                suppression.reason if suppression else None,
            )

    def untouched(self, *emails: str) -> bool:
        return all(
            self.person(e) == ("active", {"weekly": "active"}, None)
            for e in emails or tuple(self.deliveries)
        )

    def events(self) -> list[tuple[str, str, str]]:
        with self.services.sessions() as session:
            return [
                tuple(row)
                for row in session.execute(
                    select(
                        ProviderEventRecord.provider,
                        ProviderEventRecord.kind,
                        ProviderEventRecord.email,
                    )
                ).all()
            ]


READERS = [f"reader{n}@example.net" for n in range(1, 7)]
