"""Commands: ``send SLUG --now|--dry-run|--test EMAIL...``, ``sends list|show|resume|cancel``,
``stats [SLUG]`` and ``worker``."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import typer

from newsletter.cli.base import app, console, print_json, services
from newsletter.errors import DeliveryError

if TYPE_CHECKING:
    from newsletter.abtest.service import AbReport
    from newsletter.delivery import SendResult
    from newsletter.delivery.engine import Progress as ProgressCallback
    from newsletter.delivery.reports import SendPlan, SendReport
    from newsletter.tracking.report import Engagement

sends_app = typer.Typer(help="Sends: list, show, resume, cancel.", no_args_is_help=True)
app.add_typer(sends_app, name="sends")
JSON = typer.Option(False, "--json", help="Print the result as JSON.")
PROCESSES = typer.Option(
    1, "--processes", min=1, max=16, help="Processes sending it (one is capped by one core)."
)


@app.command()
def send(
    ctx: typer.Context,
    slug: str = typer.Argument(..., help="The issue's slug."),
    now: bool = typer.Option(False, "--now", help="Send to every subscriber now."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would be sent; send nothing."),
    test: list[str] = typer.Option([], "--test", help="Send a test copy to this address only."),
    processes: int = PROCESSES,
    force: bool = typer.Option(
        False, "--force", help="With --now: send even inside the newsletter's quiet hours."
    ),
    as_json: bool = JSON,
) -> None:
    """Send an issue now, try it (--dry-run), or send test copies (--test EMAIL...)."""
    from newsletter.delivery import RunOptions, start_send
    from newsletter.delivery.reports import plan_send, send_test

    svc = services(ctx)
    if sum((now, dry_run, bool(test))) != 1:
        raise DeliveryError("choose one of --now, --dry-run or --test EMAIL")
    if dry_run:
        plan = plan_send(svc, slug)
        _out(as_json, dataclasses.asdict(plan), _plan_lines(plan))
    elif test:
        send_test(svc, slug, to=test)
        _out(as_json, {"slug": slug, "test_to": test}, [f"{slug}: test sent to {', '.join(test)}"])
    else:
        if not force:
            from newsletter.timing.guard import refuse_send_in_quiet_hours

            refuse_send_in_quiet_hours(svc, slug)
        with _progress_bar(enabled=not as_json) as progress:
            options = RunOptions(progress=progress, helper_processes=processes - 1)
            result = start_send(svc, slug, options=options)
        _out(as_json, _result_dict(result), _result_lines(result))


@sends_app.command("list")
def sends_list(ctx: typer.Context, as_json: bool = JSON) -> None:
    """The most recent sends, with their deliveries by status."""
    from rich.table import Table

    from newsletter.delivery.reports import list_reports

    reports = list_reports(services(ctx))
    if as_json:
        print_json([dataclasses.asdict(r) for r in reports])
        return
    table = Table("id", "issue", "status", "total", "accepted", "failed", "unknown", "started")
    for r in reports:
        table.add_row(
            str(r.send_id),
            r.slug,
            r.status,
            str(r.total),
            str(r.counts["accepted"]),
            str(r.counts["failed"]),
            str(r.counts["unknown"]),
            r.started_at or "-",
        )
    console.print(table)


@sends_app.command("show")
def sends_show(
    ctx: typer.Context,
    send_id: int = typer.Argument(..., help="The send's id."),
    as_json: bool = JSON,
) -> None:
    """One send: deliveries per status, rate, errors."""
    from newsletter.delivery.reports import send_report

    report = send_report(services(ctx), send_id)
    _out(as_json, dataclasses.asdict(report), _report_lines(report))


@sends_app.command("resume")
def sends_resume(
    ctx: typer.Context,
    send_id: int = typer.Argument(..., help="The send's id."),
    retry_unknown: bool = typer.Option(
        False, "--retry-unknown", help="Also resend deliveries whose outcome is unknown."
    ),
    force: bool = typer.Option(
        False, "--force", help="Take over a send whose runner looks alive (it died)."
    ),
    processes: int = PROCESSES,
    as_json: bool = JSON,
) -> None:
    """Continue a paused, failed or interrupted send from its ledger."""
    from newsletter.delivery import RunOptions, resume_send

    svc = services(ctx)
    with _progress_bar(enabled=not as_json) as progress:
        result = resume_send(
            svc,
            send_id,
            retry_unknown=retry_unknown,
            force=force,
            options=RunOptions(progress=progress, helper_processes=processes - 1),
        )
    _out(as_json, _result_dict(result), _result_lines(result))


@sends_app.command("cancel")
def sends_cancel(
    ctx: typer.Context,
    send_id: int = typer.Argument(..., help="The send's id."),
    as_json: bool = JSON,
) -> None:
    """Stop a send; its runner stops before the next batch."""
    from newsletter.delivery import cancel_send

    result = cancel_send(services(ctx), send_id)
    _out(as_json, _result_dict(result), _result_lines(result))


@app.command()
def stats(
    ctx: typer.Context,
    slug: str | None = typer.Argument(None, help="An issue's slug (default: every send)."),
    as_json: bool = JSON,
    as_csv: bool = typer.Option(False, "--csv", help="With SLUG: the engagement report as CSV."),
) -> None:
    """Delivery statistics per send; for one issue also who clicked (people, not scanners)."""
    from newsletter.delivery.reports import list_reports, report_for_issue

    svc = services(ctx)
    if slug is None:
        reports = list_reports(svc)
        if as_json:
            print_json([dataclasses.asdict(r) for r in reports])
            return
        for report in reports:
            _print_lines(_report_lines(report))
        return
    found = report_for_issue(svc, slug)
    if found is None:
        raise DeliveryError(f"issue {slug!r} has not been sent")
    from newsletter.tracking.report import engagement_csv, engagement_for_issue

    engagement = engagement_for_issue(svc, slug)
    if as_csv:
        typer.echo(engagement_csv(engagement), nl=False)
    elif as_json:
        print_json([{**dataclasses.asdict(found), "engagement": engagement.as_dict()}])
    else:
        _print_lines(_report_lines(found) + engagement_lines(engagement))


def _print_lines(lines: list[str]) -> None:
    for line in lines:
        console.print(line, highlight=False)
    console.print("")


def engagement_lines(e: Engagement) -> list[str]:
    """The engagement report as the terminal shows it."""
    if e.tracking == "off" and not e.clickers and not e.machine_hits:
        head = ["  tracking: off (clicks are not measured; see docs/tracking.md)"]
    else:
        head = [
            f"  tracking: {e.tracking}; people who clicked: {e.clickers} of {e.delivered}"
            f" delivered ({e.click_rate:.1%}); opened: {e.openers}",
            f"  machine hits (not counted): {e.machine_hits}"
            + "".join(f"; {reason} {n}" for reason, n in e.machine_reasons.items()),
        ]
    lines = [
        *head,
        f"  bounces {e.bounces}, complaints {e.complaints}, unsubscribes {e.unsubscribes}",
    ]
    lines += [
        f"  {p.name}: {p.clickers} of {p.delivered} ({p.click_rate:.1%})"
        for p in e.providers
        if p.delivered or p.clickers
    ]
    lines += [
        f"  {link.clickers} clicked {link.url} ({link.machine_hits} by machines)"
        for link in e.links
    ]
    return lines


@app.command()
def worker(ctx: typer.Context) -> None:
    """An extra delivery worker (PostgreSQL only): claims queued sends and runs them."""
    from newsletter.delivery.worker import require_postgres, work
    from newsletter.outgoing_webhooks.runner import WebhookRunner

    svc = services(ctx)
    require_postgres(svc)
    console.print("worker: waiting for sends (Ctrl-C to stop)")
    webhooks = WebhookRunner(svc).start()  # outgoing webhooks are delivered here too
    try:
        work(svc, on_result=lambda r: console.print("\n".join(_result_lines(r)), highlight=False))
    finally:
        webhooks.stop()


@contextmanager
def _progress_bar(*, enabled: bool) -> Iterator[ProgressCallback | None]:
    if not enabled:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    columns = ("{task.description}", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console.get(), transient=False) as bar:
        task = bar.add_task("sending", total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def _out(as_json: bool, data: object, lines: list[str]) -> None:
    if as_json:
        print_json(data)
        return
    for line in lines:
        console.print(line, highlight=False)


def _result_dict(result: SendResult) -> dict[str, object]:
    return {**dataclasses.asdict(result), "unknown": result.unknown}


def _result_lines(result: SendResult) -> list[str]:
    counts = ", ".join(f"{k} {v}" for k, v in result.counts.items() if v)
    verb = "" if result.ran else " (already started elsewhere; nothing sent now)"
    lines = [f"send {result.send_id} ({result.slug}): {result.status}{verb}; {counts or 'empty'}"]
    if result.error:
        lines.append(f"error: {result.error}")
    if result.unknown:
        lines.append(
            f"{result.unknown} deliveries have an unknown outcome (a process died mid-request); "
            f"`newsletter sends resume {result.send_id} --retry-unknown` resends them"
        )
    return lines


def _report_lines(r: SendReport) -> list[str]:
    counts = ", ".join(f"{k} {v}" for k, v in r.counts.items())
    lines = [
        f"send {r.send_id}: {r.slug} ({r.newsletter_id}) via {r.backend}: {r.status}",
        f"  subject: {r.subject}",
        f"  total {r.total}: {counts}",
        f"  rate: {r.rate_per_second}/s; started {r.started_at or '-'}, "
        f"finished {r.finished_at or '-'}",
    ]
    if r.error:
        lines.append(f"  error: {r.error}")
    lines += [f"  {n} × {reason}" for reason, n in r.errors]
    if r.waves:
        waiting = f"; next at {r.next_due_at}" if r.next_due_at and r.status == "waiting" else ""
        lines.append(f"  waves: {len(r.waves)}{waiting}")
    for wave in r.waves:
        shown = ", ".join(f"{k} {v}" for k, v in wave["counts"].items())
        due = wave["due_at"] or "at once"
        lines.append(f"    {due}: {wave['state']}, {wave['total']} ({shown})")
    if r.ab_test is not None:
        lines += ab_lines(r.ab_test)
    return lines


def ab_lines(ab: AbReport) -> list[str]:
    """An A/B send's test as the terminal shows it: each subject's sample, the verdict."""
    lines = [
        f"  A/B test: {len(ab.subjects)} subjects, sample {ab.sample} ({ab.sample_size} readers),"
        f" wait {ab.wait}"
    ]
    for v in ab.variants:
        mark = " ← winner" if v.variant == ab.winner else ""
        lines.append(
            f"    {v.letter}: {v.subject!r}: {v.recipients} readers, {v.clickers} people"
            f" clicked ({v.click_rate:.1%}), {v.openers} opened{mark}"
        )
    if ab.winner is None or ab.rest is None:
        lines.append(f"    winner: decided at {ab.decide_at or '-'} (people's clicks, then opens)")
    else:
        lines.append(
            f"    winner: {ab.rest.letter} ({ab.reason_text}); the rest, {ab.rest.recipients}"
            f" readers, got {ab.winner_subject!r}: {ab.rest.clickers} people clicked"
        )
    return lines


def _plan_lines(plan: SendPlan) -> list[str]:
    lines = [
        f"{plan.slug} ({plan.newsletter_id}): would send to {plan.audience} subscribers "
        f"via {plan.backend}",
        f"  subject: {plan.subject}",
    ]
    if plan.subjects:
        lines[-1:] = [
            f"  A/B test: {plan.sample_size} readers share the subjects, the rest gets the winner",
            *(f"    {chr(ord('A') + n)}: {s}" for n, s in enumerate(plan.subjects)),
        ]
    if plan.existing_send is not None:
        lines.append(
            f"  note: already has send {plan.existing_send} ({plan.existing_status}); "
            "--now would not send it again"
        )
    return lines
