"""Each entry of a polled feed → its issue file in ``issues/``, once per entry id.

- a new entry → a new file ``YYYY-MM-DD-<title words>.md`` (``slug:`` spelled out), whose
  slug no file, synced issue, send or earlier entry has (``-2``, ``-3``… otherwise); a file
  of that name already holding this very entry (``feed:`` and ``feed_entry:`` match: a poll
  that stopped between writing it and recording it) is taken over, not written twice;
- an entry whose fingerprint changed → its file is rewritten with the same slug, ``date``
  and ``draft`` — unless its issue was sent (any send exists: never touched or sent again),
  is ``sending`` or ``cancelled``, its file was deleted, or its bytes differ from those
  written (an editor edited it: the file is theirs now);
- an entry no longer in the feed → nothing happens to its file.

Where a new entry goes: ``draft`` mode → ``draft: true`` at the entry's date. ``schedule``
mode → scheduled at the entry's date when that is ahead, else ``feeds.schedule_delay`` after
the poll; but the entries found by a feed's first poll, and entries dated before the feed
was added, are drafts (adding a feed never mails its back catalogue).

Every file is checked by the issue parser before it is written (a file the catalog would
refuse is never written) and written through a temp file and ``os.replace``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from newsletter.automations.feeds import store
from newsletter.automations.feeds.convert import EntryIssue, entry_issue
from newsletter.automations.feeds.parse import FeedItem
from newsletter.automations.feeds.store import EntryRow, FeedRow
from newsletter.db import transaction
from newsletter.errors import IssueError
from newsletter.importers import write_issue
from newsletter.issues import issue_files, parse_issue_file, parse_issue_text, slug_for
from newsletter.models import IssueStatus
from newsletter.services import Services

#: Issue states whose file a changed entry may rewrite (``None``: not synced yet).
REWRITABLE = (None, IssueStatus.DRAFT, IssueStatus.SCHEDULED, IssueStatus.MISSED)


@dataclass
class EntryOutcomes:
    """What one poll did with the entries, by slug (``kept`` and ``errors`` say why)."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0
    kept: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def key_hash(key: str) -> str:
    """The entry id's sha256: its unique key in ``feed_entries``."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def file_hash(path: Path) -> str:
    """The sha256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


