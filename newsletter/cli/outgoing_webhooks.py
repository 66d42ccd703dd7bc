"""Commands: webhooks add|list|remove|enable|deliveries (outgoing webhooks, owners)."""

from __future__ import annotations

import typer
from rich.table import Table

from newsletter.cli.base import app, console, print_json, print_secret_once, services
from newsletter.outgoing_webhooks.kinds import EVENT_TYPES

webhooks_app = typer.Typer(help="Outgoing webhooks: add, list, remove, enable, deliveries.")
app.add_typer(webhooks_app, name="webhooks", no_args_is_help=True)


@webhooks_app.command("add")
def add(
    ctx: typer.Context,
    url: str = typer.Argument(..., help="Where to POST the events (http:// or https://)."),
    events: list[str] = typer.Option(
        ..., "--events", "-e", help=f"Comma-separated events: {','.join(EVENT_TYPES)}."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Add an endpoint; its signing secret (whsec_…) is printed once."""
    from newsletter import db
    from newsletter.outgoing_webhooks.service import add_endpoint
    from newsletter.scheduler.service import default_actor

    svc = services(ctx)
    with db.transaction(svc.sessions) as session:
        new = add_endpoint(session, url, events=events, created_by=default_actor())
    if as_json:
        print_json({"id": new.id, "url": new.url, "secret": new.secret, "events": new.event_types})
        return
    print_secret_once(
        f"webhook {new.id}: {new.url} ({', '.join(new.event_types)})",
        f"signing secret: {new.secret}",
    )


@webhooks_app.command("list")
def list_(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print the endpoints as JSON."),
) -> None:
    """List the endpoints (never their secrets)."""
    from newsletter.outgoing_webhooks import store
    from newsletter.outgoing_webhooks.service import endpoint_dict

    svc = services(ctx)
    with svc.sessions() as session:
        rows = [endpoint_dict(e) for e in store.all_endpoints(session)]
    if as_json:
        print_json(rows)
        return
    table = Table("id", "url", "events", "state")
    for row in rows:
        state = "enabled" if row["enabled"] else f"DISABLED: {row['disabled_reason']}"
        table.add_row(str(row["id"]), row["url"], ",".join(row["events"]), state)
    console.print(table)


@webhooks_app.command("remove")
def remove(ctx: typer.Context, endpoint_id: int = typer.Argument(..., help="The id.")) -> None:
    """Remove an endpoint and its delivery log."""
    from newsletter import db
    from newsletter.outgoing_webhooks.service import remove_endpoint

    with db.transaction(services(ctx).sessions) as session:
        remove_endpoint(session, endpoint_id)
    console.print(f"webhook {endpoint_id} removed", highlight=False)


@webhooks_app.command("enable")
def enable(ctx: typer.Context, endpoint_id: int = typer.Argument(..., help="The id.")) -> None:
    """Re-enable an endpoint disabled after repeated failure; waiting events go out."""
    from newsletter import db
    from newsletter.outgoing_webhooks.service import enable_endpoint

    with db.transaction(services(ctx).sessions) as session:
        enable_endpoint(session, endpoint_id)
    console.print(f"webhook {endpoint_id} enabled", highlight=False)


@webhooks_app.command("deliveries")
def deliveries(
    ctx: typer.Context,
    endpoint_id: int = typer.Argument(..., help="The id."),
    limit: int = typer.Option(50, "--limit", min=1, max=1000, help="How many, newest first."),
    as_json: bool = typer.Option(False, "--json", help="Print the log as JSON."),
) -> None:
    """The endpoint's delivery log: each message, its state and attempts."""
    from newsletter.outgoing_webhooks.service import delivery_log

    with services(ctx).sessions() as session:
        rows = delivery_log(session, endpoint_id, limit=limit)
    if as_json:
        print_json(rows)
        return
    table = Table("message", "type", "status", "attempts", "last")
    for row in rows:
        last = str(row["last_status_code"] or row["last_error"][:60])
        table.add_row(row["message_id"], row["type"], row["status"], str(row["attempts"]), last)
    console.print(table)
