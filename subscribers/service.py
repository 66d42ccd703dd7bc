"""State changes of the subscriber store: subscribe, confirm, unsubscribe, preferences.

Every function takes the caller's ``Session`` first and keyword-only arguments after it,
writes an event for each change of state, and never commits: the caller owns the
transaction. Rules kept here and nowhere else:

- Nobody is mailed before confirming: form sign-ups are ``pending`` until :func:`confirm`.
  Single opt-in (``confirmed=True``) is for admin, import and API sources, and is recorded.
- The consent record is written (and flushed) before the caller sends any confirmation.
- Nothing a form sign-up says about an existing person takes effect before that person
  uses the link mailed to their address: the new name, timezone or locale wait in the
  consent record (``changes``) and new newsletters wait ``pending``; :func:`confirm` of
  that consent record applies exactly them. A stranger who knows the address changes
  nothing anyone sees (issue 11).
- An opt-out is never lost: admin and import never turn an ``unsubscribed`` subscription
  back on, and never touch a suppressed address. Only the person's own form sign-up plus
  confirmation lifts a suppression, and a form sign-up reaches a suppressed address only
  as :func:`check_automated_mail` allows: never after a complaint, not within
  ``BOUNCE_QUIET`` of a hard bounce, then one try (which restarts the quiet period).

Bounces, complaints, export and erasure live in :mod:`subscribers.privacy`.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from subscribers import ad_consent, zones
from subscribers.addresses import address_hash, clean_name, parse_address
from subscribers.db import utcnow
from subscribers.errors import Suppressed, UnknownNewsletter
from subscribers.events import EventKind, How, record_event
from subscribers.models import (
    ConsentRecord,
    Newsletter,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionStatus,
    Suppression,
)
from subscribers.queries import (
    find_by_normalized,
    require_subscriber,
    subscriptions_of,
    unconfirmed_consent,
)

_LIVE = (SubscriptionStatus.ACTIVE, SubscriptionStatus.PENDING)
#: After a hard bounce, no automated mail (a confirmation email) to the address this long.
BOUNCE_QUIET = timedelta(days=30)


class Source(StrEnum):
    """Where a sign-up came from (kept in the consent record)."""

    FORM = "form"
    IMPORT = "import"
    ADMIN = "admin"
    API = "api"


@dataclass(frozen=True)
class SubscribeResult:
    """What :func:`subscribe` did; send a confirmation when ``needs_confirmation``."""

    subscriber_id: int
    consent_id: int
    pending: tuple[str, ...]
    active: tuple[str, ...]
    unchanged: tuple[str, ...]
    changes: tuple[str, ...] = ()

    @property
    def needs_confirmation(self) -> bool:
        """Whether some newsletter or some change waits for the person's confirmation."""
        return bool(self.pending or self.changes)


