"""The engagement figures of a send: people counted, machines apart, per link and provider.

What ``newsletter stats SLUG``, the dashboard's send page and the CSV export show. A
*clicker* is one email (one reader part of the token) with at least one person's click;
the click rate is clickers over delivered (accepted by the backend).
"""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from newsletter.delivery.models import Send
from newsletter.errors import SendNotFound
from newsletter.events.store import outcome_counts
from newsletter.services import Services
from newsletter.tracking import store
from newsletter.tracking.models import LinkKind
from newsletter.tracking.providers import PROVIDER_NAMES, domain_of, provider_of
from newsletter.tracking.rewrite import LinkRow
from newsletter.tracking.store import HitRow

HOURS_CHARTED = 48


@dataclass(frozen=True)
class LinkFigures:
    """One tracked link: people's clicks and clickers, and machine hits apart."""

    index: int
    url: str
    clicks: int
    clickers: int
    machine_hits: int


@dataclass(frozen=True)
class ProviderFigures:
    """One mailbox provider: delivered, people who clicked, the rate."""

    provider: str
    name: str
    delivered: int
    clickers: int
    click_rate: float


@dataclass(frozen=True)
class Engagement:
    """A send's engagement report."""

    send_id: int
    slug: str
    newsletter_id: str
    subject: str
    tracking: str
    started_at: str
    delivered: int
    clickers: int
    click_rate: float
    openers: int
    bounces: int
    complaints: int
    unsubscribes: int
    machine_hits: int
    machine_reasons: dict[str, int]
    links: list[LinkFigures] = field(default_factory=list)
    providers: list[ProviderFigures] = field(default_factory=list)
    #: People's clicks in each of the first 48 hours after the send started.
    first_hours: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        """JSON-ready."""
        return asdict(self)


def engagement_for_issue(services: Services, slug: str) -> Engagement:
    """The engagement report of an issue's send; :class:`SendNotFound` if it was not sent."""
    with services.sessions() as session:
        send = store.get_send_by_slug(session, slug)
        if send is None:
            raise SendNotFound(f"issue {slug!r} has not been sent")
        return _engagement(services, session, send)


def engagement_for_send(services: Services, send_id: int) -> Engagement:
    """The engagement report of a send by id; :class:`SendNotFound` if there is none."""
    with services.sessions() as session:
        send = session.get(Send, send_id)
        if send is None:
            raise SendNotFound(f"no send with id {send_id}")
        return _engagement(services, session, send)


def recent_engagement(
    services: Services, newsletter_id: str | None = None, *, limit: int = 5
) -> list[Engagement]:
    """The last sends' reports, newest first (issues side by side)."""
    with services.sessions() as session:
        return [
            _engagement(services, session, send)
            for send in store.recent_sends(session, newsletter_id, limit=limit)
        ]


def _engagement(services: Services, session: Session, send: Send) -> Engagement:
    hits = store.send_hits(session, send.id)
    links = store.send_links(session, send.id)
    delivered_by: Counter[str] = Counter()
    looked_up = store.send_domain_providers(session, send.id)
    for domain, count in store.delivered_domains(session, send.id).items():
        key = domain_of(f"@{domain}")
        delivered_by[looked_up.get(key) or provider_of(f"@{key}")] += count
    delivered_by["other"] += store.accepted_without_subscriber(session, send.id)
    delivered = sum(delivered_by.values())
    people = [h for h in hits if not h[4]]
    clicks = [h for h in people if h[1] == LinkKind.LINK]
    clickers = {h[2] for h in clicks}
    outcomes = outcome_counts(session, send.id)
    start = send.started_at or send.created_at
    return Engagement(
        send_id=send.id,
        slug=send.issue_slug,
        newsletter_id=send.newsletter_id,
        subject=send.subject,
        tracking=_mode(services, send.newsletter_id),
        started_at=start.isoformat(),
        delivered=delivered,
        clickers=len(clickers),
        click_rate=_rate(len(clickers), delivered),
        openers=len({h[2] for h in people if h[1] == LinkKind.OPEN}),
        bounces=outcomes.get("bounced", 0) + outcomes.get("dropped", 0),
        complaints=outcomes.get("complained", 0),
        unsubscribes=store.unsubscribes_after(session, send),
        machine_hits=len(hits) - len(people),
        machine_reasons=dict(Counter(h[4] for h in hits if h[4]).most_common()),
        links=_links(links, hits),
        providers=_providers(delivered_by, clicks),
        first_hours=_first_hours(start, [h[5] for h in clicks]),
    )


def _mode(services: Services, newsletter_id: str) -> str:
    try:
        return services.settings.newsletter(newsletter_id).tracking
    except Exception:  # a newsletter since removed from config.yaml
        return "off"


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def _links(rows: Sequence[LinkRow], hits: Sequence[HitRow]) -> list[LinkFigures]:
    clicks: Counter[int] = Counter()
    machines: Counter[int] = Counter()
    clickers: defaultdict[int, set[str]] = defaultdict(set)
    for index, _kind, reader, _provider, reason, _at in hits:
        if reason:
            machines[index] += 1
        else:
            clicks[index] += 1
            clickers[index].add(reader)
    return [
        LinkFigures(
            row.index, row.url, clicks[row.index], len(clickers[row.index]), machines[row.index]
        )
        for row in rows
        if row.kind == LinkKind.LINK
    ]


def _providers(delivered_by: Counter[str], clicks: Sequence[HitRow]) -> list[ProviderFigures]:
    clickers: defaultdict[str, set[str]] = defaultdict(set)
    for _index, _kind, reader, provider, _reason, _at in clicks:
        clickers[provider].add(reader)
    return [
        ProviderFigures(
            key,
            name,
            delivered_by[key],
            len(clickers[key]),
            _rate(len(clickers[key]), delivered_by[key]),
        )
        for key, name in PROVIDER_NAMES.items()
    ]


def _first_hours(start: datetime, moments: Sequence[datetime]) -> list[int]:
    hours = [0] * HOURS_CHARTED
    for at in moments:
        hour = int((at - start).total_seconds() // 3600)
        if 0 <= hour < HOURS_CHARTED:
            hours[hour] += 1
    return hours


def engagement_csv(report: Engagement) -> str:
    """The report as CSV: one row per figure, per link and per provider."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["section", "key", "delivered", "clickers", "click_rate", "clicks", "machine_hits"]
    )
    writer.writerow(
        [
            "issue",
            report.slug,
            report.delivered,
            report.clickers,
            report.click_rate,
            "",
            report.machine_hits,
        ]
    )
    for p in report.providers:
        writer.writerow(["provider", p.name, p.delivered, p.clickers, p.click_rate, "", ""])
    for link in report.links:
        writer.writerow(["link", link.url, "", link.clickers, "", link.clicks, link.machine_hits])
    for reason, count in report.machine_reasons.items():
        writer.writerow(["machine", reason, "", "", "", "", count])
    for name in ("openers", "bounces", "complaints", "unsubscribes"):
        writer.writerow(["count", name, "", "", "", getattr(report, name), ""])
    return out.getvalue()
