"""The sunset run and the reader's "yes" (docs/automations.md, "Sunset").

One run over a newsletter with ``sunset:`` configured, in this order:

1. settle open episodes: a human click after the ask ends one (``active``); a reader no
   longer subscribed ends it (``left``); an ask older than the grace removes the reader
   (unsubscribed with the reason ``inactive``, a consent record of it; ``removed``);
2. ask: every reader the rule judges inactive (``store.inactive_readers``) gets one
   episode row, committed before the email goes out, then the email; ``asked`` once the
   backend accepted it, ``failed`` when it refused or kept failing.

``now`` is injectable (tests, ``--dry-run`` previews); a dry run reads and writes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy.orm import Session

from newsletter.automations.sunset import store
from newsletter.automations.sunset.mail import Ask, Outgoing, open_outgoing, send_ask
from newsletter.automations.sunset.models import OPEN_STATES, EpisodeState
from newsletter.db import transaction
from newsletter.errors import NewsletterError, OutcomeUnknownError, PermanentBackendError
from newsletter.services import Services
from newsletter.settings import NewsletterSettings
from subscribers import service as subscriptions
from subscribers.db import utcnow
from subscribers.errors import SubscriberError
from subscribers.events import How
from subscribers.models import SubscriberStatus
from subscribers.queries import get_subscriber
from subscribers.tokens import TokenData

log = logging.getLogger(__name__)

#: The reason written on the unsubscribe and its consent record.
INACTIVE = "inactive"


@dataclass(frozen=True)
class Entry:
    """One reader in a run's report, with why."""

    subscriber_id: int
    email: str
    issues: list[str]
    last_click: datetime | None
    asked_at: datetime | None = None
    deadline: datetime | None = None
    outcome: str = ""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        iso = _iso
        return {
            "subscriber_id": self.subscriber_id,
            "email": self.email,
            "issues": self.issues,
            "last_click": iso(self.last_click),
            "asked_at": iso(self.asked_at),
            "deadline": iso(self.deadline),
            "outcome": self.outcome,
        }


@dataclass
class Report:
    """What one run did (or, dry, would do) for one newsletter."""

    newsletter_id: str
    dry_run: bool
    after_issues: int
    window: list[str] = field(default_factory=list)
    ask: list[Entry] = field(default_factory=list)
    remove: list[Entry] = field(default_factory=list)
    clicked: list[Entry] = field(default_factory=list)
    left: list[Entry] = field(default_factory=list)
    waiting: list[Entry] = field(default_factory=list)
    unknown: list[Entry] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (``newsletter sunset --json``)."""
        lists = ("ask", "remove", "clicked", "left", "waiting", "unknown")
        return {
            "newsletter": self.newsletter_id,
            "dry_run": self.dry_run,
            "after_issues": self.after_issues,
            "window": self.window,
            **{name: [e.as_dict() for e in getattr(self, name)] for name in lists},
        }


def configured(services: Services, newsletter_id: str | None = None) -> list[NewsletterSettings]:
    """The newsletters with ``sunset:`` (only ``newsletter_id``: a ``ConfigError`` when it
    is unknown, a ``NewsletterError`` when it has no sunset)."""
    settings = services.settings
    if newsletter_id is None:
        return [n for n in settings.newsletters if n.sunset is not None]
    newsletter = settings.newsletter(newsletter_id)
    if newsletter.sunset is None:
        raise NewsletterError(f"newsletter {newsletter_id!r} has no sunset: in config.yaml")
    return [newsletter]


def run_all(
    services: Services,
    *,
    newsletter_id: str | None = None,
    now: datetime | None = None,
    dry_run: bool = False,
) -> list[Report]:
    """Run (or with ``dry_run`` preview) the sunset of every configured newsletter."""
    at = now or utcnow()
    return [
        run(services, newsletter, now=at, dry_run=dry_run)
        for newsletter in configured(services, newsletter_id)
    ]


def run(
    services: Services, newsletter: NewsletterSettings, *, now: datetime, dry_run: bool
) -> Report:
    """One newsletter's run: settle the open episodes, then ask the newly inactive."""
    assert newsletter.sunset is not None
    report = Report(newsletter.id, dry_run, newsletter.sunset.after_issues)
    _settle(services, newsletter, report, now=now)
    _ask(services, newsletter, report, now=now)
    return report