def subscribe(
    session: Session,
    *,
    email: str,
    newsletters: Sequence[str],
    name: str = "",
    source: Source | str = Source.FORM,
    confirmed: bool = False,
    ip: str = "",
    user_agent: str = "",
    wording_version: str = "",
    locale: str = "",
    timezone: str = "",
    actor: str = "",
    advertising: bool = False,
) -> SubscribeResult:
    """Sign ``email`` up to ``newsletters``: pending (double opt-in) unless ``confirmed``.

    ``advertising``: the person also agrees to these newsletters' advertising (the
    unticked box; :mod:`subscribers.ad_consent`). Like every other change a form sign-up
    asks for, it waits in the consent record's ``changes`` until the mailed link is used.

    ``confirmed`` (single opt-in) is refused for form sign-ups. A suppressed address or an
    unsubscribed subscription is only touched by the person's own form sign-up.
    """
    origin = Source(source)
    if confirmed and origin is Source.FORM:
        raise ValueError("form sign-ups are always double opt-in")
    timezone = timezone.strip()
    if timezone:
        check_timezone(timezone)
    require_newsletters(session, newsletters)
    address = parse_address(email)
    digest = address_hash(address.normalized)
    person = find_by_normalized(session, address.normalized)
    suppressed = session.get(Suppression, digest) is not None or (
        person is not None and person.status != SubscriberStatus.ACTIVE
    )
    if suppressed and origin is not Source.FORM:
        raise Suppressed(f"{address.email}: address is suppressed; only its owner can opt in")
    if suppressed:
        check_automated_mail(session, email_hash=digest, person=person)
    if person is None:
        person = Subscriber(
            email=address.email,
            email_normalized=address.normalized,
            email_hash=digest,
            name=clean_name(name),
            locale=locale,
            timezone=timezone,
            status=SubscriberStatus.ACTIVE,
        )
        session.add(person)
        session.flush()
    changes = _asked_changes(person, name=name, timezone=timezone, locale=locale)
    if advertising:
        changes[AD_CHANGE] = ",".join(dict.fromkeys(newsletters))
    if confirmed:
        _apply_changes(person, changes)  # single opt-in sources speak for the person
        changes = {}
    now = utcnow()
    consent = ConsentRecord(
        subscriber_id=person.id,
        created_at=now,
        source=origin.value,
        ip=ip,
        user_agent=user_agent,
        wording_version=wording_version,
        newsletters=list(newsletters),
        confirmed_at=now if confirmed else None,
        changes=changes or None,
    )
    session.add(consent)
    session.flush()  # the consent record exists before any confirmation email goes out
    if confirmed and advertising:
        _give_advertising(session, consent, list(newsletters), ip=ip)
    existing = {s.newsletter_id: s for s in subscriptions_of(session, person.id)}
    outcomes: dict[str, list[str]] = {"pending": [], "active": [], "unchanged": []}
    for newsletter_id in dict.fromkeys(newsletters):
        outcome = _subscribe_one(
            session,
            person,
            existing.get(newsletter_id),
            newsletter_id,
            origin=origin,
            confirmed=confirmed,
            reconfirm=suppressed,
            actor=actor,
            consent_id=consent.id,
        )
        outcomes[outcome].append(newsletter_id)
    session.flush()
    return SubscribeResult(
        subscriber_id=person.id,
        consent_id=consent.id,
        pending=tuple(outcomes["pending"]),
        active=tuple(outcomes["active"]),
        unchanged=tuple(outcomes["unchanged"]),
        changes=tuple(sorted(changes)),
    )


def check_automated_mail(session: Session, *, email_hash: str, person: Subscriber | None) -> None:
    """Raise ``Suppressed`` unless a confirmation email may go to this suppressed address.

    A complaint means no automated mail ever again (the person writes to the editor). A
    hard bounce means none for ``BOUNCE_QUIET``; after that one try is allowed, and the try
    restarts the quiet period (a second sign-up the same day sends nothing). Other
    suppressions (erasure) let the person's own sign-up through, as before.
    """
    suppression = session.get(Suppression, email_hash)
    reason = suppression.reason if suppression is not None else ""
    status = person.status if person is not None else ""
    if SubscriberStatus.COMPLAINED in (reason, status):
        raise Suppressed("this address complained: no automated mail to it, ever")
    if SubscriberStatus.BOUNCED not in (reason, status) or suppression is None:
        return
    now = utcnow()
    if now - suppression.created_at < BOUNCE_QUIET:
        raise Suppressed("this address bounced recently: no automated mail to it yet")
    suppression.created_at = now  # this is the one try


#: The key of a sign-up's ``changes`` that holds the newsletters whose advertising it agrees to.
AD_CHANGE = "advertising"


def _give_advertising(
    session: Session, consent: ConsentRecord, newsletters: list[str], *, ip: str
) -> None:
    """The sign-up's advertising consent, now that it is confirmed (or single opt-in)."""
    ad_consent.give(
        session,
        subscriber_id=consent.subscriber_id,
        newsletter_ids=newsletters,
        source=consent.source,
        ip=consent.ip or ip,
        user_agent=consent.user_agent,
        wording_version=consent.wording_version,
        consent_record_id=consent.id,
    )


def _asked_changes(person: Subscriber, *, name: str, timezone: str, locale: str) -> dict[str, str]:
    """What a sign-up would change on the stored person: only non-empty values that differ."""
    asked = {"name": clean_name(name), "timezone": timezone.strip(), "locale": locale.strip()}
    return {key: value for key, value in asked.items() if value and getattr(person, key) != value}


