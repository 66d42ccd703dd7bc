"""Command: ``sunset [--newsletter ID] [--dry-run] [--json] [--at ISO-8601]``."""

from __future__ import annotations

from datetime import datetime

import typer

from newsletter.cli.base import app, console, print_json, services


@app.command("sunset")
def sunset(
    ctx: typer.Context,
    newsletter: str | None = typer.Option(
        None, "--newsletter", help="Only this newsletter (default: every one with sunset:)."
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="List who would be asked and removed; change nothing."
    ),
    at: str | None = typer.Option(
        None, "--at", help="Judge as of this instant (ISO-8601 with offset), e.g. a preview."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Ask inactive readers "still want this?" and unsubscribe those whose grace ran out."""
    from newsletter.automations.sunset.service import run_all

    svc = services(ctx)
    reports = run_all(svc, newsletter_id=newsletter, now=_instant(at), dry_run=dry_run)
    if as_json:
        print_json({"newsletters": [r.as_dict() for r in reports]})
        return
    if not reports:
        console.print("no newsletter has sunset: in config.yaml", highlight=False)
    for report in reports:
        _print(report)


def _instant(text: str | None) -> datetime | None:
    from datetime import UTC

    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not an ISO-8601 instant", param_hint="--at"
        ) from None
    if value.tzinfo is None:
        raise typer.BadParameter(f"{text!r} needs an offset, e.g. +09:00", param_hint="--at")
    return value.astimezone(UTC)


def _print(report: object) -> None:
    from newsletter.automations.sunset.service import Report

    assert isinstance(report, Report)
    would = "would be " if report.dry_run else ""
    head = f"{report.newsletter_id}: last {report.after_issues} tracked issues"
    if not report.window:
        console.print(f"{head}: fewer were sent, nobody is judged", highlight=False)
    else:
        console.print(f"{head}: {', '.join(report.window)}", highlight=False)
    for title, entries in (
        (f"{would}asked", report.ask),
        (f"{would}removed as inactive", report.remove),
        ("clicked after the ask (episode ends)", report.clicked),
        ("no longer subscribed (episode ends)", report.left),
        ("waiting for an answer", report.waiting),
        ("ask outcome unknown (never resent)", report.unknown),
    ):
        if not entries:
            continue
        console.print(f"  {len(entries)} {title}:", highlight=False)
        for entry in entries:
            last = entry.last_click.date().isoformat() if entry.last_click else "never"
            extra = f", answer by {entry.deadline:%Y-%m-%d}" if entry.deadline else ""
            outcome = f" [{entry.outcome}]" if entry.outcome else ""
            console.print(
                f"    {entry.email} (last click: {last}{extra}){outcome}", highlight=False
            )
