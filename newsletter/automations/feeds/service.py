"""What ``newsletter feeds`` and ``serve`` call: add, list, remove and poll feeds.

One poll of one feed: claim it (:func:`store.claim`), fetch it with a conditional GET
(:mod:`.fetch`), read it (:mod:`.parse`), write its new and changed entries (:mod:`.entries`),
then record the outcome. ``304 Not Modified`` changes nothing but the poll times. A failure
(network, HTTP status, size, not a feed, an entry that cannot be written) is recorded on the
feed (``failures`` in a row, ``last_error``) and the next poll waits
``poll_interval × 2^failures``, at most ``feeds.backoff_max``. The validators (ETag,
Last-Modified) are kept only from a poll whose every entry was written, so a ``304`` can
never hide an entry that failed.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx

from newsletter.automations.feeds import store
from newsletter.automations.feeds.entries import EntryImporter, EntryOutcomes
from newsletter.automations.feeds.fetch import fetch_feed, open_client
from newsletter.automations.feeds.models import FeedMode
from newsletter.automations.feeds.parse import read_feed
from newsletter.automations.feeds.store import FeedRow
from newsletter.db import transaction
from newsletter.errors import FeedError, FeedNotFound
from newsletter.services import Services
from subscribers.db import utcnow

log = logging.getLogger("newsletter.automations.feeds")

#: How long one poll holds its feed; a poller that died frees it after this.
LEASE = timedelta(minutes=10)


@dataclass
class PollReport:
    """What one poll of one feed did."""

    feed_id: int
    url: str
    status: str  # ok | not_modified | failed | busy (another process polls it) | gone
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0
    kept: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    next_poll_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-able data."""
        data = asdict(self)
        data["next_poll_at"] = self.next_poll_at.isoformat() if self.next_poll_at else None
        return data


def feed_as_dict(feed: FeedRow) -> dict[str, Any]:
    """A feed as JSON-able data (``feeds list --json``)."""
    data = asdict(feed)
    for key, value in data.items():
        if isinstance(value, datetime):
            data[key] = value.isoformat()
    return data


def add_feed(services: Services, url: str, *, newsletter_id: str, mode: str) -> FeedRow:
    """Add a feed (polled at once by ``serve``); ``FeedError`` for a bad URL, mode or a
    feed added before, ``ConfigError`` for an unknown newsletter."""
    url = check_url(url)
    services.settings.newsletter(newsletter_id)
    if mode not in set(FeedMode):
        raise FeedError(f"{mode!r} is not a feed mode (draft or schedule)")
    with transaction(services.sessions) as session:
        if store.url_taken(session, url):
            raise FeedError(f"{url}: this feed was added before (`newsletter feeds list`)")
        feed_id = store.add_feed(
            session, url=url, newsletter_id=newsletter_id, mode=mode, now=utcnow()
        )
    return get_feed(services, str(feed_id))


