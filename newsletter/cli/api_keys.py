"""Commands: api-keys create|list|revoke (owners of the server; keys are shown once)."""

from __future__ import annotations

import typer

from newsletter.api.scopes import SCOPES
from newsletter.cli.base import app, console, print_json, print_secret_once, services

api_keys_app = typer.Typer(help="API keys for /api/v1: create, list, revoke.")
app.add_typer(api_keys_app, name="api-keys", no_args_is_help=True)


@api_keys_app.command("create")
def create(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="A name for the key (shown in the audit log)."),
    scopes: list[str] = typer.Option(
        ..., "--scopes", "-s", help=f"Comma-separated scopes: {','.join(SCOPES)}."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Create a key; it is printed once and only its hash is kept."""
    from newsletter import db
    from newsletter.api import keys
    from newsletter.scheduler.service import default_actor

    svc = services(ctx)
    with db.transaction(svc.sessions) as session:
        new = keys.create_key(session, name, scopes=scopes, created_by=default_actor())
    if as_json:
        print_json({"name": new.name, "key": new.secret, "scopes": list(new.scopes)})
        return
    print_secret_once(f"API key {new.name!r} ({', '.join(new.scopes)}):", new.secret)


@api_keys_app.command("list")
def list_(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print the keys as JSON."),
) -> None:
    """List the keys (never their secrets)."""
    from rich.table import Table

    from newsletter.api import keys

    svc = services(ctx)
    with svc.sessions() as session:
        rows = [keys.key_dict(k) for k in keys.list_keys(session)]
    if as_json:
        print_json(rows)
        return
    table = Table("name", "prefix", "scopes", "created", "last used", "revoked")
    for row in rows:
        table.add_row(
            str(row["name"]),
            f"{row['prefix']}…",
            ",".join(map(str, row["scopes"])),  # type: ignore[call-overload]
            str(row["created_at"])[:19],
            str(row["last_used_at"] or "")[:19],
            str(row["revoked_at"] or "")[:19],
        )
    console.print(table)


@api_keys_app.command("revoke")
def revoke(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The key's name."),
) -> None:
    """Revoke a key: requests with it fail at once."""
    from newsletter import db
    from newsletter.api import keys

    svc = services(ctx)
    with db.transaction(svc.sessions) as session:
        keys.revoke_key(session, name)
    console.print(f"API key {name!r} revoked", highlight=False)
