"""What the operator sees and tries before a send: reports, dry runs and test sends.

Test sends go only to the given addresses, with ``[테스트]`` (Korean newsletters) or
``[Test]`` (English) in front of the subject, through the configured backend, and never
touch the ledger. Not ``[TEST]``: SpamAssassin reads an all-Hangul subject behind it as
all capitals (SUBJ_ALL_CAPS).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from newsletter.abtest.service import AbReport, ab_report, decide_if_due
from newsletter.advertising.subject import with_test_prefix
from newsletter.delivery import store
from newsletter.delivery.backends import Backend, make_backend
from newsletter.delivery.content import Renderer, issue_content, render_for_send, render_for_test
from newsletter.delivery.links import Links
from newsletter.delivery.message import Batch, Outcome, Recipient, RecipientResult
from newsletter.delivery.models import Send
from newsletter.delivery.retry import RetryPolicy, with_retries
from newsletter.errors import PermanentBackendError, SendNotFound
from newsletter.services import Services
from newsletter.timing import waves
from subscribers.db import utcnow
from subscribers.queries import count_eligible


def prefix_for_test_copy(lang: str) -> str:
    """The subject prefix of a test copy in the newsletter's language."""
    from newsletter.render import STRINGS

    return STRINGS.get(lang, STRINGS["en"])["test_prefix"]


@dataclass(frozen=True)
class SendReport:
    """A send with its deliveries by status, its rate and its most frequent errors.

    ``rate_per_second``: accepted recipients per second of time spent sending (while at
    least one batch was in flight; see :func:`sending_seconds`), not since the start.
    """

    send_id: int
    slug: str
    newsletter_id: str
    subject: str
    backend: str
    status: str
    total: int
    counts: dict[str, int]
    rate_per_second: float
    error: str
    errors: list[tuple[str, int]] = field(default_factory=list)
    created_at: str = ""
    started_at: str = ""
    finished_at: str = ""
    #: An A/B send's test: each subject's figures and the verdict (newsletter/abtest/).
    ab_test: AbReport | None = None
    #: Waves (``deliver: local``, an A/B remainder), earliest first; empty when every row
    #: was due at once. Each: ``due_at`` (ISO, "" for at once), ``total``, ``counts``
    #: (``missed`` apart from ``skipped``) and ``state`` (``done``, ``sending``,
    #: ``waiting``, ``missed``).
    waves: list[dict[str, Any]] = field(default_factory=list)
    #: When a ``waiting`` send is taken again (ISO; "" when nothing waits).
    next_due_at: str = ""


@dataclass(frozen=True)
class SendPlan:
    """What ``send --dry-run`` would do."""

    slug: str
    newsletter_id: str
    subject: str
    backend: str
    audience: int
    existing_send: int | None
    existing_status: str | None
    #: An A/B issue: its subjects and the readers its sample would take now.
    subjects: list[str] = field(default_factory=list)
    sample_size: int = 0


def send_report(services: Services, send_id: int) -> SendReport:
    """The report of one send (``sends show``)."""
    decide_if_due(services, send_id)
    with services.sessions() as session:
        send = store.get_send(session, send_id)
        if send is None:
            raise SendNotFound(f"no send with id {send_id}")
        return _report(session, send)


def list_reports(services: Services, *, limit: int = 50) -> list[SendReport]:
    """Reports of the most recent sends first (``sends list``)."""
    with services.sessions() as session:
        return [_report(session, send) for send in store.list_sends(session, limit=limit)]


def report_for_issue(services: Services, slug: str) -> SendReport | None:
    """The report of the issue's send, if it has one (``stats SLUG``)."""
    with services.sessions() as session:
        send = store.send_for_issue(session, slug)
    if send is None:
        return None
    decide_if_due(services, send.id)
    with services.sessions() as session:
        return _report(session, send)


def _report(session: Session, send: Send) -> SendReport:
    counts = store.counts(session, send.id)
    seconds = sending_seconds(store.batch_spans(session, send.id))
    rate = counts["accepted"] / seconds if seconds > 0 else 0.0
    return SendReport(
        send_id=send.id,
        slug=send.issue_slug,
        newsletter_id=send.newsletter_id,
        subject=send.subject,
        backend=send.backend,
        status=send.status,
        total=send.total,
        counts=counts,
        rate_per_second=round(rate, 1),
        error=send.error,
        errors=store.recent_errors(session, send.id),
        created_at=_iso(send.created_at),
        started_at=_iso(send.started_at),
        finished_at=_iso(send.finished_at),
        ab_test=ab_report(session, send.id),
        waves=wave_lines(session, send.id),
        next_due_at=_iso(send.next_due_at),
    )


