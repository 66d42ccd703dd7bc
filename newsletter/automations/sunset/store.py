"""All the sunset's SQL: the window of tracked issues, who is inactive in it, the ledger.

A click counts as a person's when tracking classified it so (``tracking_hits.reason`` empty)
and it was on a link (not the open pixel, not the hidden trap).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from newsletter.automations.sunset.models import OPEN_STATES, EpisodeState, SunsetEpisode
from newsletter.delivery.content import STEP_PREFIX
from newsletter.delivery.models import Delivery, DeliveryStatus, Send, SendStatus
from newsletter.tracking.models import Hit, LinkKind, TrackedSend
from subscribers.db import utcnow as _utcnow
from subscribers.events import EventKind
from subscribers.models import Event, Subscriber, Subscription, SubscriptionStatus
from subscribers.queries import eligible_clause


@dataclass(frozen=True)
class WindowSend:
    """One issue of the window: its send, slug and when it went out."""

    send_id: int
    slug: str
    sent_at: datetime


@dataclass(frozen=True)
class Reader:
    """A reader the rule judged inactive."""

    subscriber_id: int
    email: str
    name: str


@dataclass(frozen=True)
class OpenEpisode:
    """An episode still open: who, since when, and the window it judged."""

    id: int
    subscriber_id: int
    email: str
    name: str
    state: str
    created_at: datetime
    asked_at: datetime | None
    first_send_id: int
    last_send_id: int


def _sent_at() -> ColumnElement[datetime]:
    return func.coalesce(Send.started_at, Send.created_at)


def tracked_window(session: Session, newsletter_id: str, size: int) -> list[WindowSend]:
    """The newsletter's last ``size`` sent issues tracked per reader, oldest first; empty
    when fewer exist (then nobody can be judged). Sequence steps are not issues."""
    stmt = (
        select(Send.id, Send.issue_slug, _sent_at())
        .join(TrackedSend, TrackedSend.send_id == Send.id)
        .where(
            Send.newsletter_id == newsletter_id,
            Send.status == SendStatus.SENT,
            TrackedSend.mode == "per_reader",
            # A sequence step's send is no issue: each reader gets it at their own time.
            ~Send.issue_slug.startswith(STEP_PREFIX, autoescape=True),
        )
        .order_by(_sent_at().desc(), Send.id.desc())
        .limit(size)
    )
    rows = [WindowSend(int(i), str(slug), at) for i, slug, at in session.execute(stmt)]
    return list(reversed(rows)) if len(rows) == size else []


def _episode_since(subscriber_id: Any, newsletter_id: str, since: datetime) -> ColumnElement[bool]:
    """An episode of the reader still open, or closed at or after ``since``: a new episode
    is judged only on issues sent after the previous one ended."""
    return exists().where(
        SunsetEpisode.subscriber_id == subscriber_id,
        SunsetEpisode.newsletter_id == newsletter_id,
        or_(SunsetEpisode.closed_at.is_(None), SunsetEpisode.closed_at >= since),
    )


def _human_click() -> ColumnElement[bool]:
    return and_(Hit.kind == LinkKind.LINK, Hit.reason == "")


def inactive_readers(
    session: Session, newsletter_id: str, window: Sequence[WindowSend], *, now: datetime
) -> list[Reader]:
    """Readers of ``newsletter_id`` who may receive it now, were subscribed before the
    window's first issue, got every issue of it (accepted), clicked none of them as a
    person, and have no episode open or closed since that first issue."""
    if not window:
        return []
    ids = [w.send_id for w in window]
    since = window[0].sent_at
    got_all = (
        select(Delivery.subscriber_id)
        .where(Delivery.send_id.in_(ids), Delivery.status == DeliveryStatus.ACCEPTED)
        .group_by(Delivery.subscriber_id)
        .having(func.count() == len(ids))
    )
    clicked = exists().where(
        Hit.subscriber_id == Subscriber.id, Hit.send_id.in_(ids), _human_click()
    )
    recent_episode = _episode_since(Subscriber.id, newsletter_id, since)
    came_back = exists().where(
        Event.subscriber_id == Subscriber.id,
        Event.newsletter_id == newsletter_id,
        Event.kind == EventKind.RESUBSCRIBED,
        Event.created_at >= since,
    )
    joined = func.coalesce(Subscription.confirmed_at, Subscription.created_at)
    stmt = (
        select(Subscriber.id, Subscriber.email, Subscriber.name)
        .select_from(Subscriber)
        .join(Subscription, eligible_clause(newsletter_id, now))
        .where(
            Subscriber.id.in_(got_all),
            joined <= since,
            ~clicked,
            ~recent_episode,
            ~came_back,
        )
        .order_by(Subscriber.id)
    )
    return [Reader(int(i), str(email), str(name)) for i, email, name in session.execute(stmt)]


def last_human_clicks(
    session: Session, newsletter_id: str, subscriber_ids: Sequence[int]
) -> dict[int, datetime]:
    """Each reader's last click as a person on any issue of the newsletter (absent: never)."""
    if not subscriber_ids:
        return {}
    stmt = (
        select(Hit.subscriber_id, func.max(Hit.at))
        .join(Send, Send.id == Hit.send_id)
        .where(
            Send.newsletter_id == newsletter_id,
            Hit.subscriber_id.in_(subscriber_ids),
            _human_click(),
        )
        .group_by(Hit.subscriber_id)
    )
    return {int(i or 0): at for i, at in session.execute(stmt)}