def _apply_changes(person: Subscriber, changes: dict[str, str]) -> None:
    for key in ("name", "timezone", "locale"):
        if key in changes:
            setattr(person, key, changes[key])


def _subscribe_one(
    session: Session,
    person: Subscriber,
    current: Subscription | None,
    newsletter_id: str,
    *,
    origin: Source,
    confirmed: bool,
    reconfirm: bool,
    actor: str,
    consent_id: int,
) -> str:
    """Apply one newsletter of a sign-up; returns ``pending``, ``active`` or ``unchanged``."""
    now = utcnow()
    detail = {"consent_id": consent_id, "confirmed": confirmed}
    if current is None:
        status = SubscriptionStatus.ACTIVE if confirmed else SubscriptionStatus.PENDING
        session.add(
            Subscription(
                subscriber_id=person.id,
                newsletter_id=newsletter_id,
                status=status,
                source=origin.value,
                created_at=now,
                confirmed_at=now if confirmed else None,
            )
        )
        record_event(
            session,
            EventKind.SUBSCRIBED,
            subscriber_id=person.id,
            newsletter_id=newsletter_id,
            how=origin.value,
            actor=actor,
            detail=detail,
        )
        return status.value
    if current.status == SubscriptionStatus.ACTIVE and not reconfirm:
        return "unchanged"
    if current.status == SubscriptionStatus.PENDING and not confirmed:
        return "pending"  # the caller sends the confirmation again
    if current.status == SubscriptionStatus.UNSUBSCRIBED and origin is not Source.FORM:
        return "unchanged"  # an opt-out is only undone by the person
    if confirmed:
        _activate(session, current, how=origin.value, actor=actor)
        return "active"
    current.status = SubscriptionStatus.PENDING
    current.source = origin.value
    record_event(
        session,
        EventKind.SUBSCRIBED,
        subscriber_id=person.id,
        newsletter_id=newsletter_id,
        how=origin.value,
        actor=actor,
        detail=detail,
    )
    return "pending"


def confirm(
    session: Session,
    *,
    subscriber_id: int,
    newsletter_id: str | None = None,
    ip: str = "",
    consent_id: int | None = None,
) -> list[str]:
    """Confirm the person's pending subscriptions (one newsletter, or all of them).

    With ``consent_id`` (the consent record the mailed link names) only that sign-up is
    confirmed: its newsletters, and the changes it asked for (name, timezone, locale) are
    applied now. This is the person's own opt-in: it re-activates them and lifts a
    suppression of their address. Returns the newsletters confirmed now; confirming twice
    confirms nothing.
    """
    person = require_subscriber(session, subscriber_id)
    consent = unconfirmed_consent(session, subscriber_id, consent_id)
    if consent_id is not None and consent is None:
        return []  # that sign-up was confirmed already (or is not this person's)
    wanted = set(consent.newsletters) if consent_id is not None and consent else None
    waiting = [
        s
        for s in subscriptions_of(session, subscriber_id)
        if s.status == SubscriptionStatus.PENDING
        and newsletter_id in (None, s.newsletter_id)
        and (wanted is None or s.newsletter_id in wanted)
    ]
    changes = (consent.changes or {}) if consent_id is not None and consent else {}
    if not waiting and not changes:
        return []
    for subscription in waiting:
        _activate(session, subscription, how=How.LINK, actor="")
    if changes.get(AD_CHANGE) and consent is not None:
        _give_advertising(session, consent, changes[AD_CHANGE].split(","), ip=ip)
    if changes:
        _apply_changes(person, changes)
        record_event(
            session,
            EventKind.PREFERENCES_CHANGED,
            subscriber_id=subscriber_id,
            how=How.LINK,
            detail={"fields": sorted(changes)},
        )
    _lift_suppression(session, person)
    if consent is not None:
        consent.confirmed_at, consent.confirmed_ip = utcnow(), ip
    session.flush()
    return [s.newsletter_id for s in waiting]


