"""What the API's routes call: the existing services, composed, and their results as the
API's bodies. Every change is recorded with the key's name as the actor (the audit log).

Subscriber changes go through :mod:`subscribers.service` and :mod:`subscribers.privacy`;
issues through :mod:`newsletter.catalog` and :mod:`newsletter.scheduler.service`; sends
through :mod:`newsletter.delivery.reports`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from newsletter import catalog
from newsletter.abtest import service as abtest
from newsletter.api import schemas, store
from newsletter.api.cursor import Cursors
from newsletter.api.errors import Problem
from newsletter.db import transaction
from newsletter.delivery import reports
from newsletter.models import Issue
from newsletter.scheduler.instants import local_instant
from newsletter.scheduler.service import ScheduleResult, cancel_issue, schedule_issue
from newsletter.services import Services
from newsletter.settings import NewsletterSettings
from newsletter.tracking.privacy import erase_clicks
from newsletter.tracking.report import engagement_for_send
from subscribers import ad_consent, privacy, service
from subscribers.addresses import parse_address
from subscribers.errors import InvalidAddress, SubscriberNotFound
from subscribers.events import How
from subscribers.models import Subscriber, Subscription, SubscriptionStatus
from subscribers.queries import counts_by_status

#: Version of the API's sign-up wording kept in consent records.
WORDING_VERSION = "api-1"


@dataclass(frozen=True)
class Confirmation:
    """A confirmation email to send after the transaction (double opt-in)."""

    to: str
    subscriber_id: int
    name: str
    lang: str
    newsletters: list[NewsletterSettings]
    consent_id: int


# --- subscribers -------------------------------------------------------------------------


def list_subscribers(
    services: Services,
    *,
    cursors: Cursors,
    newsletter: str | None,
    status: str | None,
    created_since: datetime | None,
    limit: int,
    cursor: str | None,
) -> schemas.SubscriberPage:
    """One page of subscribers and the cursor of the next."""
    filters = {"newsletter": newsletter, "status": status, "created_since": created_since}
    after = cursors.loads(cursor, filters) if cursor else 0
    with services.sessions() as session:
        people = store.page_subscribers(
            session,
            newsletter_id=newsletter,
            statuses=[status] if status else [],
            created_since=created_since,
            after_id=after,
            limit=limit + 1,
        )
        page = people[:limit]
        data = _subscribers_out(session, page)
    more = len(people) > limit
    return schemas.SubscriberPage(
        data=data, next_cursor=cursors.dumps(page[-1].id, filters) if more else None
    )


def get_subscriber(services: Services, subscriber_id: int) -> schemas.SubscriberOut:
    """One subscriber; 404 for an unknown or erased one."""
    with services.sessions() as session:
        return _subscriber_out(session, subscriber_id)


def create_subscriber(
    services: Services, body: schemas.SubscriberCreate, *, actor: str, ip: str
) -> tuple[schemas.SubscribeOut, Confirmation | None]:
    """Sign someone up: double opt-in (a confirmation email) unless ``confirmed`` with a
    ``consent``, which is recorded in the consent record with the key's name."""
    if body.confirmed and body.consent is None:
        raise Problem(
            422,
            "Invalid input",
            '"confirmed": true needs a "consent" saying where the person agreed',
            field="consent",
        )
    wanted = body.newsletters or [services.settings.default_newsletter.id]
    consent = body.consent
    with transaction(services.sessions) as session:
        result = service.subscribe(
            session,
            email=body.email,
            newsletters=wanted,
            name=body.name,
            source=service.Source.API,
            confirmed=body.confirmed,
            ip=(consent.ip if consent and consent.ip else ip),
            user_agent=_consent_note(actor, consent),
            wording_version=(consent.wording_version if consent else "") or WORDING_VERSION,
            locale=body.locale,
            timezone=service.check_timezone(body.timezone) if body.timezone else "",
            actor=actor,
            advertising=body.ad_consent,
        )
        out = _subscriber_out(session, result.subscriber_id)
    confirmation = _confirmation(services, out, result)
    return (
        schemas.SubscribeOut(
            subscriber=out,
            pending=list(result.pending),
            active=list(result.active),
            unchanged=list(result.unchanged),
            confirmation_sent=confirmation is not None,
        ),
        confirmation,
    )


def _consent_note(actor: str, consent: schemas.Consent | None) -> str:
    # The consent record's free-text "where from": which key, and the source it gave.
    return f"{actor}; consent: {consent.source}" if consent else actor


