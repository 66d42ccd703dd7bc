"""Commands: ``schedule SLUG [--at ISO-8601]``, ``cancel SLUG``.

Both write the database only; a running ``newsletter serve`` picks the change up within
a second (its scheduler polls the database, the source of truth).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from newsletter.cli.base import app, console, print_json, services

if TYPE_CHECKING:
    from newsletter.scheduler.service import ScheduleResult


@app.command()
def schedule(
    ctx: typer.Context,
    slug: str = typer.Argument(..., help="The issue's slug."),
    at: str | None = typer.Option(
        None,
        "--at",
        help="ISO-8601 instant overriding the file's date, e.g. 2026-03-02T09:00 "
        "(site timezone) or 2026-03-02T09:00+09:00. Without it: back to the file's date.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Schedule an issue (again): at its file's date, or at --at (recorded as an override)."""
    from newsletter.scheduler.instants import parse_instant
    from newsletter.scheduler.service import default_actor, schedule_issue

    svc = services(ctx)
    instant = parse_instant(at, svc.settings.site.tz) if at else None
    result = schedule_issue(svc, slug, at=instant, by=default_actor())
    _show(result, as_json, verb="scheduled")


@app.command()
def cancel(
    ctx: typer.Context,
    slug: str = typer.Argument(..., help="The issue's slug."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Cancel a scheduled (or missed) issue that has not started sending."""
    from newsletter.scheduler.service import cancel_issue, default_actor

    result = cancel_issue(services(ctx), slug, by=default_actor())
    _show(result, as_json, verb="cancelled")


def _show(result: ScheduleResult, as_json: bool, *, verb: str) -> None:
    if as_json:
        print_json(result.as_dict())
        return
    if result.note:
        console.print(f"note: {result.note}", highlight=False)
    source = " (override)" if result.overridden else ""
    console.print(f"{result.slug}: {verb}, send at {result.local}{source}", highlight=False)
