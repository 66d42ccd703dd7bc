"""All the feeds' SQL: the feeds, their entries, claims, and what an issue has become.

Every function takes a ``Session`` first and does not commit: the caller owns the
transaction (``newsletter.db.transaction``). A poll is claimed with one conditional
``UPDATE`` (:func:`claim`), so two processes never poll one feed at once. The ``issues``
and ``sends`` tables are only read here, to keep a sent issue's file untouched.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, delete, func, or_, select, update
from sqlalchemy.orm import Session

from newsletter.automations.feeds.models import Feed, FeedEntry
from newsletter.delivery.models import Send
from newsletter.models import Issue


@dataclass(frozen=True)
class FeedRow:
    """One feed as listed, with the number of entries imported from it."""

    id: int
    url: str
    newsletter_id: str
    mode: str
    title: str
    etag: str
    last_modified: str
    created_at: datetime
    last_polled_at: datetime | None
    last_success_at: datetime | None
    next_poll_at: datetime
    failures: int
    last_error: str
    entries: int


@dataclass(frozen=True)
class EntryRow:
    """One imported entry: the issue file it became and what it said then."""

    id: int
    key_hash: str
    slug: str
    filename: str
    fingerprint: str
    file_hash: str


def add_feed(session: Session, *, url: str, newsletter_id: str, mode: str, now: datetime) -> int:
    """Insert a feed, due at once; its id (the URL must be new: the caller checks)."""
    feed = Feed(url=url, newsletter_id=newsletter_id, mode=mode, created_at=now, next_poll_at=now)
    session.add(feed)
    session.flush()
    return feed.id


def _feeds_query() -> Any:
    entries = select(func.count(FeedEntry.id)).where(FeedEntry.feed_id == Feed.id).scalar_subquery()
    return select(Feed, entries.label("entries")).order_by(Feed.id)


def _row(feed: Feed, entries: int) -> FeedRow:
    names = [name for name in FeedRow.__dataclass_fields__ if name != "entries"]
    fields = {name: getattr(feed, name) for name in names}
    return FeedRow(**fields, entries=int(entries or 0))


def all_feeds(session: Session) -> list[FeedRow]:
    """Every feed, oldest first."""
    return [_row(feed, count) for feed, count in session.execute(_feeds_query())]


def find_feed(session: Session, ref: str) -> FeedRow | None:
    """The feed with this id (digits) or URL, or ``None``."""
    condition = Feed.url == ref.strip()
    if ref.strip().isdigit():
        condition = or_(condition, Feed.id == int(ref.strip()))
    found = session.execute(_feeds_query().where(condition)).first()
    return _row(found[0], found[1]) if found else None


def url_taken(session: Session, url: str) -> bool:
    """Whether a feed with this URL exists."""
    return session.scalar(select(Feed.id).where(Feed.url == url)) is not None


def delete_feed(session: Session, feed_id: int) -> None:
    """Delete a feed and its entry records (the issue files stay)."""
    session.execute(delete(FeedEntry).where(FeedEntry.feed_id == feed_id))
    session.execute(delete(Feed).where(Feed.id == feed_id))


def due_feed_ids(session: Session, *, now: datetime) -> list[int]:
    """The feeds whose next poll is due and that nobody is polling."""
    query = select(Feed.id).where(
        Feed.next_poll_at <= now, or_(Feed.lease_until.is_(None), Feed.lease_until < now)
    )
    return list(session.scalars(query.order_by(Feed.next_poll_at, Feed.id)))


def claim(
    session: Session, feed_id: int, *, now: datetime, until: datetime, due_only: bool
) -> bool:
    """Take the feed for one poll until ``until``; ``False`` when another poller has it (or,
    with ``due_only``, when it is no longer due)."""
    conditions = [Feed.id == feed_id, or_(Feed.lease_until.is_(None), Feed.lease_until < now)]
    if due_only:
        conditions.append(Feed.next_poll_at <= now)
    result = session.execute(
        update(Feed)
        .where(*conditions)
        .values(lease_until=until)
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result) == 1


def record_poll(
    session: Session,
    feed_id: int,
    *,
    now: datetime,
    next_at: datetime,
    validators: tuple[str, str] | None,
    title: str | None,
) -> None:
    """A poll that worked: failures reset, ``validators`` (ETag, Last-Modified) kept when
    given, the lease released."""
    values: dict[str, Any] = {
        "last_polled_at": now,
        "last_success_at": now,
        "next_poll_at": next_at,
        "failures": 0,
        "last_error": "",
        "lease_until": None,
    }
    if validators is not None:
        values["etag"], values["last_modified"] = validators
    if title:
        values["title"] = title
    session.execute(update(Feed).where(Feed.id == feed_id).values(**values))


def record_failure(
    session: Session, feed_id: int, *, now: datetime, next_at: datetime, error: str
) -> None:
    """A poll that failed: one more failure in a row, the error kept, the lease released."""
    session.execute(
        update(Feed)
        .where(Feed.id == feed_id)
        .values(
            last_polled_at=now,
            next_poll_at=next_at,
            failures=Feed.failures + 1,
            last_error=error[:1000],
            lease_until=None,
        )
    )


def entries_by_key(session: Session, feed_id: int) -> dict[str, EntryRow]:
    """The feed's imported entries by ``key_hash``."""
    rows = session.execute(
        select(
            FeedEntry.id,
            FeedEntry.key_hash,
            FeedEntry.slug,
            FeedEntry.filename,
            FeedEntry.fingerprint,
            FeedEntry.file_hash,
        ).where(FeedEntry.feed_id == feed_id)
    )
    return {row.key_hash: EntryRow(**row._mapping) for row in rows}


def add_entry(
    session: Session,
    feed_id: int,
    *,
    key: str,
    key_hash: str,
    slug: str,
    filename: str,
    fingerprint: str,
    file_hash: str,
    now: datetime,
) -> None:
    """Record an imported entry."""
    session.add(
        FeedEntry(
            feed_id=feed_id,
            entry_key=key,
            key_hash=key_hash,
            slug=slug,
            filename=filename,
            fingerprint=fingerprint,
            file_hash=file_hash,
            created_at=now,
            updated_at=now,
        )
    )


def set_entry(
    session: Session, entry_id: int, *, fingerprint: str, file_hash: str, now: datetime
) -> None:
    """Record what an entry says now (and the bytes its file has, when rewritten)."""
    session.execute(
        update(FeedEntry)
        .where(FeedEntry.id == entry_id)
        .values(fingerprint=fingerprint, file_hash=file_hash, updated_at=now)
    )


def issue_state(session: Session, slug: str) -> str | None:
    """``sent`` when the issue has a send (whatever its status), else the issue's status,
    ``None`` when it was never synced."""
    if session.scalar(select(Send.id).where(Send.issue_slug == slug)) is not None:
        return "sent"
    return session.scalar(select(Issue.status).where(Issue.slug == slug))


def used_slugs(session: Session) -> set[str]:
    """Slugs a new issue may not take: synced issues, sends, entries imported before."""
    found: set[str] = set(session.scalars(select(Issue.slug)))
    found.update(session.scalars(select(Send.issue_slug)))
    found.update(session.scalars(select(FeedEntry.slug)))
    return found


def _rowcount(result: Any) -> int:
    return int(cast("CursorResult[Any]", result).rowcount)
