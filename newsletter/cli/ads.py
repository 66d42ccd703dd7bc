"""Commands: ads notices (the advertising consent notices, docs/advertising.md)."""

from __future__ import annotations

import typer

from newsletter.cli.base import app, console, print_json, services

ads_app = typer.Typer(help="Advertising (광고성 정보): consent notices.")
app.add_typer(ads_app, name="ads", no_args_is_help=True)


@ads_app.command("notices")
def notices(
    ctx: typer.Context,
    dry_run: bool = typer.Option(False, "--dry-run", help="List what is due; send nothing."),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """Send the due notices: two-year consent reminders and consent results (serve does
    this every few minutes)."""
    from newsletter.advertising.notices import due_notices, send_due_notices

    svc = services(ctx)
    if dry_run:
        due = due_notices(svc)
        rows = [
            {
                "kind": d.kind,
                "subscriber_id": d.subscriber_id,
                "email": d.email,
                "newsletter": d.newsletter_id,
                "period": d.period,
                "since": d.at.isoformat(timespec="seconds"),
            }
            for d in due
        ]
        if as_json:
            print_json(rows)
            return
        for row in rows:
            console.print(
                f"{row['kind']:<8} {row['newsletter']:<12} {row['email']} "
                f"(period {row['period']}, since {row['since']})",
                highlight=False,
            )
        console.print(f"{len(rows)} notice(s) due", highlight=False)
        return
    run = send_due_notices(svc)
    counts = {"sent": len(run.sent), "skipped": len(run.skipped), "failed": len(run.failed)}
    if as_json:
        print_json(counts)
        return
    console.print(", ".join(f"{k} {v}" for k, v in counts.items()), highlight=False)
