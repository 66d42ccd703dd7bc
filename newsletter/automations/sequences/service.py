"""What runs sequences: the sync of step files, the walk that sends what fell due.

    sync_steps(services)   step files → ``sequence_steps`` (first seen, changed, removed)
    walk(services)         sync, then for each newsletter's steps in order: add a ledger row
                           for every reader the step fell due for, and send them

``newsletter serve`` walks every ``sequences.interval`` (scheduler job ``sequences``).
Each step is sent like an issue by the delivery engine: one send per step, a runner that
holds its liveness lock and claims the send with a compare-and-set, batches claimed and
marked ``sending`` before the request, eligibility checked at each claim. So two serves
never send a step twice, and a serve killed mid-step leaves what was in flight ``unknown``
and the rest to the next walk (or the scheduler's takeover).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from itertools import groupby

from newsletter import db
from newsletter.delivery import engine, liveness
from newsletter.delivery import store as delivery_store
from newsletter.delivery.loop import RunOptions, finish, run_batches
from newsletter.delivery.models import DeliveryStatus, SendStatus
from newsletter.errors import ConfigError
from newsletter.issues import display_path
from newsletter.services import Services
from subscribers.db import utcnow

from . import store
from .files import StepFile, read_step_files
from .models import SequenceStep

log = logging.getLogger("newsletter.sequences")

#: How many times one run goes back for rows that arrived while it sent.
_ROUNDS = 3


@dataclass
class SyncReport:
    """What one :func:`sync_steps` did, by step (``weekly/01-welcome``)."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: (newsletter, name) of the steps whose files are there and valid now.
    live: set[tuple[str, str]] = field(default_factory=set)

    def as_dict(self) -> dict[str, list[str]]:
        """The report as JSON-able lists."""
        return {
            "added": self.added,
            "changed": self.changed,
            "removed": self.removed,
            "errors": self.errors,
            "warnings": self.warnings,
        }


@dataclass
class WalkReport:
    """One walk: the sync, and how many readers each step was sent to (by step)."""

    sync: SyncReport
    sent: dict[str, int] = field(default_factory=dict)


def sync_steps(services: Services, *, now: datetime | None = None) -> SyncReport:
    """Record the step files: new ones with ``first_seen_at``, changes, removals.

    A file that cannot be read leaves its step as it was (an error, not a removal). A
    removed or draft step is sent to nobody new; readers it was waiting for are skipped
    to the next step.
    """
    moment = now or utcnow()
    files = read_step_files(services.settings)
    report = SyncReport(errors=files.errors, warnings=files.warnings)
    live = {(step.newsletter_id, step.name): step for step in files.steps if not step.draft}
    report.live = set(live)
    with db.transaction(services.sessions) as session:
        known = {(s.newsletter_id, s.name): s for s in store.all_steps(session)}
        for key, step in live.items():
            row = _row(services, step)
            if key not in known:
                send_id = store.create_step_send(
                    session,
                    slug=step.slug,
                    newsletter_id=step.newsletter_id,
                    subject=step.issue.subject,
                    backend=services.settings.delivery.backend,
                    now=moment,
                )
                store.add_step(session, row, send_id=send_id, now=moment)
                report.added.append("/".join(key))
            elif store.update_step(session, known[key], row, now=moment):
                report.changed.append("/".join(key))
        for key, gone in known.items():
            if key not in live and key not in files.broken and gone.removed_at is None:
                store.remove_step(session, gone, now=moment)
                report.removed.append("/".join(key))
    return report


def _row(services: Services, step: StepFile) -> store.StepRow:
    return store.StepRow(
        newsletter_id=step.newsletter_id,
        name=step.name,
        position=step.position,
        after_seconds=step.after.total_seconds(),
        backfill=step.backfill,
        subject=step.issue.subject,
        source_path=display_path(services.settings, step.issue.source_path),
        source_hash=step.issue.source_hash,
    )


