"""Commands: users add|list|remove|set-role|reset|require-totp (the dashboard's accounts).

No password is ever typed on the command line: ``add`` and ``reset`` print a one-time
set-password link (24 h) for the person to open.
"""

from __future__ import annotations

import typer

from newsletter.cli.base import app, console, print_json, services

users_app = typer.Typer(help="Dashboard accounts: add, list, remove, set-role, reset.")
app.add_typer(users_app, name="users", no_args_is_help=True)


@users_app.command("add")
def add(
    ctx: typer.Context,
    email: str = typer.Argument(..., help="The person's email address (their login)."),
    role: str = typer.Option(..., "--role", "-r", help="owner, editor or viewer."),
) -> None:
    """Add an account and print its one-time set-password link."""
    from newsletter.accounts import service
    from newsletter.scheduler.service import default_actor

    svc = services(ctx)
    account, link = service.add_user(svc, email, service.parse_role(role), actor=default_actor())
    console.print(f"Added {account.email} ({account.role}).", highlight=False)
    console.print("Send them this link to set their password (once, within 24 hours):")
    console.print(link, highlight=False, soft_wrap=True)


@users_app.command("list")
def list_(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print the accounts as JSON."),
) -> None:
    """List the accounts with their roles."""
    from rich.table import Table

    from newsletter.accounts import service

    rows = [
        {
            "email": a.email,
            "role": str(a.role),
            "password": a.has_password,
            "totp": a.has_totp,
            "created_at": a.created_at.isoformat(),
        }
        for a in service.list_users(services(ctx))
    ]
    if as_json:
        print_json(rows)
        return
    table = Table("email", "role", "password set", "TOTP", "created")
    for row in rows:
        table.add_row(
            str(row["email"]),
            str(row["role"]),
            "yes" if row["password"] else "no",
            "yes" if row["totp"] else "no",
            str(row["created_at"])[:16],
        )
    console.print(table)


@users_app.command("remove")
def remove(ctx: typer.Context, email: str = typer.Argument(..., help="The account.")) -> None:
    """Remove an account; its open sessions are refused at their next request."""
    from newsletter.accounts import service
    from newsletter.scheduler.service import default_actor

    service.remove_user(services(ctx), email, actor=default_actor())
    console.print(f"Removed {email}; its sessions have ended.", highlight=False)


@users_app.command("set-role")
def set_role(
    ctx: typer.Context,
    email: str = typer.Argument(..., help="The account."),
    role: str = typer.Argument(..., help="owner, editor or viewer."),
) -> None:
    """Change an account's role; its sessions end (it logs in again)."""
    from newsletter.accounts import service
    from newsletter.scheduler.service import default_actor

    account = service.set_role(
        services(ctx), email, service.parse_role(role), actor=default_actor()
    )
    console.print(f"{account.email} is now {account.role}.", highlight=False)


@users_app.command("reset")
def reset(ctx: typer.Context, email: str = typer.Argument(..., help="The account.")) -> None:
    """Clear the password and second factor, end every session, print a new link."""
    from newsletter.accounts import service
    from newsletter.scheduler.service import default_actor

    link = service.reset_user(services(ctx), email, actor=default_actor())
    console.print(f"{email}: password and second factor cleared, sessions ended.")
    console.print("Send them this link to set a new password (once, within 24 hours):")
    console.print(link, highlight=False, soft_wrap=True)


@users_app.command("require-totp")
def require_totp(
    ctx: typer.Context,
    required: bool = typer.Argument(..., help="true: every account needs a second factor."),
) -> None:
    """Require (or stop requiring) a second factor of every account."""
    from newsletter.accounts import service
    from newsletter.scheduler.service import default_actor

    service.set_totp_required(services(ctx), required, actor=default_actor())
    console.print("A second factor is now " + ("required." if required else "optional."))
