"""All tracking SQL: a send's links, hits written in batches, verdicts, report reads, erasure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, and_, delete, func, insert, select, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from newsletter.delivery.models import Delivery, DeliveryStatus, Send
from newsletter.tracking.classify import ReaderHit
from newsletter.tracking.models import Hit, SendDomain, TrackedLink, TrackedSend
from newsletter.tracking.rewrite import LinkRow
from subscribers.models import Event, Subscriber

_HITS = cast(Table, Hit.__table__)
#: (link index, kind, reader, provider, reason, at) of one hit.
HitRow = tuple[int, str, str, str, str, datetime]


def send_links(session: Session, send_id: int) -> list[LinkRow]:
    """Every tracked index of a send, in index order."""
    stmt = (
        select(TrackedLink.index, TrackedLink.kind, TrackedLink.url)
        .where(TrackedLink.send_id == send_id)
        .order_by(TrackedLink.index)
    )
    return [LinkRow(index, kind, url) for index, kind, url in session.execute(stmt)]


def add_links(session: Session, send_id: int, rows: Sequence[LinkRow]) -> bool:
    """Insert a send's new tracked indexes; False when another runner inserted first."""
    if not rows:
        return True
    values = [{"send_id": send_id, "index": r.index, "kind": r.kind, "url": r.url} for r in rows]
    try:
        with session.begin_nested():
            session.execute(insert(TrackedLink), values)
    except IntegrityError:
        return False
    return True


def record_send_mode(session: Session, send_id: int, mode: str) -> None:
    """Keep how a send is tracked; the first runner's answer stays."""
    if session.get(TrackedSend, send_id) is not None:
        return
    try:
        with session.begin_nested():
            session.execute(insert(TrackedSend), [{"send_id": send_id, "mode": mode}])
    except IntegrityError:
        pass  # another runner of the send recorded it first


def send_domain_provider(session: Session, send_id: int, domain: str) -> str | None:
    """The provider this send already counted ``domain`` under (None: not yet)."""
    stmt = select(SendDomain.provider).where(
        SendDomain.send_id == send_id, SendDomain.domain == domain
    )
    return session.scalar(stmt)


def add_send_domain(session: Session, send_id: int, domain: str, provider: str) -> bool:
    """Record the provider a send counts ``domain`` under; False when already recorded."""
    try:
        with session.begin_nested():
            session.execute(
                insert(SendDomain), [{"send_id": send_id, "domain": domain, "provider": provider}]
            )
    except IntegrityError:
        return False
    return True


def send_domain_providers(session: Session, send_id: int) -> dict[str, str]:
    """Domain → provider of every domain the send's MX lookups decided."""
    stmt = select(SendDomain.domain, SendDomain.provider).where(SendDomain.send_id == send_id)
    return {str(domain): str(provider) for domain, provider in session.execute(stmt)}