def _activate(session: Session, subscription: Subscription, *, how: str, actor: str) -> None:
    subscription.status = SubscriptionStatus.ACTIVE
    subscription.confirmed_at = utcnow()
    subscription.unsubscribed_at = None
    record_event(
        session,
        EventKind.CONFIRMED,
        subscriber_id=subscription.subscriber_id,
        newsletter_id=subscription.newsletter_id,
        how=how,
        actor=actor,
    )


def _lift_suppression(session: Session, person: Subscriber) -> None:
    was = person.status
    person.status = SubscriberStatus.ACTIVE
    removed = 0
    if person.email_hash:
        result = session.execute(
            delete(Suppression).where(Suppression.email_hash == person.email_hash)
        )
        removed = int(getattr(result, "rowcount", 0) or 0)
    if removed or was != SubscriberStatus.ACTIVE:
        record_event(
            session,
            EventKind.SUPPRESSION_LIFTED,
            subscriber_id=person.id,
            how=How.LINK,
            detail={"previous_status": was},
        )


def unsubscribe(
    session: Session,
    *,
    subscriber_id: int,
    newsletter_id: str | None = None,
    how: How | str = How.LINK,
    actor: str = "",
    reason: str = "",
) -> list[str]:
    """Unsubscribe from one newsletter (or all when ``newsletter_id`` is None).

    ``reason`` (e.g. ``inactive``) is for an unsubscribe the person did not ask for: it goes
    into the events' detail and a consent record of the withdrawal. Returns the newsletters
    left now; unsubscribing twice changes nothing.
    """
    require_subscriber(session, subscriber_id)
    changed: list[str] = []
    for subscription in subscriptions_of(session, subscriber_id):
        if subscription.status not in _LIVE or newsletter_id not in (
            None,
            subscription.newsletter_id,
        ):
            continue
        subscription.status = SubscriptionStatus.UNSUBSCRIBED
        subscription.unsubscribed_at = utcnow()
        record_event(
            session,
            EventKind.UNSUBSCRIBED,
            subscriber_id=subscriber_id,
            newsletter_id=subscription.newsletter_id,
            how=str(how),
            actor=actor,
            detail={"reason": reason} if reason else None,
        )
        changed.append(subscription.newsletter_id)
    if reason and changed:
        session.add(
            ConsentRecord(
                subscriber_id=subscriber_id,
                created_at=utcnow(),
                source=str(how),
                newsletters=changed,
                reason=reason,
            )
        )
    session.flush()
    return changed


def resubscribe(
    session: Session,
    *,
    subscriber_id: int,
    newsletter_id: str,
    how: How | str = How.PREFERENCES,
    ip: str = "",
) -> str:
    """The person (through their signed preferences link) follows ``newsletter_id`` again.

    Returns the subscription's status afterwards: ``active``, or ``pending`` when it was
    never confirmed. Refused (``Suppressed``) for a bounced or complained person, who must
    sign up through the form again.
    """
    person = require_subscriber(session, subscriber_id)
    if person.status != SubscriberStatus.ACTIVE:
        raise Suppressed(f"subscriber {subscriber_id} is {person.status}; sign up again")
    require_newsletters(session, [newsletter_id])
    current = next(
        (s for s in subscriptions_of(session, subscriber_id) if s.newsletter_id == newsletter_id),
        None,
    )
    if current is not None and current.status != SubscriptionStatus.UNSUBSCRIBED:
        return current.status
    now = utcnow()
    if current is None:
        # The link was mailed to this person: following it proves the address is theirs.
        session.add(
            ConsentRecord(
                subscriber_id=subscriber_id,
                created_at=now,
                source=Source.FORM.value,
                ip=ip,
                newsletters=[newsletter_id],
                confirmed_at=now,
                confirmed_ip=ip,
            )
        )
        current = Subscription(
            subscriber_id=subscriber_id,
            newsletter_id=newsletter_id,
            source=Source.FORM.value,
            created_at=now,
            confirmed_at=now,
        )
        session.add(current)
    current.status = (
        SubscriptionStatus.ACTIVE if current.confirmed_at else SubscriptionStatus.PENDING
    )
    current.unsubscribed_at = None
    record_event(
        session,
        EventKind.RESUBSCRIBED,
        subscriber_id=subscriber_id,
        newsletter_id=newsletter_id,
        how=str(how),
    )
    session.flush()
    return current.status


