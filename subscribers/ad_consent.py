"""Advertising consent (정보통신망법 제50조): separate from following a newsletter.

A person may follow a newsletter without agreeing to its advertising (영리목적 광고성 정보).
The consent is kept **per newsletter** (each newsletter may have its own sender, and the
law binds the sender), in three tables:

- ``ad_consents``: the current standing per (person, newsletter): ``given`` or
  ``withdrawn``, the date of the consent the two-year notice counts from, and the instant
  the next two-year notice is due (``next_notice_at``, indexed: the scheduler's query).
- ``ad_consent_records``: append-only, one row per consent given or withdrawn: source,
  timestamp, IP and user agent where the form gives them (what a regulator asks to see).
- ``ad_notices``: the ledger of notices to the person, unique per (person, newsletter,
  kind, period): a result notice per consent record, a periodic notice per two years.

Like the rest of the store, functions take a ``Session`` first, write an event, and never
commit. Nothing here imports ``newsletter``.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Sequence
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    ColumnElement,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    delete,
    exists,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from subscribers.db import Base, utcnow
from subscribers.events import EventKind, record_event
from subscribers.models import Subscriber

#: How often the person is reminded of their consent (시행령 제62조의3: every two years).
NOTICE_YEARS = 2


class AdConsentStatus(StrEnum):
    """Where a person stands with one newsletter's advertising."""

    GIVEN = "given"
    WITHDRAWN = "withdrawn"


class NoticeKind(StrEnum):
    """The two notices the law asks for."""

    RESULT = "result"  # within 14 days of a consent given or withdrawn (제50조 제7항)
    PERIODIC = "periodic"  # every two years after the consent (시행령 제62조의3)


class NoticeStatus(StrEnum):
    """A notice's way through the ledger."""

    PENDING = "pending"  # written with the consent change, not claimed yet
    SENDING = "sending"  # claimed by a runner (a stale claim is taken again)
    SENT = "sent"
    SKIPPED = "skipped"  # nobody to mail (the person is erased, bounced, suppressed)
    FAILED = "failed"  # the backend refused it


class AdConsent(Base):
    """One person's standing with one newsletter's advertising."""

    __tablename__ = "ad_consents"
    __table_args__ = (
        UniqueConstraint("subscriber_id", "newsletter_id"),
        Index("ix_ad_consents_audience", "newsletter_id", "status", "subscriber_id"),
        Index("ix_ad_consents_next_notice_at", "next_notice_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    newsletter_id: Mapped[str] = mapped_column(ForeignKey("newsletters.id"))
    status: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16), default="")
    given_at: Mapped[datetime | None] = mapped_column(default=None)
    withdrawn_at: Mapped[datetime | None] = mapped_column(default=None)
    # When the next two-year notice is due; NULL while withdrawn.
    next_notice_at: Mapped[datetime | None] = mapped_column(default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class AdConsentRecord(Base):
    """One consent given or withdrawn: who, when, how, from where (append-only)."""

    __tablename__ = "ad_consent_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), index=True
    )
    newsletter_id: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(16))  # given, withdrawn
    source: Mapped[str] = mapped_column(String(16))  # form, preferences, import, api, admin, link
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    ip: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(Text, default="")
    wording_version: Mapped[str] = mapped_column(String(32), default="")
    # The sign-up consent record it came with (form sign-ups, confirmed by the mailed link).
    consent_record_id: Mapped[int | None] = mapped_column(default=None)