def update_subscriber(
    services: Services, subscriber_id: int, body: schemas.SubscriberUpdate, *, actor: str
) -> tuple[schemas.SubscriberOut, Confirmation | None]:
    """Change name, timezone, newsletters: newsletters left are unsubscribed, new ones are
    double opt-in (pending, a confirmation email), an unsubscribed one stays so."""
    with transaction(services.sessions) as session:
        person = _live(session, subscriber_id)
        service.update_profile(
            session,
            subscriber_id=person.id,
            name=body.name,
            timezone=body.timezone,
            how=How.API,
            actor=actor,
        )
        added = None
        if body.newsletters is not None:
            added = _choose_newsletters(session, person, body.newsletters, actor=actor)
        if body.ad_consent:
            _set_ad_consent(session, person.id, body.ad_consent, actor=actor)
        out = _subscriber_out(session, person.id)
    return out, _confirmation(services, out, added)


def _choose_newsletters(
    session: Session, person: Subscriber, wanted: list[str], *, actor: str
) -> service.SubscribeResult | None:
    service.require_newsletters(session, wanted)
    current = {s.newsletter_id for s in _live_subscriptions(session, person.id)}
    for newsletter_id in sorted(current - set(wanted)):
        service.unsubscribe(
            session, subscriber_id=person.id, newsletter_id=newsletter_id, how=How.API, actor=actor
        )
    added = [n for n in dict.fromkeys(wanted) if n not in current]
    if not added:
        return None
    return service.subscribe(
        session,
        email=person.email,
        newsletters=added,
        source=service.Source.API,
        user_agent=actor,
        wording_version=WORDING_VERSION,
        actor=actor,
    )


def unsubscribe(
    services: Services, subscriber_id: int, *, newsletter: str | None, actor: str
) -> schemas.SubscriberOut:
    """Unsubscribe from one newsletter or all of them (again: no change)."""
    with transaction(services.sessions) as session:
        person = _live(session, subscriber_id)
        if newsletter is not None:
            service.require_newsletters(session, [newsletter])
        service.unsubscribe(
            session, subscriber_id=person.id, newsletter_id=newsletter, how=How.API, actor=actor
        )
        return _subscriber_out(session, person.id)


def erase(services: Services, subscriber_id: int, *, actor: str) -> None:
    """Erase the person's data (the address stays suppressed, hashed)."""
    with transaction(services.sessions) as session:
        person = _live(session, subscriber_id)
        privacy.erase(session, subscriber_id=person.id, how=How.API, actor=actor)
        erase_clicks(session, person.id)


def _live(session: Session, subscriber_id: int) -> Subscriber:
    person = store.live_subscriber(session, subscriber_id)
    if person is None:
        raise SubscriberNotFound(f"no subscriber {subscriber_id}")
    return person


def _live_subscriptions(session: Session, subscriber_id: int) -> list[Subscription]:
    live = (SubscriptionStatus.ACTIVE, SubscriptionStatus.PENDING)
    found = store.subscriptions_by_person(session, [subscriber_id])[subscriber_id]
    return [s for s in found if s.status in live]


def _set_ad_consent(
    session: Session, subscriber_id: int, wanted: dict[str, bool], *, actor: str
) -> None:
    """Give or withdraw advertising consents as the API caller says (source ``api``)."""
    service.require_newsletters(session, sorted(wanted))
    yes = [n for n, given in sorted(wanted.items()) if given]
    no = [n for n, given in sorted(wanted.items()) if not given]
    source = How.API.value
    ad_consent.give(
        session, subscriber_id=subscriber_id, newsletter_ids=yes, source=source, actor=actor
    )
    ad_consent.withdraw(
        session, subscriber_id=subscriber_id, newsletter_ids=no, source=source, actor=actor
    )


def _subscriber_out(session: Session, subscriber_id: int) -> schemas.SubscriberOut:
    return _subscribers_out(session, [_live(session, subscriber_id)])[0]


def _subscribers_out(session: Session, people: list[Subscriber]) -> list[schemas.SubscriberOut]:
    subscriptions = store.subscriptions_by_person(session, [p.id for p in people])
    ads = ad_consent.given_pairs(session, [p.id for p in people])
    return [
        schemas.SubscriberOut(
            id=p.id,
            email=p.email,
            name=p.name,
            status=p.status,
            locale=p.locale,
            timezone=p.timezone,
            created_at=p.created_at,
            subscriptions=[
                schemas.SubscriptionOut(
                    newsletter=s.newsletter_id,
                    status=s.status,
                    created_at=s.created_at,
                    confirmed_at=s.confirmed_at,
                    unsubscribed_at=s.unsubscribed_at,
                    ad_consent=(p.id, s.newsletter_id) in ads,
                )
                for s in subscriptions[p.id]
            ],
        )
        for p in people
    ]