def wave_lines(session: Session, send_id: int) -> list[dict[str, Any]]:
    """The send's waves as plain data (``sends show --json``, the admin send page)."""
    found = waves.progress(session, send_id)
    if all(wave.due_at is None for wave in found):
        return []
    return [
        {
            "due_at": _iso(wave.due_at),
            "total": wave.total,
            "counts": dict(sorted(wave.counts.items())),
            "state": wave_state(wave.counts),
        }
        for wave in found
    ]


def wave_state(counts: dict[str, int]) -> str:
    """``sending``, ``waiting`` (rows not sent yet), ``missed`` or ``done``."""
    if counts.get("sending"):
        return "sending"
    if counts.get("pending"):
        return "waiting"
    if counts.get("missed") and not counts.get("accepted"):
        return "missed"
    return "done"


def sending_seconds(spans: Sequence[tuple[datetime, datetime]]) -> float:
    """Seconds during which at least one batch was in flight (the union of the spans).

    Batches side by side (threads, helpers, workers) count once; the wait before a
    scheduled start, a pause before ``sends resume`` and idle gaps count not at all.
    """
    total = 0.0
    current: tuple[datetime, datetime] | None = None
    for start, end in sorted(spans):
        if current is None or start > current[1]:
            if current is not None:
                total += (current[1] - current[0]).total_seconds()
            current = (start, end)
        elif end > current[1]:
            current = (current[0], end)
    if current is not None:
        total += (current[1] - current[0]).total_seconds()
    return total


def plan_send(services: Services, slug: str, *, renderer: Renderer = render_for_send) -> SendPlan:
    """Render the issue and count its audience; sends nothing, writes nothing."""
    rendered = renderer(services, slug)
    with services.sessions() as session:
        existing = store.send_for_issue(session, slug)
        audience = count_eligible(
            session, rendered.newsletter_id, now=utcnow(), advertising=rendered.ad
        )
    return SendPlan(
        slug=slug,
        newsletter_id=rendered.newsletter_id,
        subject=rendered.subject,
        backend=services.settings.delivery.backend,
        audience=audience,
        existing_send=existing.id if existing else None,
        existing_status=existing.status if existing else None,
        subjects=list(rendered.ab_test.subjects) if rendered.ab_test else [],
        sample_size=rendered.ab_test.sample_size(audience) if rendered.ab_test else 0,
    )


def send_test(
    services: Services,
    slug: str,
    *,
    to: Sequence[str],
    renderer: Renderer = render_for_test,
    backend: Backend | None = None,
) -> list[RecipientResult]:
    """Send the issue to ``to`` only, subject marked ``[테스트]``/``[Test]``; the ledger is
    not touched. An A/B issue sends each address one copy per subject."""
    rendered = renderer(services, slug)
    prefix = prefix_for_test_copy(rendered.lang)
    links = Links(services.settings, services.tokens, rendered.newsletter_id)
    content = issue_content(
        services,
        rendered,
        links=links,
        send_id=None,
        subject_prefix=prefix,
    )
    # Subscriber id 0 is nobody: the test links render but change nothing.
    values = links.values(0, name=rendered.name_fallback)
    subjects = rendered.ab_test.subjects if rendered.ab_test else ("",)
    recipients = [
        Recipient(
            email=email,
            values=values,
            headers=links.headers(values["unsubscribe_url"]),
            subject=with_test_prefix(subject, prefix) if subject else "",
        )
        for email in to
        for subject in subjects
    ]
    active = backend or make_backend(services.settings)
    policy = RetryPolicy.from_settings(services.settings.delivery.retry)
    try:
        results = with_retries(lambda: active.send(Batch(content, recipients)), policy)
    finally:
        if backend is None:
            active.close()
    refused = [r for r in results if r.outcome is not Outcome.ACCEPTED]
    if refused:
        raise PermanentBackendError(
            f"test send refused for {refused[0].recipient.email}: {refused[0].error}"
        )
    return results


def _iso(value: object) -> str:
    return value.isoformat(timespec="seconds") if hasattr(value, "isoformat") else ""