class EntryImporter:
    """Applies the rules above to the entries of one poll of one feed."""

    def __init__(self, services: Services, feed: FeedRow, *, now: datetime) -> None:
        self.services = services
        self.feed = feed
        self.now = now
        settings = services.settings
        self.folder = settings.path(settings.issues_dir)
        self.language = settings.sender_for(feed.newsletter_id).language
        self.first_poll = feed.last_success_at is None
        self._slugs: set[str] | None = None

    def apply(self, items: list[FeedItem]) -> EntryOutcomes:
        """Import, update or keep each entry; an entry that fails is listed, never half-written."""
        outcomes = EntryOutcomes()
        with self.services.sessions() as session:
            known = store.entries_by_key(session, self.feed.id)
        # The feed lists newest first; importing oldest first gives `-2` to the later twin.
        for item in reversed(items):
            try:
                self._apply_one(item, known.get(key_hash(item.key)), outcomes)
            except (IssueError, OSError) as exc:
                outcomes.errors.append(f"entry {item.key}: {exc}")
        return outcomes

    def _apply_one(self, item: FeedItem, row: EntryRow | None, outcomes: EntryOutcomes) -> None:
        if row is None:
            outcomes.created.append(self._create(item))
        elif row.fingerprint == item.fingerprint:
            outcomes.unchanged += 1
        else:
            reason = self._update(item, row)
            (outcomes.kept if reason else outcomes.updated).append(
                f"{row.slug}: {reason}" if reason else row.slug
            )

    # -- a new entry -------------------------------------------------------------------------

    def _create(self, item: FeedItem) -> str:
        date, draft = self._placement(item)
        issue = self._issue(item, date=date, draft=draft)
        slug, existing = self._free_slug(issue.slug_base, item.key)
        path = existing or self._write(issue, slug, force=False)
        with transaction(self.services.sessions) as session:
            store.add_entry(
                session,
                self.feed.id,
                key=item.key,
                key_hash=key_hash(item.key),
                slug=slug,
                filename=path.name,
                fingerprint=item.fingerprint,
                file_hash=file_hash(path),
                now=self.now,
            )
        return slug

    def _placement(self, item: FeedItem) -> tuple[datetime, bool]:
        """The new issue's date and whether it is a draft (see the module docstring)."""
        site_tz = self.services.settings.site.tz
        published = item.published or self.now.astimezone(site_tz).replace(microsecond=0)
        if self.feed.mode != "schedule" or self.first_poll or published < self.feed.created_at:
            return published, True
        if published > self.now:
            return published, False
        soon = self.now + self.services.settings.feeds.schedule_delay
        return soon.astimezone(published.tzinfo).replace(microsecond=0), False

    def _free_slug(self, base: str, key: str) -> tuple[str, Path | None]:
        """A slug nothing else uses, or the file a stopped poll already wrote for ``key``."""
        used = self._used_slugs()
        for number in range(1, 1000):
            slug = base if number == 1 else f"{base}-{number}"
            path = self.folder / f"{slug}.md"
            if path.exists() and self._holds_entry(path, key):
                return slug, path
            if slug not in used and not path.exists():
                used.add(slug)
                return slug, None
        raise IssueError(f"{self.folder}/{base}.md: no free slug after 999 tries")

    def _used_slugs(self) -> set[str]:
        if self._slugs is None:
            settings = self.services.settings
            used: set[str] = set()
            for path in issue_files(settings):
                used.add(slug_for(path, None))
                used.add(path.stem)
                try:
                    used.add(parse_issue_file(settings, path).slug)
                except IssueError:
                    continue
            with self.services.sessions() as session:
                used |= store.used_slugs(session)
            self._slugs = used
        return self._slugs

    def _holds_entry(self, path: Path, key: str) -> bool:
        try:
            extra = parse_issue_file(self.services.settings, path).extra
        except IssueError:
            return False
        return str(extra.get("feed_entry")) == key and str(extra.get("feed")) == self.feed.url

    # -- a changed entry ---------------------------------------------------------------------

    def _update(self, item: FeedItem, row: EntryRow) -> str:
        """Rewrite the entry's file; the reason it was kept instead, or ``""``."""
        path = self.folder / row.filename
        with self.services.sessions() as session:
            state = store.issue_state(session, row.slug)
        reason = ""
        if state not in REWRITABLE:
            reason = f"its issue is {state}: never rewritten"
        elif not path.exists():
            reason = "its file was deleted: not written again"
        elif file_hash(path) != row.file_hash:
            reason = "its file was edited by hand: left as it is"
        new_hash = row.file_hash
        if not reason:
            current = parse_issue_file(self.services.settings, path)
            issue = self._issue(item, date=current.publish_at_local, draft=current.draft)
            new_hash = file_hash(self._write(issue, row.slug, force=True))
        with transaction(self.services.sessions) as session:
            store.set_entry(
                session, row.id, fingerprint=item.fingerprint, file_hash=new_hash, now=self.now
            )
        return reason

    # -- writing -----------------------------------------------------------------------------

    def _issue(self, item: FeedItem, *, date: datetime, draft: bool) -> EntryIssue:
        return entry_issue(
            item,
            feed_url=self.feed.url,
            newsletter_id=self.feed.newsletter_id,
            language=self.language,
            date=date,
            draft=draft,
        )

    def _write(self, issue: EntryIssue, slug: str, *, force: bool) -> Path:
        imported = issue.as_imported(slug)
        target = self.folder / imported.filename
        # The catalog must accept what is written: parse it first (IssueError otherwise).
        parse_issue_text(self.services.settings, target, imported.to_text().encode("utf-8"))
        return write_issue(imported, self.folder, force=force)