class AdNotice(Base):
    """The ledger of notices: one row per (person, newsletter, kind, period), unique."""

    __tablename__ = "ad_notices"
    __table_args__ = (
        UniqueConstraint("subscriber_id", "newsletter_id", "kind", "period"),
        Index("ix_ad_notices_status", "status", "claimed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    newsletter_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    # result: the consent record's id; periodic: "<date of consent>/<n>" (n two-year periods)
    period: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default=NoticeStatus.PENDING)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(default=None)
    claimed_by: Mapped[str] = mapped_column(String(64), default="")
    sent_at: Mapped[datetime | None] = mapped_column(default=None)
    error: Mapped[str] = mapped_column(Text, default="")


def anniversary(given_at: datetime, periods: int) -> datetime:
    """``given_at`` plus ``periods`` × two calendar years (29 February → 28 February)."""
    year = given_at.year + NOTICE_YEARS * periods
    day = min(given_at.day, calendar.monthrange(year, given_at.month)[1])
    return given_at.replace(year=year, day=day)


def periods_elapsed(given_at: datetime, now: datetime) -> int:
    """How many whole two-year periods have passed since ``given_at`` at ``now``."""
    periods = max(0, (now.year - given_at.year) // NOTICE_YEARS)
    while periods and anniversary(given_at, periods) > now:
        periods -= 1
    while anniversary(given_at, periods + 1) <= now:
        periods += 1
    return periods


def ad_clause(newsletter_id: str) -> ColumnElement[bool]:
    """The condition "the ``subscribers`` row has an active advertising consent for
    ``newsletter_id``", for set-based SQL next to ``queries.eligible_clause``."""
    return exists().where(
        AdConsent.subscriber_id == Subscriber.id,
        AdConsent.newsletter_id == newsletter_id,
        AdConsent.status == AdConsentStatus.GIVEN,
    )


def consents_of(session: Session, subscriber_id: int) -> dict[str, AdConsent]:
    """The person's advertising standing by newsletter id (absent: never asked)."""
    rows = session.scalars(select(AdConsent).where(AdConsent.subscriber_id == subscriber_id))
    return {row.newsletter_id: row for row in rows}


def given_pairs(session: Session, subscriber_ids: Sequence[int]) -> set[tuple[int, str]]:
    """(person, newsletter) pairs with an active advertising consent, among these people."""
    if not subscriber_ids:
        return set()
    query = select(AdConsent.subscriber_id, AdConsent.newsletter_id).where(
        AdConsent.subscriber_id.in_(list(subscriber_ids)),
        AdConsent.status == AdConsentStatus.GIVEN,
    )
    return {(int(sid), str(nl)) for sid, nl in session.execute(query)}


def given_newsletters(session: Session, subscriber_id: int) -> list[str]:
    """The newsletters whose advertising the person agreed to, by id."""
    return sorted(
        n for n, row in consents_of(session, subscriber_id).items() if row.status == "given"
    )


def give(
    session: Session,
    *,
    subscriber_id: int,
    newsletter_ids: Iterable[str],
    source: str,
    ip: str = "",
    user_agent: str = "",
    wording_version: str = "",
    consent_record_id: int | None = None,
    actor: str = "",
    notify: bool = True,
    at: datetime | None = None,
) -> list[str]:
    """Record the person's advertising consent for ``newsletter_ids``; returns those newly
    given (already given ones are left as they are, their date unchanged).

    ``notify`` queues the result notice (제50조 제7항); ``at`` backdates the consent (tests,
    and imports that carry the date).
    """
    now = at or utcnow()
    current = consents_of(session, subscriber_id)
    changed = []
    for newsletter_id in dict.fromkeys(newsletter_ids):
        row = current.get(newsletter_id)
        if row is not None and row.status == AdConsentStatus.GIVEN:
            continue
        if row is None:
            row = AdConsent(subscriber_id=subscriber_id, newsletter_id=newsletter_id)
            session.add(row)
        row.status, row.source, row.given_at = AdConsentStatus.GIVEN, source, now
        row.withdrawn_at, row.updated_at = None, now
        row.next_notice_at = anniversary(now, 1)
        _record(
            session,
            subscriber_id,
            newsletter_id,
            AdConsentStatus.GIVEN,
            source=source,
            at=now,
            notify=notify,
            ip=ip,
            user_agent=user_agent,
            wording_version=wording_version,
            consent_record_id=consent_record_id,
            actor=actor,
        )
        changed.append(newsletter_id)
    session.flush()
    return changed


def withdraw(
    session: Session,
    *,
    subscriber_id: int,
    newsletter_ids: Iterable[str] | None = None,
    source: str,
    ip: str = "",
    user_agent: str = "",
    actor: str = "",
    notify: bool = True,
) -> list[str]:
    """Withdraw the advertising consent (for ``newsletter_ids``, or all when None); returns
    the newsletters withdrawn now. Honoured by the very next batch of any send."""
    now = utcnow()
    wanted = None if newsletter_ids is None else set(newsletter_ids)
    changed = []
    for newsletter_id, row in sorted(consents_of(session, subscriber_id).items()):
        if row.status != AdConsentStatus.GIVEN or (
            wanted is not None and newsletter_id not in wanted
        ):
            continue
        row.status, row.withdrawn_at, row.updated_at = AdConsentStatus.WITHDRAWN, now, now
        row.next_notice_at = None
        _record(
            session,
            subscriber_id,
            newsletter_id,
            AdConsentStatus.WITHDRAWN,
            source=source,
            at=now,
            notify=notify,
            ip=ip,
            user_agent=user_agent,
            actor=actor,
        )
        changed.append(newsletter_id)
    session.flush()
    return changed


def set_consent(
    session: Session,
    *,
    subscriber_id: int,
    newsletter_ids: Sequence[str],
    wanted: set[str],
    source: str,
    ip: str = "",
    user_agent: str = "",
) -> tuple[list[str], list[str]]:
    """The preferences toggle: of ``newsletter_ids`` (those shown), give ``wanted`` and
    withdraw the rest; returns (given now, withdrawn now)."""
    given = give(
        session,
        subscriber_id=subscriber_id,
        newsletter_ids=[n for n in newsletter_ids if n in wanted],
        source=source,
        ip=ip,
        user_agent=user_agent,
    )
    withdrawn = withdraw(
        session,
        subscriber_id=subscriber_id,
        newsletter_ids=[n for n in newsletter_ids if n not in wanted],
        source=source,
        ip=ip,
        user_agent=user_agent,
    )
    return given, withdrawn


def _record(
    session: Session,
    subscriber_id: int,
    newsletter_id: str,
    action: AdConsentStatus,
    *,
    source: str,
    at: datetime,
    notify: bool,
    ip: str = "",
    user_agent: str = "",
    wording_version: str = "",
    consent_record_id: int | None = None,
    actor: str = "",
) -> None:
    record = AdConsentRecord(
        subscriber_id=subscriber_id,
        newsletter_id=newsletter_id,
        action=action.value,
        source=source,
        created_at=at,
        ip=ip,
        user_agent=user_agent,
        wording_version=wording_version,
        consent_record_id=consent_record_id,
    )
    session.add(record)
    session.flush()
    if notify:
        session.add(
            AdNotice(
                subscriber_id=subscriber_id,
                newsletter_id=newsletter_id,
                kind=NoticeKind.RESULT,
                period=str(record.id),
                status=NoticeStatus.PENDING,
                created_at=at,
            )
        )
    kind = (
        EventKind.AD_CONSENT_GIVEN
        if action is AdConsentStatus.GIVEN
        else EventKind.AD_CONSENT_WITHDRAWN
    )
    record_event(
        session,
        kind,
        subscriber_id=subscriber_id,
        newsletter_id=newsletter_id,
        how=source,
        actor=actor,
        detail={"ad_consent_record_id": record.id},
    )


def records_of(session: Session, subscriber_id: int) -> list[AdConsentRecord]:
    """Every advertising consent record of one person, oldest first (export)."""
    query = (
        select(AdConsentRecord)
        .where(AdConsentRecord.subscriber_id == subscriber_id)
        .order_by(AdConsentRecord.id)
    )
    return list(session.scalars(query))


def record_dict(record: AdConsentRecord) -> dict[str, object]:
    """One record as JSON-ready data (the person's data export)."""
    return {
        "newsletter": record.newsletter_id,
        "action": record.action,
        "source": record.source,
        "at": record.created_at.isoformat(),
        "ip": record.ip,
        "user_agent": record.user_agent,
        "wording_version": record.wording_version,
    }


def forget(session: Session, subscriber_id: int) -> None:
    """Erasure: drop the person's advertising consents, records and notices."""
    for table in (AdNotice, AdConsentRecord, AdConsent):
        session.execute(delete(table).where(table.subscriber_id == subscriber_id))
