"""Commands: sequences list | show NEWSLETTER (welcome sequences, docs/automations.md)."""

from __future__ import annotations

from typing import Any

import typer

from newsletter.cli.base import app, console, print_json, services

sequences_app = typer.Typer(help="Welcome sequences: sequences/NEWSLETTER/NN-slug.md steps.")
app.add_typer(sequences_app, name="sequences", no_args_is_help=True)


@sequences_app.command("list")
def list_sequences(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print the steps as JSON."),
) -> None:
    """Every newsletter's steps (recording new files as first seen now); exits 1 when a
    step file is refused."""
    from newsletter.automations.sequences.report import all_sequences
    from newsletter.automations.sequences.service import sync_steps
    from newsletter.errors import IssueError

    svc = services(ctx)
    sync = sync_steps(svc)
    figures = all_sequences(svc)
    if as_json:
        print_json({"sequences": [_summary(f.as_dict()) for f in figures], **sync.as_dict()})
    else:
        for sequence in figures:
            console.print(f"[bold]{sequence.newsletter_id}[/] ({sequence.name})", highlight=False)
            for step in sequence.steps:
                console.print(_step_line(step.as_row()), highlight=False, soft_wrap=True)
        if not figures:
            console.print("no sequence steps", highlight=False)
        for warning in sync.warnings:
            console.print(f"[yellow]warning[/] {warning}", highlight=False, soft_wrap=True)
    if sync.errors:
        if not as_json:
            for error in sync.errors:
                console.print(f"[red]error[/] {error}", highlight=False, soft_wrap=True)
        raise IssueError(f"{len(sync.errors)} step file(s) refused")


@sequences_app.command("show")
def show(
    ctx: typer.Context,
    newsletter: str = typer.Argument(..., help="The newsletter whose sequence to show."),
    as_json: bool = typer.Option(False, "--json", help="Print the figures as JSON."),
) -> None:
    """Readers at each step and each step's figures (sent, bounces, unsubscribes, clicks)."""
    from newsletter.automations.sequences.report import sequence_report
    from newsletter.automations.sequences.service import sync_steps

    svc = services(ctx)
    svc.settings.newsletter(newsletter)  # a one-line error for an unknown newsletter
    sync_steps(svc)
    figures = sequence_report(svc, newsletter)
    if as_json:
        print_json(figures.as_dict())
        return
    console.print(
        f"[bold]{figures.newsletter_id}[/] ({figures.name}): "
        f"{figures.not_started} reader(s) not started",
        highlight=False,
    )
    for step in figures.steps:
        row = step.as_row()
        clicks = "" if step.clickers is None else f", clicked {step.clickers}"
        console.print(
            f"{_step_line(row)}\n    at this step {step.at_step}; sent {step.sent}, "
            f"unknown {step.counts.get('unknown', 0)}, failed {step.counts.get('failed', 0)}, "
            f"skipped {step.counts.get('skipped', 0)}, bounces {step.bounces}, "
            f"left after it {step.unsubscribes}{clicks}",
            highlight=False,
            soft_wrap=True,
        )
    for error in figures.errors:
        console.print(f"[red]error[/] {error}", highlight=False, soft_wrap=True)


def _step_line(row: dict[str, Any]) -> str:
    flags = "".join(
        [" [backfill]" if row["backfill"] else "", " [removed]" if row["removed"] else ""]
    )
    return (
        f"  {row['position']:>3}  after {row['after']:<5} {row['name']}: {row['subject']}"
        f"{flags} (first seen {row['first_seen_at'][:16]})"
    )


def _summary(sequence: dict[str, Any]) -> dict[str, Any]:
    keep = ("position", "name", "subject", "after", "backfill", "removed", "first_seen_at")
    steps = [{key: step[key] for key in keep} for step in sequence["steps"]]
    return {"newsletter_id": sequence["newsletter_id"], "name": sequence["name"], "steps": steps}