def send_slugs(session: Session, send_ids: Sequence[int]) -> dict[int, str]:
    """The issue slug of each send."""
    stmt = select(Send.id, Send.issue_slug).where(Send.id.in_(send_ids))
    return {int(i): str(slug) for i, slug in session.execute(stmt)}


def claim_episode(
    session: Session,
    *,
    subscriber_id: int,
    newsletter_id: str,
    window: Sequence[WindowSend],
    now: datetime | None = None,
) -> int | None:
    """Start the reader's next episode (state ``asking``); None when another runner did
    (the unique (subscriber, newsletter, episode) row decides), or when the reader may no
    longer be mailed (unsubscribed, paused, suppressed since the run picked them).

    Eligibility is checked here, in the claim's transaction, with the clause the delivery
    engine uses at each batch claim: a run picks its readers once, then asks them one by
    one, and someone who left in between must get no ask.
    """
    if not _still_eligible(session, subscriber_id, newsletter_id, now or _utcnow()):
        return None
    # The latest number first, the check second: a runner whose row commits between the
    # two is seen by the check; one that commits later holds the same number, and the
    # unique row refuses the second insert. (Checked first, a row committed in between
    # would give this runner the next number and a second email.)
    latest = session.scalar(
        select(func.max(SunsetEpisode.episode)).where(
            SunsetEpisode.subscriber_id == subscriber_id,
            SunsetEpisode.newsletter_id == newsletter_id,
        )
    )
    if session.scalar(select(_episode_since(subscriber_id, newsletter_id, window[0].sent_at))):
        return None  # another runner asked (or closed an episode) since the window began
    row = SunsetEpisode(
        subscriber_id=subscriber_id,
        newsletter_id=newsletter_id,
        episode=(latest or 0) + 1,
        state=EpisodeState.ASKING,
        first_send_id=window[0].send_id,
        last_send_id=window[-1].send_id,
        error="",
    )
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        return None
    return row.id


def _still_eligible(
    session: Session, subscriber_id: int, newsletter_id: str, now: datetime
) -> bool:
    """Whether the subscription may be mailed now. Its row is share-locked (PostgreSQL)
    until the claim commits, so an unsubscribe waits for the claim or is seen by it, while
    two runners' claims do not wait for each other."""
    query = (
        select(Subscription.id)
        .select_from(Subscription)
        .join(Subscriber, Subscriber.id == Subscription.subscriber_id)
        .where(Subscriber.id == subscriber_id, eligible_clause(newsletter_id, now))
        .with_for_update(read=True, of=Subscription)
    )
    return session.scalar(query) is not None


def set_state(
    session: Session,
    episode_id: int,
    state: EpisodeState,
    *,
    at: datetime,
    expect: Sequence[str] = OPEN_STATES,
    error: str = "",
) -> bool:
    """Move an episode to ``state`` if it is in one of ``expect``; False when it was not
    (someone else moved it first). ``asked`` sets ``asked_at``, the others close it."""
    values: dict[str, object] = {"state": state}
    if state == EpisodeState.ASKED:
        values["asked_at"] = at
    else:
        values["closed_at"] = at
    if error:
        values["error"] = error[:2000]
    result = session.execute(
        update(SunsetEpisode)
        .where(SunsetEpisode.id == episode_id, SunsetEpisode.state.in_(list(expect)))
        .values(**values)
    )
    return bool(getattr(result, "rowcount", 0))


