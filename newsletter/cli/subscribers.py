"""Commands: subscribers add|remove|list|import|export|data."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from newsletter.cli.base import app, console, err_console, print_json, services
from subscribers.errors import SubscriberNotFound

if TYPE_CHECKING:
    from subscribers.bulk import ImportSummary

subscribers_app = typer.Typer(help="Subscribers: add, remove, list, import, export.")
app.add_typer(subscribers_app, name="subscribers", no_args_is_help=True)

#: The statuses ``--status`` takes: every ``SubscriptionStatus`` and the ``SubscriberStatus``
#: values but active and erased. Spelled out so that ``--help`` needs no SQLAlchemy;
#: tests/test_cli_startup.py checks them against the enums.
STATUSES = ["pending", "active", "unsubscribed", "bounced", "complained"]
_NEWSLETTER_HELP = "Newsletter id (default: the newsletter marked default)."


def _newsletter_id(ctx: typer.Context, given: str | None) -> str:
    conf = services(ctx).settings
    return conf.newsletter(given).id if given else conf.default_newsletter.id


def _check_statuses(statuses: list[str]) -> list[str]:
    unknown = [s for s in statuses if s not in STATUSES]
    if unknown:
        raise typer.BadParameter(f"unknown status {unknown[0]!r} (one of {', '.join(STATUSES)})")
    return statuses


@subscribers_app.command("add")
def add(
    ctx: typer.Context,
    email: str = typer.Argument(..., help="The address to add."),
    name: str = typer.Option("", "--name", help="The person's name."),
    newsletter: list[str] = typer.Option([], "--newsletter", "-n", help=_NEWSLETTER_HELP),
    confirmed: bool = typer.Option(
        False, "--confirmed", help="Single opt-in: the person already agreed elsewhere."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Add one person (pending until they confirm, unless --confirmed)."""
    from newsletter import db
    from subscribers.service import Source, subscribe
    from subscribers.tokens import TokenPurpose

    svc = services(ctx)
    ids = [_newsletter_id(ctx, n) for n in newsletter] or [_newsletter_id(ctx, None)]
    with db.transaction(svc.sessions) as session:
        result = subscribe(
            session,
            email=email,
            newsletters=ids,
            name=name,
            source=Source.ADMIN,
            confirmed=confirmed,
            actor="cli",
        )
    data: dict[str, Any] = {
        "subscriber_id": result.subscriber_id,
        "active": list(result.active),
        "pending": list(result.pending),
        "unchanged": list(result.unchanged),
    }
    if result.needs_confirmation:
        token = svc.tokens.dumps(TokenPurpose.CONFIRM, result.subscriber_id)
        data["confirm_url"] = f"{svc.settings.site.url}/confirm/{token}"
    if as_json:
        print_json(data)
        return
    console.print(f"subscriber {result.subscriber_id}: {email}")
    for key in ("active", "pending", "unchanged"):
        if data[key]:
            console.print(f"  {key}: {', '.join(data[key])}")
    if "confirm_url" in data:
        console.print(f"  pending until confirmed; confirmation link: {data['confirm_url']}")


@subscribers_app.command("remove")
def remove_command(
    ctx: typer.Context,
    email: str = typer.Argument(..., help="The address to remove."),
    erase: bool = typer.Option(
        False, "--erase", help="Erase the person's data (irreversible); the address stays blocked."
    ),
) -> None:
    """Unsubscribe a person from every newsletter, or erase them with --erase."""
    from newsletter import db
    from newsletter.tracking.privacy import erase_clicks
    from subscribers.privacy import remove

    svc = services(ctx)
    with db.transaction(svc.sessions) as session:
        subscriber_id = remove(session, email=email, erase_data=erase, actor="cli")
        if erase:
            erase_clicks(session, subscriber_id)
    verb = "erased" if erase else "unsubscribed from every newsletter"
    console.print(f"subscriber {subscriber_id}: {verb}")


@subscribers_app.command("list")
def list_command(
    ctx: typer.Context,
    newsletter: str | None = typer.Option(None, "--newsletter", "-n", help="Only this one."),
    status: list[str] = typer.Option([], "--status", help=f"Only these: {', '.join(STATUSES)}."),
    limit: int = typer.Option(50, "--limit", min=1, help="At most this many rows."),
    after: int = typer.Option(0, "--after", min=0, help="Start after this subscriber id."),
    as_json: bool = typer.Option(False, "--json", help="Print the rows as JSON."),
) -> None:
    """List subscriptions (one row per person and newsletter), by subscriber id."""
    from rich.table import Table

    from subscribers.queries import list_subscriptions

    svc = services(ctx)
    newsletter_id = svc.settings.newsletter(newsletter).id if newsletter else None
    with svc.sessions() as session:
        rows = list_subscriptions(
            session,
            newsletter_id=newsletter_id,
            statuses=_check_statuses(status),
            after=(after, ""),
            limit=limit,
        )
    if as_json:
        print_json([row._asdict() for row in rows])
        return
    table = Table("id", "email", "name", "newsletter", "status", "since")
    for row in rows:
        since = row.created_at.astimezone(svc.settings.site.tz).strftime("%Y-%m-%d %H:%M")
        table.add_row(str(row.id), row.email, row.name, row.newsletter_id, row.status, since)
    console.print(table)