def check_url(url: str) -> str:
    """The URL if it is an absolute http(s) URL of one line, else ``FeedError``."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in url):
        raise FeedError(f"{url!r} is not an http(s) URL of a feed")
    if len(url) > 2000:
        raise FeedError(f"{url[:60]}…: longer than 2000 characters")
    return url


def list_feeds(services: Services) -> list[FeedRow]:
    """Every feed with its state (last poll, failures, last error, entries imported)."""
    with services.sessions() as session:
        return store.all_feeds(session)


def get_feed(services: Services, ref: str) -> FeedRow:
    """The feed with this id or URL; ``FeedNotFound`` otherwise."""
    with services.sessions() as session:
        found = store.find_feed(session, ref)
    if found is None:
        raise FeedNotFound(f"no feed {ref!r} (`newsletter feeds list` shows them)")
    return found


def remove_feed(services: Services, ref: str) -> FeedRow:
    """Stop polling a feed and forget its entries; the issue files it wrote stay."""
    feed = get_feed(services, ref)
    with transaction(services.sessions) as session:
        store.delete_feed(session, feed.id)
    return feed


def poll(
    services: Services, ref: str | None = None, *, client: httpx.Client | None = None
) -> list[PollReport]:
    """Poll one feed (``ref``: id or URL) or every feed now, due or not."""
    feeds = [get_feed(services, ref)] if ref is not None else list_feeds(services)
    return _poll_each(services, [feed.id for feed in feeds], client, due_only=False)


def poll_due(services: Services, *, client: httpx.Client | None = None) -> list[PollReport]:
    """Poll the feeds whose time has come (``serve`` calls this)."""
    with services.sessions() as session:
        due = store.due_feed_ids(session, now=utcnow())
    return _poll_each(services, due, client, due_only=True) if due else []


def _poll_each(
    services: Services, feed_ids: list[int], client: httpx.Client | None, *, due_only: bool
) -> list[PollReport]:
    own = client is None
    http = client or open_client(services.settings.feeds)
    try:
        return [poll_feed(services, one, client=http, due_only=due_only) for one in feed_ids]
    finally:
        if own:
            http.close()


def poll_feed(
    services: Services, feed_id: int, *, client: httpx.Client, due_only: bool = False
) -> PollReport:
    """One poll of one feed (see the module docstring); never raises for the feed's faults."""
    now = utcnow()
    with transaction(services.sessions) as session:
        claimed = store.claim(session, feed_id, now=now, until=now + LEASE, due_only=due_only)
        feed = store.find_feed(session, str(feed_id))
    if feed is None:  # removed since it was found due
        return PollReport(feed_id, "", "gone")
    report = PollReport(feed.id, feed.url, "busy" if not claimed else "ok")
    if not claimed:
        return report
    try:
        _fetch_and_write(services, feed, client, report, now)
    except FeedError as exc:
        report.errors.append(str(exc))
    except Exception as exc:  # a bug or the disk: recorded like any failure, never a crash
        log.exception("feeds: polling %s failed", feed.url)
        report.errors.append(f"{feed.url}: {type(exc).__name__}: {exc}")
    if report.errors:
        _record_failure(services, feed, report, now)
    return report


def _fetch_and_write(
    services: Services, feed: FeedRow, client: httpx.Client, report: PollReport, now: datetime
) -> None:
    settings = services.settings
    fetched = fetch_feed(
        client, feed.url, etag=feed.etag, last_modified=feed.last_modified, limits=settings.feeds
    )
    next_at = now + settings.feeds.poll_interval
    if fetched.not_modified:
        report.status = "not_modified"
        _record_success(services, feed, report, now, next_at, None, None)
        return
    parsed = read_feed(fetched, default_tz=settings.site.tz)
    outcomes = EntryImporter(services, feed, now=now).apply(parsed.items)
    _merge(report, outcomes)
    report.kept.extend(parsed.skipped)
    if not report.errors:
        validators = (fetched.etag, fetched.last_modified)
        _record_success(services, feed, report, now, next_at, validators, parsed.title)


def _merge(report: PollReport, outcomes: EntryOutcomes) -> None:
    report.created, report.updated = outcomes.created, outcomes.updated
    report.unchanged, report.kept, report.errors = (
        outcomes.unchanged,
        outcomes.kept,
        outcomes.errors,
    )
    for slug in outcomes.created:
        log.info("feeds: %s → new issue %s", report.url, slug)
    for slug in outcomes.updated:
        log.info("feeds: %s → %s rewritten (the entry changed)", report.url, slug)


def _record_success(
    services: Services,
    feed: FeedRow,
    report: PollReport,
    now: datetime,
    next_at: datetime,
    validators: tuple[str, str] | None,
    title: str | None,
) -> None:
    with transaction(services.sessions) as session:
        store.record_poll(
            session, feed.id, now=now, next_at=next_at, validators=validators, title=title
        )
    report.next_poll_at = next_at


def _record_failure(services: Services, feed: FeedRow, report: PollReport, now: datetime) -> None:
    report.status = "failed"
    wait = backoff(services, failures=feed.failures + 1)
    report.next_poll_at = now + wait
    with transaction(services.sessions) as session:
        store.record_failure(
            session, feed.id, now=now, next_at=report.next_poll_at, error=report.errors[0]
        )
    log.warning("feeds: %s failed (%d in a row), next try in %s: %s",
                feed.url, feed.failures + 1, wait, report.errors[0])  # fmt: skip


def backoff(services: Services, *, failures: int) -> timedelta:
    """How long a feed that failed ``failures`` times in a row waits: doubling, capped."""
    limits = services.settings.feeds
    wait: timedelta = limits.poll_interval * (2 ** min(failures, 16))
    return min(wait, limits.backoff_max)