def insert_hits(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    """Write a batch of hits in one statement (executemany)."""
    if rows:
        session.execute(insert(_HITS), list(rows))


def subscribers_of_deliveries(session: Session, delivery_ids: Iterable[int]) -> dict[int, int]:
    """delivery id → subscriber id, for the per_reader hits of a batch."""
    ids = sorted(set(delivery_ids))
    if not ids:
        return {}
    stmt = select(Delivery.id, Delivery.subscriber_id).where(Delivery.id.in_(ids))
    return {int(d): int(s) for d, s in session.execute(stmt)}


def reader_hits(
    session: Session, readers: Iterable[tuple[int, str]]
) -> tuple[dict[tuple[int, str], list[ReaderHit]], dict[int, str]]:
    """(send, reader) → every hit of that reader, for the window rules; and each of those
    hits' stored verdict (hit id → reason)."""
    keys = sorted(set(readers))
    found: dict[tuple[int, str], list[ReaderHit]] = {key: [] for key in keys}
    stored: dict[int, str] = {}
    for start in range(0, len(keys), 400):
        chunk = keys[start : start + 400]
        stmt = select(
            Hit.send_id,
            Hit.reader,
            Hit.id,
            Hit.at,
            Hit.kind,
            Hit.link_index,
            Hit.method,
            Hit.hit_reason,
            Hit.reason,
        ).where(tuple_(Hit.send_id, Hit.reader).in_(chunk))
        for row in session.execute(stmt):
            hit = ReaderHit(row.id, row.at, row.kind, row.link_index, row.method, row.hit_reason)
            found[(row.send_id, row.reader)].append(hit)
            stored[row.id] = row.reason
    return found, stored


def set_reasons(session: Session, reasons: Mapping[int, str]) -> None:
    """Store changed final reasons (hit id → reason): one UPDATE per reason."""
    by_reason: dict[str, list[int]] = {}
    for hit_id, reason in reasons.items():
        by_reason.setdefault(reason, []).append(hit_id)
    for reason, ids in by_reason.items():
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            session.execute(update(Hit).where(Hit.id.in_(chunk)).values(reason=reason))


def get_send_by_slug(session: Session, slug: str) -> Send | None:
    """The send of an issue."""
    return session.scalars(select(Send).where(Send.issue_slug == slug)).first()


def recent_sends(session: Session, newsletter_id: str | None, *, limit: int) -> list[Send]:
    """The last sends (of one newsletter, or all), newest first."""
    stmt = select(Send).order_by(Send.id.desc()).limit(limit)
    if newsletter_id:
        stmt = stmt.where(Send.newsletter_id == newsletter_id)
    return list(session.scalars(stmt))


def delivered_domains(session: Session, send_id: int) -> dict[str, int]:
    """Accepted deliveries of a send counted by the address's domain (lower case), in SQL:
    a million-reader send is a few hundred rows, not a million addresses."""
    email = func.lower(Subscriber.email)
    if session.get_bind().dialect.name == "postgresql":
        domain = func.split_part(email, "@", 2)
    else:
        domain = func.substr(email, func.instr(email, "@") + 1)
    stmt = (
        select(domain, func.count())
        .select_from(Delivery)
        .join(Subscriber, Delivery.subscriber_id == Subscriber.id)
        .where(Delivery.send_id == send_id, Delivery.status == DeliveryStatus.ACCEPTED)
        .group_by(domain)
    )
    return {str(d): int(n) for d, n in session.execute(stmt)}


def accepted_without_subscriber(session: Session, send_id: int) -> int:
    """Accepted deliveries whose subscriber is gone (erased): counted as ``other``."""
    stmt = (
        select(func.count())
        .select_from(Delivery)
        .outerjoin(Subscriber, Delivery.subscriber_id == Subscriber.id)
        .where(
            Delivery.send_id == send_id,
            Delivery.status == DeliveryStatus.ACCEPTED,
            Subscriber.id.is_(None),
        )
    )
    return int(session.scalar(stmt) or 0)


def send_hits(session: Session, send_id: int) -> list[HitRow]:
    """(index, kind, reader, provider, reason, at) of every hit of a send."""
    stmt = select(Hit.link_index, Hit.kind, Hit.reader, Hit.provider, Hit.reason, Hit.at).where(
        Hit.send_id == send_id
    )
    return [tuple(row) for row in session.execute(stmt)]  # type: ignore[misc]


def unsubscribes_after(session: Session, send: Send) -> int:
    """Readers of the send who unsubscribed from its newsletter after it started."""
    since = send.started_at or send.created_at
    stmt = select(func.count(func.distinct(Event.subscriber_id))).where(
        Event.kind == "unsubscribed",
        Event.newsletter_id == send.newsletter_id,
        Event.created_at >= since,
        Event.subscriber_id.in_(select(Delivery.subscriber_id).where(Delivery.send_id == send.id)),
    )
    return int(session.scalar(stmt) or 0)


def subscriber_clicks(session: Session, subscriber_id: int) -> list[tuple[str, str, str, datetime]]:
    """A reader's own clicks (per_reader sends): (issue slug, url, reason, when)."""
    stmt = (
        select(Send.issue_slug, TrackedLink.url, Hit.reason, Hit.at)
        .join(Send, Send.id == Hit.send_id)
        .join(
            TrackedLink,
            and_(TrackedLink.send_id == Hit.send_id, TrackedLink.index == Hit.link_index),
        )
        .where(Hit.subscriber_id == subscriber_id, Hit.kind != "open")
        .order_by(Hit.at)
    )
    return [(str(s), str(u), str(r), at) for s, u, r, at in session.execute(stmt)]


def erase_subscriber_hits(session: Session, subscriber_id: int) -> int:
    """Delete every hit tied to a subscriber (erasure); how many."""
    deliveries = select(Delivery.id).where(Delivery.subscriber_id == subscriber_id)
    result = session.execute(
        delete(Hit).where((Hit.subscriber_id == subscriber_id) | Hit.delivery_id.in_(deliveries))
    )
    return int(getattr(result, "rowcount", 0) or 0)
