"""Commands: mailbox process (bounces, complaints and mailto unsubscribes from a Maildir or
an IMAP folder)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from newsletter.cli.base import app, console, print_json, services

if TYPE_CHECKING:
    from newsletter.mailbox.service import MailboxReport
    from newsletter.services import Services

mailbox_app = typer.Typer(help="The bounce mailbox: DSNs, ARF complaints, mailto unsubscribes.")
app.add_typer(mailbox_app, name="mailbox", no_args_is_help=True)


@mailbox_app.command("process")
def process(
    ctx: typer.Context,
    maildir: Path | None = typer.Option(
        None, "--maildir", help="The Maildir to read; default delivery.mailbox.maildir."
    ),
    imap: str | None = typer.Option(
        None,
        "--imap",
        help="The IMAP folder to read: imaps://USER@HOST[:PORT]/FOLDER (imap:// for STARTTLS, "
        "imap://…?tls=none for none), the password from NEWSLETTER_IMAP_PASSWORD; "
        "default delivery.mailbox.imap.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the counts as JSON."),
) -> None:
    """Read every waiting message, act on it, and move it aside (processed or attention)."""
    from newsletter.errors import ConfigError

    svc = services(ctx)
    if maildir is not None and imap is not None:
        raise ConfigError("--maildir and --imap: pass one mailbox, not both")
    if maildir is None and imap is None:
        configured = svc.settings.delivery.mailbox
        imap = configured.imap or None
        maildir = svc.settings.path(configured.maildir) if configured.maildir else None
        if maildir is None and imap is None:
            raise ConfigError(
                "no mailbox: pass --maildir DIR or --imap URL, or set delivery.mailbox"
            )
    if not svc.settings.delivery.bounce_domain:
        raise ConfigError("delivery.bounce_domain is not set: no VERP address can be read")
    report = _read_imap(svc, imap) if imap is not None else _read_maildir(svc, maildir)
    if as_json:
        print_json(report.as_dict())
        return
    counts = ", ".join(f"{k} {v}" for k, v in sorted(report.outcomes.items())) or "nothing"
    console.print(f"{report.read} message(s) read: {counts}", highlight=False)


def _read_maildir(svc: Services, path: Path | None) -> MailboxReport:
    from newsletter.errors import ConfigError
    from newsletter.mailbox.service import process_maildir

    assert path is not None
    if not (path / "new").is_dir() and not (path / "cur").is_dir():
        raise ConfigError(f"--maildir {path}: not a Maildir (no new/ or cur/)")
    return process_maildir(svc, path=path)


def _read_imap(svc: Services, text: str) -> MailboxReport:
    from newsletter.errors import ConfigError
    from newsletter.mailbox.imap import process_imap
    from newsletter.mailbox.imap_url import parse_imap_url

    try:
        url = parse_imap_url(text)
    except ValueError as exc:
        raise ConfigError(f"--imap: {exc}") from None
    return process_imap(svc, url=url)
