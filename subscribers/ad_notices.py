"""The advertising notices' ledger: which notice is due, claimed, sent (all its SQL).

Exactly once per (person, newsletter, kind, period), whoever runs it:

- a periodic notice is claimed by inserting its ledger row (unique; ``ON CONFLICT DO
  NOTHING``): of two schedulers that find the same consent due, one inserts, the other
  gets nothing. The same transaction moves the consent's ``next_notice_at`` on.
- a result notice is written ``pending`` with the consent change and claimed by one
  ``UPDATE … WHERE status = 'pending'`` (``SKIP LOCKED`` on PostgreSQL).
- a claim older than :data:`STALE_CLAIM` (its runner crashed before marking it) is
  claimed again: a crash between the backend's acceptance and the mark can repeat a
  notice, never lose one.

Functions take a ``Session`` first and never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Table, and_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from subscribers.ad_consent import (
    AdConsent,
    AdConsentRecord,
    AdConsentStatus,
    AdNotice,
    NoticeKind,
    NoticeStatus,
    anniversary,
    periods_elapsed,
)
from subscribers.models import Subscriber, SubscriberStatus, Subscription, SubscriptionStatus

#: A notice claimed this long ago and still ``sending`` lost its runner: claim it again.
STALE_CLAIM = timedelta(minutes=10)


@dataclass(frozen=True)
class ClaimedNotice:
    """One notice this runner claimed: what writing the email needs."""

    notice_id: int
    kind: str
    subscriber_id: int
    newsletter_id: str
    email: str
    name: str
    locale: str
    # periodic: the date of consent; result: when the consent was given or withdrawn
    at: datetime
    action: str  # given / withdrawn (result notices); given (periodic)
    period: str


@dataclass(frozen=True)
class DueNotice:
    """A notice that is due now (``newsletter ads notices --dry-run``)."""

    kind: str
    subscriber_id: int
    email: str
    newsletter_id: str
    period: str
    at: datetime


def _insert(session: Session, table: Table | type[AdNotice]) -> postgresql.Insert | sqlite.Insert:
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def due_consents(session: Session, *, now: datetime, limit: int) -> list[AdConsent]:
    """Given consents whose two-year notice is due at ``now`` (by ``next_notice_at``)."""
    query = (
        select(AdConsent)
        .where(
            AdConsent.status == AdConsentStatus.GIVEN,
            AdConsent.next_notice_at.is_not(None),
            AdConsent.next_notice_at <= now,
        )
        .order_by(AdConsent.next_notice_at, AdConsent.id)
        .limit(limit)
    )
    return list(session.scalars(query))


def periodic_key(given_at: datetime, periods: int) -> str:
    """The ledger's period of a periodic notice: the consent's date and the period."""
    return f"{given_at.date().isoformat()}/{periods}"


def claim_periodic(session: Session, *, now: datetime, worker: str, limit: int) -> list[int]:
    """Claim the periodic notices due now; returns the ledger ids this runner won.

    For each due consent: the current period (two years, four years … after the consent;
    periods missed while nothing ran are not sent late one by one), its ledger row
    inserted unless it exists, and ``next_notice_at`` moved to the next period.
    """
    won: list[int] = []
    for consent in due_consents(session, now=now, limit=limit):
        assert consent.given_at is not None
        periods = max(1, periods_elapsed(consent.given_at, now))
        statement = (
            _insert(session, AdNotice)
            .values(
                subscriber_id=consent.subscriber_id,
                newsletter_id=consent.newsletter_id,
                kind=NoticeKind.PERIODIC.value,
                period=periodic_key(consent.given_at, periods),
                status=NoticeStatus.SENDING.value,
                created_at=now,
                claimed_at=now,
                claimed_by=worker,
                error="",
            )
            .on_conflict_do_nothing(
                index_elements=["subscriber_id", "newsletter_id", "kind", "period"]
            )
            .returning(AdNotice.id)
        )
        notice_id = session.scalar(statement)
        consent.next_notice_at = anniversary(consent.given_at, periods + 1)
        if notice_id is not None:
            won.append(int(notice_id))
    session.flush()
    return won


def claim_waiting(session: Session, *, now: datetime, worker: str, limit: int) -> list[int]:
    """Claim pending notices (result notices) and stale claims; returns their ids."""
    ledger: Table = AdNotice.__table__  # type: ignore[assignment]
    waiting = (
        select(ledger.c.id)
        .where(
            or_(
                ledger.c.status == NoticeStatus.PENDING.value,
                and_(
                    ledger.c.status == NoticeStatus.SENDING.value,
                    ledger.c.claimed_at < now - STALE_CLAIM,
                ),
            )
        )
        .order_by(ledger.c.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        waiting = waiting.with_for_update(skip_locked=True)
    claimed = session.execute(
        update(ledger)
        .where(ledger.c.id.in_(waiting.scalar_subquery()))
        .values(status=NoticeStatus.SENDING.value, claimed_at=now, claimed_by=worker)
        .returning(ledger.c.id)
    ).all()
    return sorted(int(row[0]) for row in claimed)


def still_mine(session: Session, notice_id: int, *, worker: str, now: datetime) -> bool:
    """Re-assert ``worker``'s claim just before sending: refresh ``claimed_at`` if the
    notice is still ``sending`` under its name; False when a later run took it back
    (the claim went stale), and then the notice is that run's to send, not this one's."""
    ledger: Table = AdNotice.__table__  # type: ignore[assignment]
    result = session.execute(
        update(ledger)
        .where(
            ledger.c.id == notice_id,
            ledger.c.claimed_by == worker,
            ledger.c.status == NoticeStatus.SENDING.value,
        )
        .values(claimed_at=now)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def claimed(session: Session, notice_ids: list[int]) -> list[ClaimedNotice]:
    """The claimed notices with what the email needs (erased people come back empty)."""
    if not notice_ids:
        return []
    query = (
        select(AdNotice, Subscriber.email, Subscriber.name, Subscriber.locale, AdConsent)
        .join(Subscriber, Subscriber.id == AdNotice.subscriber_id)
        .outerjoin(
            AdConsent,
            and_(
                AdConsent.subscriber_id == AdNotice.subscriber_id,
                AdConsent.newsletter_id == AdNotice.newsletter_id,
            ),
        )
        .where(AdNotice.id.in_(notice_ids))
        .order_by(AdNotice.id)
    )
    found = []
    for notice, email, name, locale, consent in session.execute(query):
        at, action = _what(session, notice, consent)
        found.append(
            ClaimedNotice(
                notice.id,
                notice.kind,
                notice.subscriber_id,
                notice.newsletter_id,
                email,
                name,
                locale,
                at,
                action,
                notice.period,
            )
        )
    return found


def _what(session: Session, notice: AdNotice, consent: AdConsent | None) -> tuple[datetime, str]:
    if notice.kind == NoticeKind.RESULT:
        record = session.get(AdConsentRecord, int(notice.period))
        if record is not None:
            return record.created_at, record.action
    given = consent.given_at if consent is not None and consent.given_at else notice.created_at
    return given, AdConsentStatus.GIVEN.value


def may_mail(session: Session, notice: ClaimedNotice) -> str:
    """Why this notice must not go out ("" when it may): the person is no longer mailable,
    or (periodic) no longer consents or no longer follows the newsletter."""
    person = session.get(Subscriber, notice.subscriber_id)
    if person is None or person.status != SubscriberStatus.ACTIVE:
        return f"subscriber is {person.status if person else 'gone'}"
    if notice.kind != NoticeKind.PERIODIC:
        return ""
    consent = session.scalar(
        select(AdConsent.status).where(
            AdConsent.subscriber_id == notice.subscriber_id,
            AdConsent.newsletter_id == notice.newsletter_id,
        )
    )
    if consent != AdConsentStatus.GIVEN:
        return "advertising consent withdrawn since"
    following = session.scalar(
        select(Subscription.status).where(
            Subscription.subscriber_id == notice.subscriber_id,
            Subscription.newsletter_id == notice.newsletter_id,
        )
    )
    if following != SubscriptionStatus.ACTIVE:
        return "no longer follows the newsletter"
    return ""


def mark(
    session: Session, notice_id: int, status: NoticeStatus, *, now: datetime, error: str = ""
) -> None:
    """Settle a claimed notice: sent, skipped (with why) or failed."""
    session.execute(
        update(AdNotice)
        .where(AdNotice.id == notice_id)
        .values(
            status=status.value,
            sent_at=now if status is NoticeStatus.SENT else None,
            error=error[:1000],
        )
        .execution_options(synchronize_session=False)
    )


def due_now(session: Session, *, now: datetime, limit: int = 1000) -> list[DueNotice]:
    """What a run at ``now`` would send (nothing is claimed): ``--dry-run``."""
    found = []
    for consent in due_consents(session, now=now, limit=limit):
        assert consent.given_at is not None
        periods = max(1, periods_elapsed(consent.given_at, now))
        key = periodic_key(consent.given_at, periods)
        exists = session.scalar(
            select(AdNotice.id).where(
                AdNotice.subscriber_id == consent.subscriber_id,
                AdNotice.newsletter_id == consent.newsletter_id,
                AdNotice.kind == NoticeKind.PERIODIC,
                AdNotice.period == key,
            )
        )
        if exists is None:
            email = session.scalar(
                select(Subscriber.email).where(Subscriber.id == consent.subscriber_id)
            )
            found.append(
                DueNotice(
                    "periodic",
                    consent.subscriber_id,
                    str(email),
                    consent.newsletter_id,
                    key,
                    consent.given_at,
                )
            )
    query = (
        select(AdNotice, Subscriber.email)
        .join(Subscriber, Subscriber.id == AdNotice.subscriber_id)
        .where(AdNotice.status == NoticeStatus.PENDING)
        .order_by(AdNotice.id)
        .limit(limit)
    )
    for notice, email in session.execute(query):
        found.append(
            DueNotice(
                notice.kind,
                notice.subscriber_id,
                email,
                notice.newsletter_id,
                notice.period,
                notice.created_at,
            )
        )
    return found


def notices_of(session: Session, *, subscriber_id: int | None = None) -> list[AdNotice]:
    """Ledger rows (of one person, or all), oldest first."""
    query = select(AdNotice).order_by(AdNotice.id)
    if subscriber_id is not None:
        query = query.where(AdNotice.subscriber_id == subscriber_id)
    return list(session.scalars(query))