def _settle(
    services: Services, newsletter: NewsletterSettings, report: Report, *, now: datetime
) -> None:
    assert newsletter.sunset is not None
    grace = newsletter.sunset.grace
    with services.sessions() as session:
        episodes = store.open_episodes(session, newsletter.id)
        slugs = store.send_slugs(session, [e.first_send_id for e in episodes])
        slugs |= store.send_slugs(session, [e.last_send_id for e in episodes])
        clicks = store.last_human_clicks(
            session, newsletter.id, [e.subscriber_id for e in episodes]
        )
    for episode in episodes:
        entry = Entry(
            episode.subscriber_id,
            episode.email,
            [slugs.get(episode.first_send_id, ""), slugs.get(episode.last_send_id, "")],
            clicks.get(episode.subscriber_id),
            asked_at=episode.asked_at,
            deadline=episode.asked_at + grace if episode.asked_at else None,
        )
        verdict = _verdict(services, newsletter.id, episode, entry, now=now)
        if not report.dry_run and verdict in ("clicked", "left", "remove"):
            _close(services, newsletter.id, episode.id, episode.subscriber_id, verdict, now=now)
        getattr(report, verdict).append(entry)


def _verdict(
    services: Services,
    newsletter_id: str,
    episode: store.OpenEpisode,
    entry: Entry,
    *,
    now: datetime,
) -> str:
    """Which list of the report an open episode belongs to."""
    since = episode.asked_at or episode.created_at
    with services.sessions() as session:
        if store.clicked_after(session, newsletter_id, episode.subscriber_id, since):
            return "clicked"
        if not store.is_subscribed(session, newsletter_id, episode.subscriber_id):
            return "left"
    if episode.asked_at is None or entry.deadline is None:
        return "unknown"  # left ``asking`` by a process that died mid-send: never resent
    return "remove" if entry.deadline <= now else "waiting"


def _close(
    services: Services,
    newsletter_id: str,
    episode_id: int,
    subscriber_id: int,
    verdict: str,
    *,
    now: datetime,
) -> None:
    state = {
        "clicked": EpisodeState.ACTIVE,
        "left": EpisodeState.LEFT,
        "remove": EpisodeState.REMOVED,
    }[verdict]
    with transaction(services.sessions) as session:
        if state is EpisodeState.REMOVED and _clicked_since_ask(session, episode_id):
            state = EpisodeState.ACTIVE  # a click that arrived while this run looked
        # A removal needs an accepted ask; a click or leaving also ends an unknown one.
        expect = [EpisodeState.ASKED] if state is EpisodeState.REMOVED else OPEN_STATES
        if not store.set_state(session, episode_id, state, at=now, expect=expect):
            return  # another runner (or the reader's answer) settled it first
        if state is EpisodeState.REMOVED:
            _remove(session, newsletter_id, subscriber_id)


def _clicked_since_ask(session: Session, episode_id: int) -> bool:
    episode = store.get_episode(session, episode_id)
    if episode is None or episode.asked_at is None:
        return False
    return store.clicked_after(
        session, episode.newsletter_id, episode.subscriber_id, episode.asked_at
    )


def _remove(session: Session, newsletter_id: str, subscriber_id: int) -> None:
    """Unsubscribe the reader with the reason ``inactive`` (an event and a consent record)."""
    subscriptions.unsubscribe(
        session,
        subscriber_id=subscriber_id,
        newsletter_id=newsletter_id,
        how=How.SUNSET,
        reason=INACTIVE,
    )
    log.info("sunset: subscriber %s removed from %s as inactive", subscriber_id, newsletter_id)


def _ask(
    services: Services, newsletter: NewsletterSettings, report: Report, *, now: datetime
) -> None:
    assert newsletter.sunset is not None
    with services.sessions() as session:
        window = store.tracked_window(session, newsletter.id, newsletter.sunset.after_issues)
        readers = store.inactive_readers(session, newsletter.id, window, now=now)
        clicks = store.last_human_clicks(session, newsletter.id, [r.subscriber_id for r in readers])
    report.window = [w.slug for w in window]
    deadline = now + newsletter.sunset.grace
    outgoing = open_outgoing(services) if readers and not report.dry_run else None
    try:
        for reader in readers:
            entry = Entry(
                reader.subscriber_id,
                reader.email,
                report.window,
                clicks.get(reader.subscriber_id),
                deadline=deadline,
            )
            if outgoing is not None:
                outcome = _ask_one(services, outgoing, newsletter.id, reader, window, now=now)
                entry = replace(entry, outcome=outcome, asked_at=now)
            report.ask.append(entry)
            if entry.outcome == "stopped":
                break  # the backend is down: the others are asked by a later run
    finally:
        if outgoing is not None:
            outgoing.close()


