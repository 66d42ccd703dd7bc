"""Sample data for a first run (`make run` calls `newsletter demo`).

Only an empty project gets sample readers, so `demo` is safe to run on every start: it
syncs `issues/`, adds a few confirmed sample readers when there are no subscribers at all,
and sends each already-published sample issue once to the local outbox, so the archive,
the feed and the admin have something to show. It refuses to send through anything but
the outbox: sample data never leaves the machine.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select

from newsletter import db
from newsletter.catalog import list_issues, sync_issues
from newsletter.delivery import start_send
from newsletter.models import IssueStatus
from newsletter.services import Services
from subscribers.db import utcnow
from subscribers.models import Subscriber
from subscribers.service import Source, subscribe

#: (address, name): example.org never receives mail; names show personalization.
SAMPLE_READERS = (
    ("reader1@example.org", "김하늘"),
    ("reader2@example.org", "Robin Park"),
    ("reader3@example.org", ""),
)


@dataclass
class DemoReport:
    """What ``prepare_demo`` did."""

    issues: int = 0
    readers_added: int = 0
    sent: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def prepare_demo(services: Services) -> DemoReport:
    """Sync issues; in an empty project add sample readers and send past sample issues."""
    sync = sync_issues(services)
    report = DemoReport(
        issues=len(sync.created) + len(sync.updated) + len(sync.unchanged),
        errors=[str(error) for error in sync.errors],
    )
    if services.settings.delivery.backend != "outbox":
        return report
    report.readers_added = _add_sample_readers(services)
    now = utcnow()
    for issue in list_issues(services):
        if issue.status in (IssueStatus.SCHEDULED, IssueStatus.MISSED) and issue.publish_at <= now:
            start_send(services, issue.slug)
            report.sent.append(issue.slug)
    return report


def _add_sample_readers(services: Services) -> int:
    newsletters = [n.id for n in services.settings.newsletters]
    with db.transaction(services.sessions) as session:
        if session.scalar(select(func.count()).select_from(Subscriber)):
            return 0
        for email, name in SAMPLE_READERS:
            subscribe(
                session,
                email=email,
                name=name,
                newsletters=newsletters,
                source=Source.ADMIN,
                confirmed=True,
                actor="demo",
            )
    return len(SAMPLE_READERS)