def update_preferences(
    session: Session,
    *,
    subscriber_id: int,
    name: str | None = None,
    newsletters: Collection[str] | None = None,
    pause_weeks: int | None = None,
) -> None:
    """Apply the preferences form: name, the set of newsletters followed, a pause.

    ``pause_weeks`` > 0 pauses every subscription for that many weeks; 0 resumes now.
    """
    person = require_subscriber(session, subscriber_id)
    if name is not None and clean_name(name) != person.name:
        person.name = clean_name(name)
        record_event(
            session,
            EventKind.PREFERENCES_CHANGED,
            subscriber_id=subscriber_id,
            how=How.PREFERENCES,
            detail={"fields": ["name"]},
        )
    if newsletters is not None:
        _apply_newsletter_choice(session, subscriber_id, set(newsletters))
    if pause_weeks is not None:
        _pause(session, subscriber_id, pause_weeks)
    session.flush()


def _apply_newsletter_choice(session: Session, subscriber_id: int, wanted: set[str]) -> None:
    require_newsletters(session, sorted(wanted))
    current = {s.newsletter_id: s.status for s in subscriptions_of(session, subscriber_id)}
    for newsletter_id, status in current.items():
        if newsletter_id not in wanted and status in _LIVE:
            unsubscribe(
                session,
                subscriber_id=subscriber_id,
                newsletter_id=newsletter_id,
                how=How.PREFERENCES,
            )
    for newsletter_id in sorted(wanted):
        if current.get(newsletter_id) not in _LIVE:
            resubscribe(session, subscriber_id=subscriber_id, newsletter_id=newsletter_id)


def _pause(session: Session, subscriber_id: int, weeks: int) -> None:
    if weeks < 0:
        raise ValueError("pause_weeks must be 0 (resume) or more")
    until = utcnow() + timedelta(weeks=weeks) if weeks else None
    for subscription in subscriptions_of(session, subscriber_id):
        subscription.paused_until = until
    record_event(
        session,
        EventKind.PAUSED if until else EventKind.RESUMED,
        subscriber_id=subscriber_id,
        how=How.PREFERENCES,
        detail={"until": until.isoformat() if until else None},
    )


def require_newsletters(session: Session, newsletter_ids: Sequence[str]) -> None:
    """Raise ``UnknownNewsletter`` unless every id is a known newsletter (and one is given)."""
    if not newsletter_ids:
        raise UnknownNewsletter("choose at least one newsletter")
    known = set(session.scalars(select(Newsletter.id).where(Newsletter.id.in_(newsletter_ids))))
    missing = [n for n in newsletter_ids if n not in known]
    if missing:
        raise UnknownNewsletter(f"unknown newsletter {missing[0]!r}")


def update_profile(
    session: Session,
    *,
    subscriber_id: int,
    name: str | None = None,
    timezone: str | None = None,
    how: How | str = How.API,
    actor: str = "",
) -> list[str]:
    """Change the person's name and/or timezone (an IANA name, or "" for the site's).

    Records one ``preferences_changed`` event naming the fields changed; returns them.
    """
    person = require_subscriber(session, subscriber_id)
    if timezone:
        check_timezone(timezone)
    changed: list[str] = []
    if name is not None and clean_name(name) != person.name:
        person.name = clean_name(name)
        changed.append("name")
    if timezone is not None and timezone != person.timezone:
        person.timezone = timezone
        changed.append("timezone")
    if changed:
        record_event(
            session,
            EventKind.PREFERENCES_CHANGED,
            subscriber_id=subscriber_id,
            how=str(how),
            actor=actor,
            detail={"fields": changed},
        )
        session.flush()
    return changed


def check_timezone(name: str) -> str:
    """``name`` if it is an IANA timezone this machine knows; ``InvalidTimezone`` if not."""
    return zones.check_timezone(name)