def walk(services: Services, *, options: RunOptions | None = None) -> WalkReport:
    """Sync the step files, then send every step to the readers it fell due for, in order.

    Steps of one newsletter run one after the other, so a reader whose next step is due
    too gets it in the same walk, after the one before.
    """
    report = WalkReport(sync=sync_steps(services))
    with services.sessions() as session:
        cancelled = store.cancelled_step_sends(session)
        # One whose send an operator cancelled (`sends cancel`) is out of the sequence, like
        # a removed or drafted file. A step whose file is refused right now (a typo being
        # fixed, say) is still in it: it waits, neither sent from a stale copy nor skipped,
        # and so do the steps after it for every reader it is for.
        steps = [step for step in store.live_steps(session) if step.send_id not in cancelled]
    for newsletter_id, grouped in groupby(steps, key=lambda step: step.newsletter_id):
        try:
            _walk_newsletter(
                services, newsletter_id, list(grouped), report, options, live=report.sync.live
            )
        except Exception:  # one newsletter's trouble does not hold up the others
            log.exception("sequences: walking %s failed; the next walk tries again", newsletter_id)
    return report


def _walk_newsletter(
    services: Services,
    newsletter_id: str,
    ordered: list[SequenceStep],
    report: WalkReport,
    options: RunOptions | None,
    *,
    live: set[tuple[str, str]],
) -> None:
    """Run the newsletter's steps in order. ``ordered`` holds every step in the sequence,
    refused ones too: those are not run, but stay in ``earlier`` for the steps after them,
    so a reader they are for waits there until the file is valid again."""
    quiet = in_quiet_hours(services, newsletter_id)
    for index, step in enumerate(ordered):
        if (step.newsletter_id, step.name) not in live:
            continue  # refused right now: waits (and holds up its readers behind it)
        if quiet and step.after_seconds > 0:
            continue  # waits for the window's end; a welcome (after: 0) goes at once
        sent = run_step(services, step, earlier=ordered[:index], options=options)
        if sent:
            report.sent[f"{step.newsletter_id}/{step.name}"] = sent


def in_quiet_hours(services: Services, newsletter_id: str, now: datetime | None = None) -> bool:
    """Whether the newsletter's ``quiet_hours`` window (in ``site.timezone``) holds now."""
    try:
        window = services.settings.newsletter(newsletter_id).quiet
    except ConfigError:  # a newsletter since removed from config.yaml sends nothing anyway
        return False
    if window is None:
        return False
    local = (now or utcnow()).astimezone(services.settings.site.tz)
    return window.contains(local.time())


def run_step(
    services: Services,
    step: SequenceStep,
    *,
    earlier: list[SequenceStep],
    options: RunOptions | None = None,
) -> int:
    """Add the readers the step fell due for and send them; how many rows were added.

    Nothing is written unless something is due, waiting, or left by a dead runner. The
    rows are added only by the runner that claimed the step's send, so nobody marks the
    send ``sent`` with rows it did not see.
    """
    if not _needs_a_run(services, step, earlier):
        return 0
    worker = engine.new_worker_id()
    added = 0
    with liveness.hold(services, worker):
        if not engine.claim_to_continue(services, step.send_id, worker=worker):
            return 0  # another serve runs it now
        for _round in range(_ROUNDS):
            with db.transaction(services.sessions) as session:
                added += store.enqueue_due(session, step, earlier=earlier, now=utcnow())
            run_batches(services, step.send_id, worker=worker, options=options or RunOptions())
            finish(services, step.send_id)
            if not _more_to_send(services, step.send_id):
                break
    if added:
        log.info("sequences: %s/%s sent to %d reader(s)", step.newsletter_id, step.name, added)
    return added


def _needs_a_run(services: Services, step: SequenceStep, earlier: list[SequenceStep]) -> bool:
    with services.sessions() as session:
        send = delivery_store.get_send(session, step.send_id)
        if send is None:
            return False
        if send.status == SendStatus.SENDING or delivery_store.has_active_rows(session, send.id):
            return True
        return store.any_due(session, step, earlier=earlier, now=utcnow())


def _more_to_send(services: Services, send_id: int) -> bool:
    with services.sessions() as session:
        send = delivery_store.get_send(session, send_id)
        if send is None or send.status != SendStatus.SENDING:
            return False
        counts = delivery_store.counts(session, send_id)
    return counts[DeliveryStatus.PENDING.value] > 0


def welcome_replaced(services: Services, newsletter_ids: list[str]) -> set[str]:
    """Of these newsletters, those whose sequence starts at confirmation (``after: 0``):
    their step is the welcome email, so the built-in one is not sent for them."""
    with services.sessions() as session:
        return store.replacing_welcome(session, newsletter_ids)
