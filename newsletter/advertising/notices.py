"""Sending the advertising notices: the two-year reminder and the result notice.

``send_due_notices`` is what the scheduler runs (inside ``serve``, every
``scheduler.ad_notice_interval``, 5 minutes by default) and ``newsletter ads notices``
runs by hand. It claims what is due through the ledger (:mod:`subscribers.ad_notices`:
exactly one claim per person, newsletter, kind and period, whoever else runs at the same
time), then writes and sends each notice through the configured backend in the
newsletter's language, and settles it.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime

import jinja2

from newsletter import db
from newsletter.advertising.footer import ad_footer
from newsletter.advertising.texts import NOTICE_TEXTS
from newsletter.delivery import send_transactional
from newsletter.delivery.backends import make_backend
from newsletter.delivery.backends.base import Backend
from newsletter.delivery.links import Links
from newsletter.errors import BackendError, RenderError, TransientBackendError
from newsletter.render import email_environment, issue_language, mjml_to_html, reader_date
from newsletter.services import Services
from subscribers import ad_notices
from subscribers.ad_consent import NoticeKind, NoticeStatus
from subscribers.ad_notices import ClaimedNotice, DueNotice
from subscribers.db import utcnow

log = logging.getLogger(__name__)

#: Notices claimed per run; the rest wait for the next run. Small enough that a run ends
#: well inside ``STALE_CLAIM`` (10 minutes) even at a second per notice; each notice's
#: claim is re-asserted just before it is sent anyway (``ad_notices.still_mine``).
RUN_LIMIT = 100


@dataclass(frozen=True)
class NoticeEmail:
    """One notice, written."""

    subject: str
    html: str
    text: str


@dataclass
class NoticeRun:
    """What one run did."""

    sent: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    #: Claims a later run took back (stale) before this one sent them: not sent here.
    taken: list[int] = field(default_factory=list)


def notices_job(services: Services) -> None:
    """The scheduler's job: one run; a failure is logged and the next run tries again."""
    try:
        run = send_due_notices(services)
    except Exception:
        log.exception("advertising notices: run failed; the next one tries again")
        return
    if run.sent or run.skipped or run.failed:
        log.info(
            "advertising notices: %d sent, %d skipped, %d failed",
            len(run.sent),
            len(run.skipped),
            len(run.failed),
        )


def due_notices(services: Services, *, now: datetime | None = None) -> list[DueNotice]:
    """What a run now would send (``--dry-run``): nothing is claimed or sent."""
    with services.sessions() as session:
        return ad_notices.due_now(session, now=now or utcnow())


def send_due_notices(
    services: Services, *, now: datetime | None = None, limit: int = RUN_LIMIT
) -> NoticeRun:
    """Claim the notices due at ``now`` and send them; returns what happened to each."""
    at = now or utcnow()
    started = utcnow()
    worker = f"notices-{uuid.uuid4().hex[:12]}"
    with db.transaction(services.sessions) as session:
        ids = ad_notices.claim_periodic(session, now=at, worker=worker, limit=limit)
        ids += ad_notices.claim_waiting(session, now=at, worker=worker, limit=limit)
    with services.sessions() as session:
        claimed = ad_notices.claimed(session, sorted(set(ids)))
    run = NoticeRun()
    if not claimed:
        return run
    backend = make_backend(services.settings)
    try:
        for notice in claimed:
            # The run's clock: ``at`` moved on by the time spent so far.
            clock = _RunClock(worker=worker, now=at + (utcnow() - started))
            _send_one(services, notice, backend=backend, run=run, clock=clock)
    finally:
        backend.close()
    return run


@dataclass(frozen=True)
class _RunClock:
    """Who this run is and what time it is for it (``claimed_at`` refreshes)."""

    worker: str
    now: datetime


def _send_one(
    services: Services,
    notice: ClaimedNotice,
    *,
    backend: Backend,
    run: NoticeRun,
    clock: _RunClock,
) -> None:
    with services.sessions() as session:
        why_not = ad_notices.may_mail(session, notice)
    if why_not:
        _settle(services, notice.notice_id, NoticeStatus.SKIPPED, why_not)
        run.skipped.append(notice.notice_id)
        return
    email = write_notice(services, notice)
    with db.transaction(services.sessions) as session:
        mine = ad_notices.still_mine(session, notice.notice_id, worker=clock.worker, now=clock.now)
    if not mine:
        log.warning("advertising notice %s: taken back by a later run; not sent", notice.notice_id)
        run.taken.append(notice.notice_id)
        return
    try:
        send_transactional(
            services,
            to=notice.email,
            subject=email.subject,
            html=email.html,
            text=email.text,
            backend=backend,
            newsletter_id=notice.newsletter_id,
        )
    except TransientBackendError as exc:
        # Left claimed: a later run claims it again once the claim is stale.
        log.warning("advertising notice %s: %s; retried later", notice.notice_id, exc)
        run.failed.append(notice.notice_id)
        return
    except BackendError as exc:
        _settle(services, notice.notice_id, NoticeStatus.FAILED, str(exc))
        run.failed.append(notice.notice_id)
        return
    _settle(services, notice.notice_id, NoticeStatus.SENT)
    run.sent.append(notice.notice_id)


def _settle(services: Services, notice_id: int, status: NoticeStatus, error: str = "") -> None:
    with db.transaction(services.sessions) as session:
        ad_notices.mark(session, notice_id, status, now=utcnow(), error=error)


def write_notice(services: Services, notice: ClaimedNotice) -> NoticeEmail:
    """The notice's subject, HTML and text in the newsletter's language."""
    settings = services.settings
    lang = issue_language(settings, notice.newsletter_id)
    words = NOTICE_TEXTS[lang]
    newsletter = settings.newsletter(notice.newsletter_id)
    sender = settings.sender_for(notice.newsletter_id).from_name
    values = {
        "sender": sender,
        "newsletter": newsletter.name,
        "date": reader_date(notice.at.astimezone(settings.site.tz).date(), lang),
    }
    if notice.kind == NoticeKind.PERIODIC:
        subject = words["periodic_subject"].format(**values)
        heading = words["periodic_heading"]
        lines = [
            words[key].format(**values)
            for key in ("periodic_body", "periodic_keep", "periodic_withdraw")
        ]
    else:
        subject = words[f"result_subject_{notice.action}"].format(**values)
        heading = words["result_heading"]
        lines = [words[f"result_{notice.action}"].format(**values), words["result_change"]]
    links = Links(settings, services.tokens, notice.newsletter_id)
    context = {
        "lang": lang,
        "subject": subject,
        "preheader": lines[0],
        "heading": heading,
        "lines": lines,
        "newsletter": newsletter,
        "link_url": links.values(notice.subscriber_id)["preferences_url"],
        "link_label": words["link"],
        "sender_line": ad_footer(settings, notice.newsletter_id, lang).sender_line,
    }
    environment = email_environment(settings)
    try:
        html = mjml_to_html(environment.get_template("ad_notice.mjml.j2").render(context))
        text = environment.get_template("ad_notice.txt.j2").render(context)
    except jinja2.TemplateError as exc:
        raise RenderError(f"advertising notice: email template: {exc}") from None
    return NoticeEmail(subject, html, text.strip() + "\n")
