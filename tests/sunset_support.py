"""Helpers for sunset tests: a history of tracked sends through the real engine, and clicks
on them through the real ``/l/`` redirect (a person's, a scanner's)."""

from __future__ import annotations

from datetime import timedelta
from email.message import EmailMessage
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from newsletter.automations.sunset.models import SunsetEpisode
from newsletter.db import transaction
from newsletter.delivery import start_send
from newsletter.delivery.models import Delivery, Send
from newsletter.services import Services
from newsletter.tracking.models import Hit
from subscribers.models import ConsentRecord, Event, Subscriber, Subscription
from tests.fixtures.issues import issue_text
from tests.fixtures.web import Outbox
from tests.tracking_support import path_of, tracked_links

SUNSET = {"after_issues": 3, "grace": "14d"}
BROWSER = {
    "user-agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15"
    " (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
}
# A security gateway posing as a desktop browser: only its behaviour gives it away.
POSING = {"user-agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/126.0 Safari/537.36"}
BODY = (
    "## 이번 주\n첫 글: [읽기](https://example.com/a)\n\n둘째 글: [읽기](https://example.com/b)\n"
)


def outbox(services: Services) -> Outbox:
    """The project's outbox."""
    return Outbox(services.settings.path(services.settings.delivery.outbox_dir))


def send(services: Services, slug: str, *, newsletter: str = "weekly") -> int:
    """Write the issue ``slug`` and send it now through the engine; the send id."""
    folder = services.settings.path(services.settings.issues_dir)
    folder.mkdir(parents=True, exist_ok=True)
    fields: dict[str, Any] = {"slug": slug}
    if newsletter != "weekly":
        fields["newsletter"] = newsletter
    text = issue_text(title=f"호 {slug}", body=BODY, **fields)
    (folder / f"{slug}.md").write_text(text, encoding="utf-8")
    result = start_send(services, slug)
    assert result.status == "sent", result
    return result.send_id


def issue_links(services: Services, email: str, slug: str) -> list[str]:
    """The ``/l/`` paths of the issue ``slug`` as mailed to ``email`` (the trap link last)."""
    subject_mark = f"호 {slug}"
    found = [m for m in outbox(services).to(email) if subject_mark in str(m["Subject"])]
    assert len(found) == 1, [str(m["Subject"]) for m in outbox(services).to(email)]
    return [path_of(url) for url in tracked_links(found[0])]


def person_clicks(client: TestClient, services: Services, email: str, slug: str) -> None:
    """A person opens the issue and follows its first link."""
    first = issue_links(services, email, slug)[0]
    assert client.get(first, headers=BROWSER).status_code == 302


def scanner_clicks(client: TestClient, services: Services, email: str, slug: str) -> None:
    """A mail gateway checks every link of the issue: HEAD then GET, the trap too."""
    for path in issue_links(services, email, slug):
        assert client.head(path, headers=POSING).status_code == 302
        assert client.get(path, headers=POSING).status_code == 302


def asks_to(services: Services, email: str) -> list[EmailMessage]:
    """The "still want this?" emails sent to ``email``."""
    return [m for m in outbox(services).to(email) if "List-Id" in m and "호 " not in m["Subject"]]


def episodes(services: Services, subscriber_id: int) -> list[tuple[int, str]]:
    """(episode, state) of a reader's sunset episodes, in order."""
    with services.sessions() as session:
        rows = session.execute(
            select(SunsetEpisode.episode, SunsetEpisode.state)
            .where(SunsetEpisode.subscriber_id == subscriber_id)
            .order_by(SunsetEpisode.episode)
        )
        return [(int(e), str(s)) for e, s in rows]


def age(services: Services, delta: timedelta) -> None:
    """Move the whole history ``delta`` into the past (sends, deliveries, hits,
    subscriptions, events, consent records, episodes): the clock the sunset reads moves on
    by ``delta`` without waiting, and every order between the rows stays as it was."""
    columns = [
        (Send, ("created_at", "started_at", "finished_at", "heartbeat_at")),
        (Delivery, ("updated_at",)),
        (Hit, ("at",)),
        (Subscriber, ("created_at", "updated_at")),
        (Subscription, ("created_at", "confirmed_at", "unsubscribed_at")),
        (Event, ("created_at",)),
        (ConsentRecord, ("created_at", "confirmed_at")),
        (SunsetEpisode, ("created_at", "asked_at", "closed_at")),
    ]
    with transaction(services.sessions) as session:
        for model, names in columns:
            for row in session.scalars(select(model)):
                for name in names:
                    value = getattr(row, name)
                    if value is not None:
                        setattr(row, name, value - delta)
