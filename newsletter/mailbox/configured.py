"""One pass over the configured bounce mailbox (``delivery.mailbox``): its Maildir or IMAP folder.

Above both readers (``service`` for a Maildir, ``imap`` for an IMAP folder), so neither
imports the other: ``imap`` uses ``service``'s judging, and this module picks the reader.
"""

from __future__ import annotations

from newsletter.errors import ConfigError
from newsletter.mailbox.imap import process_imap
from newsletter.mailbox.imap_url import parse_imap_url
from newsletter.mailbox.service import MailboxReport, process_maildir
from newsletter.services import Services


def process_configured(services: Services) -> MailboxReport:
    """One pass over ``delivery.mailbox`` (its Maildir or IMAP folder); ``ConfigError``
    without one. An IMAP server that cannot be reached raises ``MailboxError``."""
    settings = services.settings
    mailbox = settings.delivery.mailbox
    if mailbox.imap:
        return process_imap(services, url=parse_imap_url(mailbox.imap))
    if mailbox.maildir is not None:
        return process_maildir(services, path=settings.path(mailbox.maildir))
    raise ConfigError("no mailbox: set delivery.mailbox.maildir or delivery.mailbox.imap")
