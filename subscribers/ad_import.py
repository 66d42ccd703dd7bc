"""The CSV import's ``ad_consent`` column: advertising consents given or withdrawn in bulk.

Set-based over the import's staging table (:mod:`subscribers.bulk`), after the people and
subscriptions are written: a ``true`` row gives the import's newsletter an advertising
consent (unless already given: its date stays; never back when withdrawn: it stays
withdrawn and is counted in ``ad_kept_withdrawn``), a ``false`` row withdraws a given one, an
empty cell changes nothing. Suppressed rows and opt-outs get no consent. Each change is an
``ad_consent_records`` row (source ``import``) and an event. Imports queue no result
notice: the consent was given elsewhere, where its result notice was due (docs/advertising.md);
the two-year notice counts from the import.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    String,
    Table,
    and_,
    case,
    exists,
    false,
    func,
    insert,
    literal,
    not_,
    select,
    true,
    update,
)
from sqlalchemy.orm import Session

from subscribers.ad_consent import AdConsent, AdConsentRecord, AdConsentStatus, anniversary
from subscribers.db import UTCDateTime, utcnow
from subscribers.events import EventKind, How
from subscribers.models import Event

#: Import actions whose rows end up following the newsletter (or waiting to confirm).
_TAKEN = ("new", "subscribe", "activate", "keep")


def _given(staging: Table, newsletter_id: str) -> Any:
    return _standing(staging, newsletter_id, AdConsentStatus.GIVEN)


def _standing(staging: Table, newsletter_id: str, status: AdConsentStatus) -> Any:
    return exists().where(
        AdConsent.subscriber_id == staging.c.subscriber_id,
        AdConsent.newsletter_id == newsletter_id,
        AdConsent.status == status,
    )


def _known(staging: Table, newsletter_id: str) -> Any:
    """The person already has a consent row for the newsletter, given or withdrawn."""
    return exists().where(
        AdConsent.subscriber_id == staging.c.subscriber_id,
        AdConsent.newsletter_id == newsletter_id,
    )


def _giving(staging: Table, newsletter_id: str) -> Any:
    # A withdrawn consent is never given back by an import: only the person can (their
    # own action on the form or preferences page); such rows are counted as kept.
    st = staging.c
    return and_(
        st.ad_consent.is_(true()),
        st.action.in_(_TAKEN),
        not_(and_(st.subscriber_id.is_not(None), _known(staging, newsletter_id))),
    )


def _kept_withdrawn(staging: Table, newsletter_id: str) -> Any:
    st = staging.c
    return and_(
        st.ad_consent.is_(true()),
        st.action.in_(_TAKEN),
        st.subscriber_id.is_not(None),
        _standing(staging, newsletter_id, AdConsentStatus.WITHDRAWN),
    )


def _withdrawing(staging: Table, newsletter_id: str) -> Any:
    st = staging.c
    return and_(
        st.ad_consent.is_(false()),
        st.subscriber_id.is_not(None),
        _given(staging, newsletter_id),
    )


def count(session: Session, staging: Table, newsletter_id: str) -> tuple[int, int, int]:
    """(consents the import gives, consents it withdraws, ``true`` rows whose withdrawn
    consent it keeps withdrawn), before anything is written."""
    given = session.scalar(
        select(func.count()).select_from(staging).where(_giving(staging, newsletter_id))
    )
    withdrawn = session.scalar(
        select(func.count()).select_from(staging).where(_withdrawing(staging, newsletter_id))
    )
    kept = session.scalar(
        select(func.count()).select_from(staging).where(_kept_withdrawn(staging, newsletter_id))
    )
    return int(given or 0), int(withdrawn or 0), int(kept or 0)


def apply(session: Session, staging: Table, newsletter_id: str, *, actor: str) -> None:
    """Write the column's consents and withdrawals (call after people have ids)."""
    st = staging.c
    now = utcnow()
    at = literal(now, UTCDateTime())
    session.execute(
        update(staging)
        .values(ad_action="give")
        .where(_giving(staging, newsletter_id), st.subscriber_id.is_not(None))
    )
    session.execute(
        update(staging).values(ad_action="withdraw").where(_withdrawing(staging, newsletter_id))
    )
    _records(session, staging, newsletter_id, at=at)
    _events(session, staging, newsletter_id, at=at, actor=actor)
    giving = select(st.subscriber_id).where(st.ad_action == "give")
    session.execute(
        update(AdConsent)
        .where(AdConsent.newsletter_id == newsletter_id, AdConsent.subscriber_id.in_(giving))
        .values(
            status=AdConsentStatus.GIVEN.value,
            source=How.IMPORT.value,
            given_at=now,
            withdrawn_at=None,
            next_notice_at=anniversary(now, 1),
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    present = exists().where(
        AdConsent.subscriber_id == st.subscriber_id, AdConsent.newsletter_id == newsletter_id
    )
    session.execute(
        insert(AdConsent).from_select(
            [
                *("subscriber_id", "newsletter_id", "status", "source", "given_at"),
                *("next_notice_at", "updated_at"),
            ],
            select(st.subscriber_id, literal(newsletter_id, String), literal("given"))
            .add_columns(literal(How.IMPORT.value), at)
            .add_columns(literal(anniversary(now, 1), UTCDateTime()), at)
            .where(st.ad_action == "give", not_(present))
            .order_by(st.line),
            include_defaults=False,
        )
    )
    withdrawing = select(st.subscriber_id).where(st.ad_action == "withdraw")
    session.execute(
        update(AdConsent)
        .where(AdConsent.newsletter_id == newsletter_id, AdConsent.subscriber_id.in_(withdrawing))
        .values(
            status=AdConsentStatus.WITHDRAWN.value,
            withdrawn_at=now,
            next_notice_at=None,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )


def _records(session: Session, staging: Table, newsletter_id: str, *, at: Any) -> None:
    st = staging.c
    action = case((st.ad_action == "give", "given"), else_="withdrawn")
    session.execute(
        insert(AdConsentRecord).from_select(
            [
                *("subscriber_id", "newsletter_id", "action", "source", "created_at"),
                *("ip", "user_agent", "wording_version"),
            ],
            select(st.subscriber_id, literal(newsletter_id, String), action)
            .add_columns(literal(How.IMPORT.value), at, literal(""), literal(""), literal(""))
            .where(st.ad_action.is_not(None))
            .order_by(st.line),
            include_defaults=False,
        )
    )


def _events(session: Session, staging: Table, newsletter_id: str, *, at: Any, actor: str) -> None:
    st = staging.c
    kind = case(
        (st.ad_action == "give", EventKind.AD_CONSENT_GIVEN.value),
        else_=EventKind.AD_CONSENT_WITHDRAWN.value,
    )
    session.execute(
        insert(Event).from_select(
            ["created_at", "subscriber_id", "newsletter_id", "kind", "how", "actor", "detail"],
            select(at, st.subscriber_id, literal(newsletter_id, String), kind)
            .add_columns(literal(How.IMPORT.value), literal(actor), literal({}, Event.detail.type))
            .where(st.ad_action.is_not(None))
            .order_by(st.line),
            include_defaults=False,
        )
    )
