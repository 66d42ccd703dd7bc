"""Commands: render, check, import, issues list|show|sync, init, demo."""

from __future__ import annotations

from datetime import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from newsletter.cli.base import app, console, err_console, print_json, services, settings
from newsletter.errors import CheckFailed, IssueError

if TYPE_CHECKING:
    from newsletter.issues import ParsedIssue
    from newsletter.settings import Settings

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
    from newsletter.issues import find_issue_or_file
    from newsletter.render import preview_values, render_issue

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


def _issue_to_check(conf: Settings, issue: str) -> ParsedIssue:
    """The issue (slug or file) to check; a file under ``sequences.dir`` is read as a step
    (``after:`` and ``backfill:`` validated too)."""
    from newsletter.automations.sequences.files import is_step_path, parse_step_file
    from newsletter.issues import find_issue_or_file

    if Path(issue).is_file() and is_step_path(conf, Path(issue)):
        return parse_step_file(conf, Path(issue)).issue
    return find_issue_or_file(conf, issue)


@app.command()
def check(
    ctx: typer.Context,
    issue: str = typer.Argument(..., help="Slug or path of the issue file."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Preflight an issue: size, links, alt text, subject. Exits 1 on any error."""
    from newsletter.check import check_issue

    conf = settings(ctx)
    report = check_issue(conf, _issue_to_check(conf, issue))
    if as_json:
        print_json(report.as_dict())
    else:
        console.print(f"{report.slug}: {report.html_bytes:,} bytes of HTML", highlight=False)
        if report.ab_test:
            console.print(f"{report.ab_test}: {report.subjects}", highlight=False)
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
    image_base_url: str = typer.Option(
        "",
        "--image-base-url",
        help="https URL of the folder holding the exports' images: the cover becomes image:.",
    ),
) -> None:
    """Convert brunch text exports into issue files."""
    from newsletter.importers.brunch import import_brunch

    conf = settings(ctx)
    hour, _, minute = at.partition(":")
    try:
        when = time(int(hour), int(minute or 0))
    except ValueError:
        raise typer.BadParameter(f"{at!r} is not HH:MM", param_hint="--time") from None
    if image_base_url and not image_base_url.startswith(("https://", "http://")):
        raise typer.BadParameter(
            f"{image_base_url!r} is not an http(s) URL", param_hint="--image-base-url"
        )
    _import_all(
        conf,
        files,
        out,
        force,
        lambda path: import_brunch(path, default_time=when, image_base_url=image_base_url),
    )


@import_app.command("jekyll")
def import_jekyll_command(
    ctx: typer.Context,
    paths: list[Path] = typer.Argument(..., help="A Jekyll site, its _posts folder, or posts."),
    out: Path | None = typer.Option(None, "--out", help="Target folder (default: issues_dir)."),
    newsletter: str | None = typer.Option(None, "--newsletter", help="Newsletter id to set."),
    force: bool = typer.Option(False, "--force", help="Overwrite existing issue files."),
) -> None:
    """Convert Jekyll posts into issue files."""
    from newsletter.importers.jekyll import import_jekyll, post_files

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
    from rich.progress import track

    from newsletter.importers import ImportedIssue, write_issue

    target = out or conf.path(conf.issues_dir)
    failures: list[str] = []
    for path in track(files, description="importing", console=err_console.get(), transient=True):
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
    from newsletter.catalog import list_issues
    from newsletter.issues import issue_files, parse_issue_file
    from newsletter.scheduler.service import schedule_summaries

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
    _print_issues(rows)


#: Narrowest widths of the columns but slug and newsletter (wrapped at spaces below that)
#: and what a table's borders and padding take per column.
_MIN_WIDTHS = {"publish_at (local)": 10, "next send": 10, "status": 10, "title": 10}
_PER_COLUMN = 3


def _print_issues(rows: list[dict[str, Any]]) -> None:
    """A table when the terminal is wide enough, else one block per issue: slugs never cut."""
    slug_width = max((len(row.get("slug") or row["file"]) for row in rows), default=4)
    newsletter_width = max((len(row.get("newsletter", "")) for row in rows), default=10)
    needed = slug_width + max(newsletter_width, 10) + sum(_MIN_WIDTHS.values()) + 6 * _PER_COLUMN
    if needed <= console.width:
        console.print(_issues_table(rows, slug_width))
        return
    for row in rows:
        if "error" in row:
            console.print(row["file"], highlight=False, soft_wrap=True)
            console.print(f"  [red]error[/] {row['error']}", highlight=False)
            continue
        console.print(f"[bold]{row['slug']}[/]", highlight=False, soft_wrap=True)
        details = [row["newsletter"], _local_time(row["publish_at_local"]), _status(row)]
        if row.get("next_send"):
            details.insert(2, f"next send {_next_send(row)}")
        console.print("  " + " · ".join(details), highlight=False)
        console.print(f"  {row['title']}", highlight=False)


def _issues_table(rows: list[dict[str, Any]], slug_width: int) -> Any:
    from rich.table import Table

    table = Table()
    table.add_column("slug", no_wrap=True, min_width=slug_width)
    table.add_column("newsletter", no_wrap=True)
    for name in _MIN_WIDTHS:
        table.add_column(name, overflow="fold")
    for row in rows:
        if "error" in row:
            table.add_row(row["file"], "", "", "", "[red]error[/]", row["error"])
        else:
            table.add_row(
                row["slug"],
                row["newsletter"],
                _local_time(row["publish_at_local"]),
                _next_send(row),
                _status(row),
                row["title"],
            )
    return table


def _local_time(iso: str) -> str:
    """``2026-12-07T09:00:00+09:00`` → ``2026-12-07 09:00 +09:00`` (wraps at the spaces)."""
    day, _, rest = iso.partition("T")
    clock, offset = rest[:5], rest[8:]
    return f"{day} {clock} {offset}".strip()


def _status(row: dict[str, Any]) -> str:
    """The status, with the scheduler's note (why missed, who cancelled) when there is one."""
    note = row.get("schedule_note", "")
    return f"{row['status']} ({note})" if note else str(row["status"])


def _next_send(row: dict[str, Any]) -> str:
    """The scheduler's next send in local time and UTC, and who overrode the file's date;
    for ``deliver: local`` the readers' wall time, and the instant quiet hours moved."""
    override = f"\n(override by {row['override_by']})" if row.get("override_by") else ""
    local = (
        f"{row['local_time']} in each reader's timezone, from "
        if row.get("deliver") and row.get("next_send")
        else ""
    )
    quiet = f"\n({row['quiet_note']})" if row.get("quiet_note") and row.get("next_send") else ""
    return f"{local}{row.get('next_send', '')}{override}{quiet}"


@issues_app.command("show")
def issues_show(
    ctx: typer.Context,
    slug: str = typer.Argument(..., help="Slug or path of the issue file."),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """One issue: its front matter, database status and parse warnings."""
    from newsletter.catalog import list_issues
    from newsletter.issues import find_issue_or_file

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
    from newsletter.catalog import sync_issues

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
    """Create a project: config.yaml, issues/ with a sample, templates to edit (keeps files)."""
    from newsletter.resources import default_templates
    from newsletter.scaffold import init_project

    report = init_project(directory)
    for path in report.created:
        console.print(f"created {path}", highlight=False)
    for path in report.kept:
        console.print(f"kept    {path} (already there)", highlight=False)
    console.print(
        f"{len(report.created)} file(s) created in {directory}. The templates copied into "
        f"{directory / 'templates'} are yours to edit; every other template comes from the "
        f"package (copy one from {default_templates()} to change it).\n"
        f"Next: cd {directory} && newsletter db upgrade && newsletter serve",
        highlight=False,
        soft_wrap=True,
    )


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
    from newsletter.abtest.check import ab_summary

    return {
        "slug": parsed.slug,
        "newsletter": parsed.newsletter_id,
        "title": parsed.title,
        "subject": parsed.subject,
        "subjects": list(parsed.ab_test.subjects) if parsed.ab_test else [],
        "ab_test": ab_summary(parsed),
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
