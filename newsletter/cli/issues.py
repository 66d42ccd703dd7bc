"""Commands: render, check, import, issues list|show|sync, init, demo."""

from __future__ import annotations

import shutil
from datetime import time
from pathlib import Path
from typing import Any

import typer
from rich.progress import track
from rich.table import Table

from newsletter.catalog import list_issues, sync_issues
from newsletter.check import check_issue
from newsletter.cli.base import app, console, err_console, print_json, services, settings
from newsletter.errors import CheckFailed, IssueError
from newsletter.importers import ImportedIssue, write_issue
from newsletter.importers.brunch import import_brunch
from newsletter.importers.jekyll import import_jekyll, post_files
from newsletter.issues import ParsedIssue, find_issue_or_file, issue_files, parse_issue_file
from newsletter.render import preview_values, render_issue
from newsletter.scheduler.service import schedule_summaries
from newsletter.settings import Settings

PROJECT_ROOT = Path(__file__).resolve().parents[2]

issues_app = typer.Typer(help="The issues in issues/ and their status.", no_args_is_help=True)
import_app = typer.Typer(help="Import issues from other platforms.", no_args_is_help=True)
app.add_typer(issues_app, name="issues")
app.add_typer(import_app, name="import")


@app.command()
def render(
    ctx: typer.Context,
    issue: str = typer.Argument(..., help="Slug or path of the issue file."),
    out: Path = typer.Option(Path("."), "--out", help="Folder for SLUG.html and SLUG.txt."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Render an issue into SLUG.html and SLUG.txt (preview values for the reader's links)."""
    conf = settings(ctx)
    parsed = find_issue_or_file(conf, issue)
    rendered = render_issue(conf, parsed)
    html, text = rendered.personalize(preview_values(conf, parsed.slug))
    out.mkdir(parents=True, exist_ok=True)
    html_path, text_path = out / f"{parsed.slug}.html", out / f"{parsed.slug}.txt"
    html_path.write_text(html, encoding="utf-8")
    text_path.write_text(text, encoding="utf-8")
    summary = {
        **_summary(parsed),
        "html_path": str(html_path),
        "text_path": str(text_path),
        "html_bytes": len(html.encode("utf-8")),
        "text_bytes": len(text.encode("utf-8")),
    }
    if as_json:
        print_json(summary)
        return
    for key in ("slug", "subject", "preheader", "publish_at", "html_bytes", "html_path"):
        console.print(f"{key:>11}: {summary[key]}", highlight=False)
    _print_warnings(parsed.warnings)


@app.command()
def check(
    ctx: typer.Context,
    issue: str = typer.Argument(..., help="Slug or path of the issue file."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Preflight an issue: size, links, alt text, subject. Exits 1 on any error."""
    conf = settings(ctx)
    report = check_issue(conf, find_issue_or_file(conf, issue))
    if as_json:
        print_json(report.as_dict())
    else:
        console.print(f"{report.slug}: {report.html_bytes:,} bytes of HTML", highlight=False)
        for finding in report.errors:
            console.print(
                f"[red]error[/] {finding.code}: {finding.message}", highlight=False, soft_wrap=True
            )
        for finding in report.warnings:
            console.print(
                f"[yellow]warning[/] {finding.code}: {finding.message}",
                highlight=False,
                soft_wrap=True,
            )
    if not report.ok:
        raise CheckFailed(f"{report.slug}: {len(report.errors)} error(s) found")
    if not as_json:
        console.print("[green]ok[/]")


@import_app.command("brunch")
def import_brunch_command(
    ctx: typer.Context,
    files: list[Path] = typer.Argument(..., help="brunch text exports (.txt)."),
    out: Path | None = typer.Option(None, "--out", help="Target folder (default: issues_dir)."),
    at: str = typer.Option("09:00", "--time", help="Time of day for the export's date (HH:MM)."),
    force: bool = typer.Option(False, "--force", help="Overwrite existing issue files."),
) -> None:
    """Convert brunch text exports into issue files."""
    conf = settings(ctx)
    hour, _, minute = at.partition(":")
    try:
        when = time(int(hour), int(minute or 0))
    except ValueError:
        raise typer.BadParameter(f"{at!r} is not HH:MM", param_hint="--time") from None
    _import_all(conf, files, out, force, lambda path: import_brunch(path, default_time=when))


@import_app.command("jekyll")
def import_jekyll_command(
    ctx: typer.Context,
    paths: list[Path] = typer.Argument(..., help="A Jekyll site, its _posts folder, or posts."),
    out: Path | None = typer.Option(None, "--out", help="Target folder (default: issues_dir)."),
    newsletter: str | None = typer.Option(None, "--newsletter", help="Newsletter id to set."),
    force: bool = typer.Option(False, "--force", help="Overwrite existing issue files."),
) -> None:
    """Convert Jekyll posts into issue files."""
    conf = settings(ctx)
    if newsletter is not None:
        conf.newsletter(newsletter)
    files = post_files(paths)
    if not files:
        raise IssueError(f"no posts found in {', '.join(map(str, paths))}")
    _import_all(
        conf, files, out, force, lambda path: import_jekyll(conf, path, newsletter_id=newsletter)
    )


def _import_all(
    conf: Settings,
    files: list[Path],
    out: Path | None,
    force: bool,
    convert: Any,
) -> None:
    target = out or conf.path(conf.issues_dir)
    failures: list[str] = []
    for path in track(files, description="importing", console=err_console, transient=True):
        try:
            imported: ImportedIssue = convert(path)
            written = write_issue(imported, target, force=force)
        except IssueError as exc:
            failures.append(str(exc))
            err_console.print(f"[red]refused[/] {exc}", highlight=False, soft_wrap=True)
            continue
        console.print(f"{path} → {written}", highlight=False)
        _print_warnings(imported.warnings)
    if failures:
        raise IssueError(f"{len(failures)} of {len(files)} file(s) not imported")


@issues_app.command("list")
def issues_list(
    ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print as JSON.")
) -> None:
    """The issue files in issues_dir with their database status."""
    svc = services(ctx)
    status = {row.slug: row.status for row in list_issues(svc)}
    schedules = schedule_summaries(svc)
    rows: list[dict[str, Any]] = []
    for path in issue_files(svc.settings):
        try:
            parsed = parse_issue_file(svc.settings, path)
        except IssueError as exc:
            rows.append({"file": str(path), "error": str(exc)})
            continue
        rows.append(
            {
                **_summary(parsed),
                "status": status.get(parsed.slug, "not synced"),
                **schedules.get(parsed.slug, {}),
            }
        )
    if as_json:
        print_json(rows)
        return
    table = Table("slug", "newsletter", "publish_at (local)", "next send", "status", "title")
    for row in rows:
        if "error" in row:
            table.add_row(row["file"], "", "", "", "[red]error[/]", row["error"])
        else:
            table.add_row(
                row["slug"],
                row["newsletter"],
                row["publish_at_local"],
                _next_send(row),
                _status(row),
                row["title"],
            )
    console.print(table)


def _status(row: dict[str, Any]) -> str:
    """The status, with the scheduler's note (why missed, who cancelled) when there is one."""
    note = row.get("schedule_note", "")
    return f"{row['status']} ({note})" if note else str(row["status"])


def _next_send(row: dict[str, Any]) -> str:
    """The scheduler's next send in local time and UTC, and who overrode the file's date."""
    override = f"\n(override by {row['override_by']})" if row.get("override_by") else ""
    return f"{row.get('next_send', '')}{override}"


@issues_app.command("show")
def issues_show(
    ctx: typer.Context,
    slug: str = typer.Argument(..., help="Slug or path of the issue file."),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """One issue: its front matter, database status and parse warnings."""
    svc = services(ctx)
    parsed = find_issue_or_file(svc.settings, slug)
    status = {row.slug: row.status for row in list_issues(svc)}.get(parsed.slug, "not synced")
    data = {**_summary(parsed), "status": status, "warnings": list(parsed.warnings)}
    if as_json:
        print_json(data)
        return
    for key, value in data.items():
        if key != "warnings":
            console.print(f"{key:>17}: {value}", highlight=False)
    _print_warnings(parsed.warnings)


@issues_app.command("sync")
def issues_sync(
    ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print as JSON.")
) -> None:
    """Upsert every issue file into the database (files are the source of truth)."""
    report = sync_issues(services(ctx))
    if as_json:
        print_json(report.as_dict())
    else:
        for key, slugs in report.as_dict().items():
            if slugs and key != "errors":
                console.print(f"{key}: {', '.join(slugs)}", highlight=False)
        for error in report.errors:
            err_console.print(f"[red]error[/] {error}", highlight=False, soft_wrap=True)
    if report.errors:
        raise IssueError(f"{len(report.errors)} issue file(s) could not be synced")


@app.command()
def init(
    directory: Path = typer.Argument(Path("."), help="Where to create the project."),
) -> None:
    """Scaffold a project: config.yaml, templates/, issues/ (existing files are kept)."""
    directory.mkdir(parents=True, exist_ok=True)
    created: list[str] = []
    for name in ("config.yaml", "templates", "issues"):
        source, target = PROJECT_ROOT / name, directory / name
        if source.is_dir():
            created.extend(_copy_tree(source, target))
        elif not target.exists():
            shutil.copyfile(source, target)
            created.append(str(target))
    for line in created:
        console.print(f"created {line}", highlight=False)
    console.print(f"{len(created)} file(s) created in {directory}", highlight=False)


def _copy_tree(source: Path, target: Path) -> list[str]:
    created = []
    for path in sorted(source.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts:
            continue
        destination = target / path.relative_to(source)
        if destination.exists():
            continue
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, destination)
        created.append(str(destination))
    return created


@app.command()
def demo(ctx: typer.Context) -> None:
    """Prepare sample data for a first run: issues, sample readers, past issues in the outbox."""
    from newsletter.demo import prepare_demo

    report = prepare_demo(services(ctx))
    console.print(
        f"demo: {report.issues} issue(s) in the database, {report.readers_added} sample "
        f"reader(s) added, sent to the outbox: {', '.join(report.sent) or 'nothing'}",
        highlight=False,
    )
    for error in report.errors:
        err_console.print(f"[yellow]skipped[/] {error}", highlight=False, soft_wrap=True)


def _summary(parsed: ParsedIssue) -> dict[str, Any]:
    return {
        "slug": parsed.slug,
        "newsletter": parsed.newsletter_id,
        "title": parsed.title,
        "subject": parsed.subject,
        "preheader": parsed.preheader,
        "author": parsed.author,
        "draft": parsed.draft,
        "publish_at": parsed.publish_at.isoformat(),
        "publish_at_local": parsed.publish_at_local.isoformat(),
        "source_path": str(parsed.source_path),
        "warnings": list(parsed.warnings),
    }


def _print_warnings(warnings: tuple[str, ...] | list[str]) -> None:
    for warning in warnings:
        err_console.print(f"[yellow]warning[/] {warning}", highlight=False, soft_wrap=True)