def _confirmation(
    services: Services, person: schemas.SubscriberOut, result: service.SubscribeResult | None
) -> Confirmation | None:
    if result is None or not result.needs_confirmation:
        return None
    chosen = [services.settings.newsletter(n) for n in result.pending]
    first = chosen[0].language if chosen else None
    lang = person.locale or first or services.settings.site.language
    return Confirmation(person.email, person.id, person.name, lang, chosen, result.consent_id)


# --- newsletters, issues, sends, stats ---------------------------------------------------


def list_newsletters(services: Services) -> list[schemas.NewsletterOut]:
    """The configured newsletters with their subscriptions by status."""
    with services.sessions() as session:
        return [
            schemas.NewsletterOut(
                id=n.id,
                name=n.name,
                description=n.description,
                default=n.default,
                counts=counts_by_status(session, n.id),
            )
            for n in services.settings.newsletters
        ]


def list_issues(services: Services, *, newsletter: str | None) -> list[schemas.IssueOut]:
    """Every synced issue (of one newsletter)."""
    return [_issue_out(i) for i in catalog.list_issues(services, newsletter_id=newsletter)]


def get_issue(services: Services, slug: str) -> schemas.IssueOut:
    """One issue by slug."""
    return _issue_out(catalog.get_issue(services, slug))


def _issue_out(issue: Issue) -> schemas.IssueOut:
    return schemas.IssueOut(
        slug=issue.slug,
        newsletter=issue.newsletter_id,
        title=issue.title,
        subject=issue.subject,
        status=issue.status,
        publish_at=issue.publish_at,
        scheduled_at_override=issue.scheduled_at_override,
    )


def schedule(
    services: Services, slug: str, *, at: datetime | None, actor: str
) -> schemas.ScheduleOut:
    """Schedule at ``at`` (no offset: site timezone) or at the file's date."""
    instant = local_instant(at, services.settings.site.tz) if at else None
    return _schedule_out(schedule_issue(services, slug, at=instant, by=actor))


def cancel(services: Services, slug: str, *, actor: str) -> schemas.ScheduleOut:
    """Cancel a scheduled issue that has not started."""
    return _schedule_out(cancel_issue(services, slug, by=actor))


def _schedule_out(result: ScheduleResult) -> schemas.ScheduleOut:
    return schemas.ScheduleOut(
        slug=result.slug,
        status=result.status,
        send_at=result.instant,
        send_at_local=result.local,
        overridden=result.overridden,
        note=result.note,
    )


def test_send(services: Services, slug: str, *, to: list[str]) -> schemas.TestSendOut:
    """Send test copies (`[테스트]`/`[Test]` subject) to ``to``, each address validated first."""
    addresses = []
    for index, email in enumerate(to):
        try:
            addresses.append(parse_address(email).email)
        except InvalidAddress as exc:
            raise Problem(422, "Invalid input", str(exc), field=f"to.{index}") from None
    reports.send_test(services, slug, to=addresses)
    return schemas.TestSendOut(sent_to=addresses)


def list_sends(services: Services, *, limit: int) -> list[schemas.SendOut]:
    """The most recent sends first."""
    return [_send_out(r) for r in reports.list_reports(services, limit=limit)]


def get_send(services: Services, send_id: int) -> schemas.SendOut:
    """One send with its deliveries counted by status."""
    return _send_out(reports.send_report(services, send_id))


def _send_out(report: reports.SendReport) -> schemas.SendOut:
    return schemas.SendOut(
        id=report.send_id,
        slug=report.slug,
        newsletter=report.newsletter_id,
        subject=report.subject,
        backend=report.backend,
        status=report.status,
        total=report.total,
        counts=report.counts,
        rate_per_second=report.rate_per_second,
        error=report.error,
        created_at=report.created_at,
        started_at=report.started_at,
        finished_at=report.finished_at,
    )


def engagement(services: Services, send_id: int) -> schemas.EngagementOut:
    """A send's engagement report: people who clicked, per link and provider, machines apart."""
    report = engagement_for_send(services, send_id)
    ab = abtest.report(services, send_id)
    return schemas.EngagementOut.model_validate(
        {**report.as_dict(), "ab_test": dataclasses.asdict(ab) if ab else None}
    )


def stats(services: Services) -> schemas.StatsOut:
    """Subscriptions by status per newsletter; sends by status."""
    with services.sessions() as session:
        return schemas.StatsOut(
            newsletters={
                n.id: counts_by_status(session, n.id) for n in services.settings.newsletters
            },
            sends=store.sends_by_status(session),
        )