def get_episode(session: Session, episode_id: int) -> SunsetEpisode | None:
    """One episode by id."""
    return session.get(SunsetEpisode, episode_id)


def open_episodes(session: Session, newsletter_id: str) -> list[OpenEpisode]:
    """The newsletter's open episodes with the reader's address, oldest first."""
    stmt = (
        select(
            SunsetEpisode.id,
            SunsetEpisode.subscriber_id,
            Subscriber.email,
            Subscriber.name,
            SunsetEpisode.state,
            SunsetEpisode.created_at,
            SunsetEpisode.asked_at,
            SunsetEpisode.first_send_id,
            SunsetEpisode.last_send_id,
        )
        .join(Subscriber, Subscriber.id == SunsetEpisode.subscriber_id)
        .where(
            SunsetEpisode.newsletter_id == newsletter_id,
            SunsetEpisode.state.in_(list(OPEN_STATES)),
        )
        .order_by(SunsetEpisode.id)
    )
    return [OpenEpisode(*row) for row in session.execute(stmt)]


def clicked_after(session: Session, newsletter_id: str, subscriber_id: int, at: datetime) -> bool:
    """Whether the reader clicked, as a person, any issue of the newsletter after ``at``."""
    stmt = (
        select(Hit.id)
        .join(Send, Send.id == Hit.send_id)
        .where(
            Send.newsletter_id == newsletter_id,
            Hit.subscriber_id == subscriber_id,
            Hit.at > at,
            _human_click(),
        )
        .limit(1)
    )
    return session.scalar(stmt) is not None


def is_subscribed(session: Session, newsletter_id: str, subscriber_id: int) -> bool:
    """Whether the reader still follows the newsletter (subscription active, person active)."""
    stmt = (
        select(Subscription.id)
        .join(Subscriber, Subscriber.id == Subscription.subscriber_id)
        .where(
            Subscription.subscriber_id == subscriber_id,
            Subscription.newsletter_id == newsletter_id,
            Subscription.status == SubscriptionStatus.ACTIVE,
            Subscriber.status == "active",
        )
    )
    return session.scalar(stmt) is not None


def latest_unsubscribe_reason(
    session: Session, newsletter_id: str, subscriber_id: int
) -> str | None:
    """The ``reason`` of the reader's latest unsubscribe from the newsletter ("" when they
    asked for it themselves; None: never unsubscribed)."""
    stmt = (
        select(Event.detail)
        .where(
            Event.subscriber_id == subscriber_id,
            Event.newsletter_id == newsletter_id,
            Event.kind == EventKind.UNSUBSCRIBED,
        )
        .order_by(Event.id.desc())
        .limit(1)
    )
    detail = session.execute(stmt).first()
    if detail is None:
        return None
    return str((detail[0] or {}).get("reason", ""))


def state_counts(session: Session, newsletter_id: str) -> dict[str, int]:
    """How many episodes of the newsletter are in each state."""
    stmt = (
        select(SunsetEpisode.state, func.count())
        .where(SunsetEpisode.newsletter_id == newsletter_id)
        .group_by(SunsetEpisode.state)
    )
    return {str(state): int(n) for state, n in session.execute(stmt)}


def dashboard_counts(session: Session, newsletter_id: str) -> dict[str, int]:
    """The dashboard's figures: readers asked (the email went out), waiting for an answer,
    kept (said yes), back by a click, removed as inactive."""
    counts = state_counts(session, newsletter_id)
    went_out = (EpisodeState.ASKED, EpisodeState.KEPT, EpisodeState.ACTIVE, EpisodeState.LEFT)
    return {
        "asked": sum(counts.get(s, 0) for s in (*went_out, EpisodeState.REMOVED)),
        "waiting": counts.get(EpisodeState.ASKED, 0),
        "kept": counts.get(EpisodeState.KEPT, 0),
        "clicked": counts.get(EpisodeState.ACTIVE, 0),
        "removed": counts.get(EpisodeState.REMOVED, 0),
    }