def _ask_one(
    services: Services,
    outgoing: Outgoing,
    newsletter_id: str,
    reader: store.Reader,
    window: Sequence[store.WindowSend],
    *,
    now: datetime,
) -> str:
    """Claim the reader's episode, send the email, record the outcome."""
    with transaction(services.sessions) as session:
        episode_id = store.claim_episode(
            session,
            subscriber_id=reader.subscriber_id,
            newsletter_id=newsletter_id,
            window=window,
            now=now,
        )
    if episode_id is None:
        # Another runner claimed this reader's episode first, or the reader left (an
        # unsubscribe, a pause, a suppression) after this run picked them.
        return "taken"
    ask = Ask(
        newsletter_id,
        reader.subscriber_id,
        episode_id,
        reader.email,
        reader.name,
        len(window),
        now + _grace(services, newsletter_id),
    )
    try:
        send_ask(services, outgoing, ask)
    except OutcomeUnknownError:
        log.exception("sunset: asking subscriber %s: outcome unknown", reader.subscriber_id)
        return "stopped"  # the row stays ``asking``: never resent, never used to remove
    except NewsletterError as exc:
        log.warning("sunset: asking subscriber %s failed: %s", reader.subscriber_id, exc)
        with transaction(services.sessions) as session:
            store.set_state(session, episode_id, EpisodeState.FAILED, at=now, error=str(exc))
        # A refusal is this reader's; anything else (backend down, a broken template)
        # would fail the next reader too: stop, a later run asks them.
        return "failed" if isinstance(exc, PermanentBackendError) else "stopped"
    with transaction(services.sessions) as session:
        store.set_state(
            session, episode_id, EpisodeState.ASKED, at=now, expect=[EpisodeState.ASKING]
        )
    return "asked"


def _grace(services: Services, newsletter_id: str) -> Any:
    sunset = services.settings.newsletter(newsletter_id).sunset
    assert sunset is not None
    return sunset.grace


class Answer(StrEnum):
    """What the "yes" page shows (and, posted, what was done)."""

    ASK = "ask"  # the question with its button (GET)
    KEPT = "kept"  # yes recorded (or it was already)
    BACK = "back"  # removed as inactive, the answer subscribed the reader again
    LEFT = "left"  # not subscribed by their own choice: the preferences page


def keep_status(services: Services, data: TokenData) -> Answer | None:
    """What a GET of the "yes" link shows; None when the token names no such episode.
    Reads only: a GET (a scanner's, a prefetch) never counts as yes."""
    with services.sessions() as session:
        episode = _episode_of(session, data)
        if episode is None:
            return None
        if store.is_subscribed(session, episode.newsletter_id, episode.subscriber_id):
            return Answer.ASK
        return Answer.ASK if _removed_by_us(session, episode) else Answer.LEFT


def answer_yes(
    services: Services, data: TokenData, *, now: datetime | None = None
) -> Answer | None:
    """The reader's POSTed yes: ends an open episode as ``kept``; after a removal as
    inactive, subscribes them again (the link was mailed to them: their own action)."""
    at = now or utcnow()
    with transaction(services.sessions) as session:
        episode = _episode_of(session, data)
        if episode is None:
            return None
        newsletter_id, subscriber_id = episode.newsletter_id, episode.subscriber_id
        if store.is_subscribed(session, newsletter_id, subscriber_id):
            store.set_state(session, episode.id, EpisodeState.KEPT, at=at, expect=OPEN_STATES)
            return Answer.KEPT
        if not _removed_by_us(session, episode):
            return Answer.LEFT
        try:
            subscriptions.resubscribe(
                session, subscriber_id=subscriber_id, newsletter_id=newsletter_id, how=How.LINK
            )
        except SubscriberError:
            return Answer.LEFT
        return Answer.BACK


def _episode_of(session: Session, data: TokenData) -> Any:
    if data.ref is None or data.newsletter_id is None:
        return None
    episode = store.get_episode(session, data.ref)
    if episode is None or episode.subscriber_id != data.subscriber_id:
        return None
    return episode if episode.newsletter_id == data.newsletter_id else None


def _removed_by_us(session: Session, episode: Any) -> bool:
    """Removed by this episode and not unsubscribed by the reader since, person active."""
    person = get_subscriber(session, episode.subscriber_id)
    if person is None or person.status != SubscriberStatus.ACTIVE:
        return False
    reason = store.latest_unsubscribe_reason(session, episode.newsletter_id, episode.subscriber_id)
    return episode.state == EpisodeState.REMOVED and reason == INACTIVE


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
