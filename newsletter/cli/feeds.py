"""Commands: feeds add|list|remove|poll (issues made from RSS/Atom feeds)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from newsletter.cli.base import app, console, print_json, services

if TYPE_CHECKING:
    from newsletter.automations.feeds.service import PollReport
    from newsletter.automations.feeds.store import FeedRow

feeds_app = typer.Typer(
    help="RSS/Atom feeds whose new entries become issue files.", no_args_is_help=True
)
app.add_typer(feeds_app, name="feeds")


@feeds_app.command("add")
def feeds_add(
    ctx: typer.Context,
    url: str = typer.Argument(..., help="The feed's http(s) URL (RSS or Atom)."),
    newsletter: str = typer.Option(..., "--newsletter", help="The newsletter its issues go to."),
    mode: str = typer.Option(
        "draft", "--mode", help="draft: issues are drafts; schedule: sent at the entry's date."
    ),
) -> None:
    """Add a feed; `serve` polls it every feeds.poll_interval (or run `feeds poll`)."""
    from newsletter.automations.feeds.service import add_feed

    feed = add_feed(services(ctx), url, newsletter_id=newsletter, mode=mode)
    console.print(
        f"feed {feed.id} added: {feed.url} → {feed.newsletter_id} ({feed.mode})", highlight=False
    )


@feeds_app.command("list")
def feeds_list(
    ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print as JSON.")
) -> None:
    """Every feed: newsletter, mode, entries imported, last poll, failures and last error."""
    from newsletter.automations.feeds.service import feed_as_dict, list_feeds

    feeds = list_feeds(services(ctx))
    if as_json:
        print_json([feed_as_dict(feed) for feed in feeds])
        return
    if not feeds:
        console.print("no feeds (add one with `newsletter feeds add URL --newsletter ID`)")
    for feed in feeds:
        _print_feed(feed)


def _print_feed(feed: FeedRow) -> None:
    console.print(f"[bold]{feed.id}[/] {feed.url}", highlight=False, soft_wrap=True)
    polled = _when(feed.last_polled_at)
    details = [feed.newsletter_id, feed.mode, f"{feed.entries} entries", f"polled {polled}"]
    details.append(f"next {_when(feed.next_poll_at)}")
    if feed.title:
        details.insert(0, feed.title)
    console.print("  " + " · ".join(details), highlight=False, soft_wrap=True)
    if feed.failures:
        console.print(
            f"  [red]failing[/] ({feed.failures} in a row): {feed.last_error}",
            highlight=False,
            soft_wrap=True,
        )


def _when(moment: Any) -> str:
    return moment.isoformat(timespec="seconds") if moment is not None else "never"


@feeds_app.command("remove")
def feeds_remove(
    ctx: typer.Context, feed: str = typer.Argument(..., help="The feed's id or URL.")
) -> None:
    """Stop polling a feed; the issue files it wrote stay."""
    from newsletter.automations.feeds.service import remove_feed

    removed = remove_feed(services(ctx), feed)
    console.print(f"feed {removed.id} removed: {removed.url}", highlight=False)


@feeds_app.command("poll")
def feeds_poll(
    ctx: typer.Context,
    feed: str | None = typer.Argument(None, help="The feed's id or URL (default: every feed)."),
    as_json: bool = typer.Option(False, "--json", help="Print the reports as JSON."),
) -> None:
    """Poll now (due or not): write new entries, rewrite changed ones. Exits 1 if one failed."""
    from newsletter.automations.feeds.service import poll
    from newsletter.errors import FeedError

    reports = poll(services(ctx), feed)
    if not reports and not as_json:
        console.print("no feeds (add one with `newsletter feeds add URL --newsletter ID`)")
    if as_json:
        print_json([report.as_dict() for report in reports])
    else:
        for report in reports:
            _print_report(report)
    failed = [report for report in reports if report.status == "failed"]
    if failed:
        raise FeedError(f"{len(failed)} of {len(reports)} feed(s) failed: {failed[0].errors[0]}")


def _print_report(report: PollReport) -> None:
    counts = (
        f"{len(report.created)} new, {len(report.updated)} updated, "
        f"{report.unchanged} unchanged, {len(report.kept)} kept"
    )
    status = {"not_modified": "not modified (304)", "busy": "being polled elsewhere"}
    console.print(
        f"{report.feed_id} {report.url}: {status.get(report.status, report.status)}; {counts}",
        highlight=False,
        soft_wrap=True,
    )
    for slug in report.created:
        console.print(f"  [green]new[/] {slug}", highlight=False)
    for slug in report.updated:
        console.print(f"  [blue]updated[/] {slug}", highlight=False)
    for line in report.kept:
        console.print(f"  kept {line}", highlight=False, soft_wrap=True)
    for line in report.errors:
        console.print(f"  [red]error[/] {line}", highlight=False, soft_wrap=True)
