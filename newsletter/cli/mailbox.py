"""Commands: mailbox process (bounces, complaints and mailto unsubscribes from a Maildir)."""

from __future__ import annotations

from pathlib import Path

import typer

from newsletter.cli.base import app, console, print_json, services

mailbox_app = typer.Typer(help="The bounce mailbox: DSNs, ARF complaints, mailto unsubscribes.")
app.add_typer(mailbox_app, name="mailbox", no_args_is_help=True)


@mailbox_app.command("process")
def process(
    ctx: typer.Context,
    maildir: Path | None = typer.Option(
        None, "--maildir", help="The Maildir to read; default delivery.mailbox.maildir."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the counts as JSON."),
) -> None:
    """Read every waiting message, act on it, and move it to .processed (or .attention)."""
    from newsletter.errors import ConfigError
    from newsletter.mailbox.service import process_maildir

    svc = services(ctx)
    configured = svc.settings.delivery.mailbox.maildir
    path = maildir or (svc.settings.path(configured) if configured else None)
    if path is None:
        raise ConfigError("no Maildir: pass --maildir DIR or set delivery.mailbox.maildir")
    if not svc.settings.delivery.bounce_domain:
        raise ConfigError("delivery.bounce_domain is not set: no VERP address can be read")
    if not (path / "new").is_dir() and not (path / "cur").is_dir():
        raise ConfigError(f"--maildir {path}: not a Maildir (no new/ or cur/)")
    report = process_maildir(svc, path=path)
    if as_json:
        print_json(report.as_dict())
        return
    counts = ", ".join(f"{k} {v}" for k, v in sorted(report.outcomes.items())) or "nothing"
    console.print(f"{report.read} message(s) read: {counts}", highlight=False)