@subscribers_app.command("import")
def import_command(
    ctx: typer.Context,
    csv_file: Path = typer.Argument(..., exists=True, dir_okay=False, help="The CSV file."),
    newsletter: str | None = typer.Option(None, "--newsletter", "-n", help=_NEWSLETTER_HELP),
    confirmed: bool = typer.Option(
        False, "--confirmed", help="Single opt-in: these people already agreed elsewhere."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Check and count; write nothing."),
    partial: bool = typer.Option(
        False, "--partial", help="Import the valid rows even if some are invalid."
    ),
    rejects: Path | None = typer.Option(
        None, "--rejects", help="Where invalid rows go (default: FILE.rejects.csv)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Import people from a CSV file (UTF-8, UTF-8 with BOM or CP949; Korean headers too)."""
    from newsletter import db
    from subscribers.bulk import import_csv

    svc = services(ctx)
    newsletter_id = _newsletter_id(ctx, newsletter)
    with _progress(quiet=as_json) as report, db.transaction(svc.sessions) as session:
        summary = import_csv(
            session,
            csv_file,
            newsletter_id=newsletter_id,
            confirmed=confirmed,
            partial=partial,
            dry_run=dry_run,
            rejects_path=rejects,
            progress=report,
            actor="cli",
        )
    if as_json:
        print_json(summary.as_dict())
    else:
        _print_summary(summary)


@contextmanager
def _progress(*, quiet: bool) -> Iterator[Any]:
    if quiet or not err_console.is_terminal:
        yield None
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    columns = ("{task.description}", BarColumn(), DownloadColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err_console.get(), transient=True) as bar:
        task = bar.add_task("reading", total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


def _print_summary(summary: ImportSummary) -> None:
    prefix = "dry run, nothing written: " if summary.dry_run else ""
    console.print(
        f"{prefix}{summary.rows} rows ({summary.encoding}, delimiter {summary.delimiter!r}): "
        f"imported {summary.imported}, updated {summary.updated}, "
        f"unchanged {summary.unchanged}, duplicates {summary.duplicates}, "
        f"invalid {summary.invalid}, suppressed {summary.suppressed}, "
        f"opted out {summary.opted_out}, advertising consents given {summary.ad_given}, "
        f"withdrawn {summary.ad_withdrawn}, kept withdrawn {summary.ad_kept_withdrawn}"
    )
    for reject in summary.rejects[:10]:
        console.print(f"  line {reject.line}: {reject.reason}", highlight=False)
    if summary.rejects_file:
        console.print(f"invalid rows written to {summary.rejects_file}")


@subscribers_app.command("export")
def export_command(
    ctx: typer.Context,
    out: Path | None = typer.Option(None, "--out", "-o", help="CSV file (default: stdout)."),
    newsletter: str | None = typer.Option(None, "--newsletter", "-n", help="Only this one."),
    status: list[str] = typer.Option([], "--status", help=f"Only these: {', '.join(STATUSES)}."),
) -> None:
    """Export subscriptions as CSV (email,name,newsletter,status,…); re-imports as is."""
    from subscribers.bulk import export_csv

    svc = services(ctx)
    newsletter_id = svc.settings.newsletter(newsletter).id if newsletter else None
    statuses = _check_statuses(status)
    with svc.sessions() as session:
        if out is None:
            count = export_csv(session, sys.stdout, newsletter_id=newsletter_id, statuses=statuses)
        else:
            with out.open("w", encoding="utf-8", newline="") as handle:
                count = export_csv(session, handle, newsletter_id=newsletter_id, statuses=statuses)
    if out is not None:
        console.print(f"{count} rows written to {out}")


@subscribers_app.command("data")
def data_command(
    ctx: typer.Context,
    email: str = typer.Argument(..., help="The person's address."),
) -> None:
    """Print everything kept about one person as JSON (a data-access request)."""
    from newsletter import db
    from newsletter.tracking.privacy import export_clicks
    from subscribers.models import SubscriberStatus
    from subscribers.privacy import export_person
    from subscribers.queries import find_subscriber

    svc = services(ctx)
    with db.transaction(svc.sessions) as session:
        person = find_subscriber(session, email)
        if person is None or person.status == SubscriberStatus.ERASED:
            raise SubscriberNotFound(f"no subscriber with address {email!r}")
        print_json(
            {
                **export_person(session, subscriber_id=person.id),
                "clicks": export_clicks(session, person.id),
            }
        )
