"""What the delivery engine calls for an A/B send, and the report of its test.

    record(session, send_id, test)            with the send: its subjects, sample, wait
    on_fan_out(session, send_id, now=…)       in the fan-out's transaction: draw the sample
    on_wave(session, send_id, wave, now)      a due hook (newsletter/timing): decide, once
    decide(session, send_id, now=…)           pick and record the winner; the rest gets it
    runner_subjects(services, send_id)        the subjects a runner picks from, per row
    report(services, send_id)                 each subject's figures and the verdict

The sample is drawn with the operating system's random source (``random.SystemRandom``):
``size`` ledger rows at random, dealt to the subjects in turn, so the groups differ by at
most one reader and nobody can predict who gets which subject. Everything the draw writes
(each row's ``variant`` and ``in_sample``, the rest's due instant) is in the fan-out's
transaction: a crash leaves either no fan-out or all of it.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from newsletter.abtest import store
from newsletter.abtest.decide import REASON_TEXT, VariantFigures, WinReason, choose_winner
from newsletter.abtest.models import AbTestRow
from newsletter.abtest.spec import AbTest, parse_sample, wait_label
from newsletter.delivery.models import Delivery
from newsletter.delivery.store import ClaimedDelivery
from newsletter.services import Services
from newsletter.timing import waves
from newsletter.timing.store import ReachedWave

_RANDOM = random.SystemRandom()


def record(session: Session, send_id: int, test: AbTest, *, tracking: bool, now: datetime) -> None:
    """Keep the issue's test with its send (subjects fixed from now on).

    Without tracking nothing can be measured: the first subject is recorded as the winner
    (``tracking_off``) at once, and the fan-out gives it to everybody with no sample.
    """
    store.insert_test(session, send_id, test)
    if not tracking:
        store.record_winner(
            session, send_id, winner=0, reason=WinReason.TRACKING_OFF, now=now, figures=[]
        )


def on_fan_out(session: Session, send_id: int, now: datetime) -> None:
    """Fan-out hook (newsletter/timing/waves.py): draw the sample and split it between the
    subjects; the rest is due when the wait ends. Nothing for a send without a test."""
    row = store.get_test(session, send_id)
    if row is None:
        return
    if row.winner is not None:  # tracking off: everybody gets the first subject, now
        store.set_variant_for_rest(session, send_id, row.winner)
        store.start_test(session, send_id, sample_size=0, decide_at=now)
        return
    variants = len(store.subjects_of(row))
    audience = store.pending_ids(session, send_id)
    size = parse_sample(row.sample, variants).size(len(audience), variants)
    store.assign_sample(session, deal(audience, size=size, variants=variants))
    decide_at = now + timedelta(seconds=row.wait_seconds)
    store.start_test(session, send_id, sample_size=size, decide_at=decide_at)
    waves.defer(session, send_id, due_at=decide_at, where=Delivery.in_sample.is_(False))


def deal(
    audience: Sequence[int], *, size: int, variants: int, rng: random.Random = _RANDOM
) -> list[tuple[int, int]]:
    """(row, variant) for ``size`` rows drawn at random from ``audience``, dealt to the
    ``variants`` in turn: group sizes differ by at most one, membership is random."""
    chosen = rng.sample(list(audience), min(size, len(audience)))
    return [(row, n % variants) for n, row in enumerate(chosen)]


def on_wave(session: Session, send_id: int, wave: ReachedWave, now: datetime) -> None:
    """Due hook: when the rest's wave is reached, decide (before any of its rows is claimed)."""
    row = store.get_test(session, send_id)
    if row is None or row.winner is not None or row.decide_at is None:
        return
    if wave.due_at >= row.decide_at:
        decide(session, send_id, now=now)


def decide(session: Session, send_id: int, *, now: datetime) -> int:
    """Pick the winner from the sample's figures and record it once; the rest gets it.

    Returns the recorded winner (another runner's, if it decided first).
    """
    row = store.get_test(session, send_id)
    if row is None:
        raise ValueError(f"send {send_id} has no A/B test")
    if row.winner is None:
        figures = sample_figures(session, row)
        winner, reason = choose_winner(figures, tracking=True)
        store.record_winner(
            session,
            send_id,
            winner=winner,
            reason=reason,
            now=now,
            figures=[f.as_dict() for f in figures],
        )
        session.expire(row)
        row = store.get_test(session, send_id)
        assert row is not None and row.winner is not None
    store.set_variant_for_rest(session, send_id, row.winner)
    return row.winner


def sample_figures(session: Session, row: AbTestRow) -> list[VariantFigures]:
    """Each subject's sample group: recipients, delivered, unique clickers and openers."""
    counts = store.group_counts(session, row.send_id)
    clickers = store.people(session, row.send_id, "link")
    openers = store.people(session, row.send_id, "open")
    figures = []
    for variant, subject in enumerate(store.subjects_of(row)):
        key = ("sample", variant)
        group = counts.get(key, store.GroupCounts())
        figures.append(
            VariantFigures(
                variant=variant,
                subject=subject,
                recipients=group.recipients,
                delivered=group.delivered,
                clickers=clickers.get(key, 0),
                openers=openers.get(key, 0),
            )
        )
    return figures


@dataclass(frozen=True)
class RunnerSubjects:
    """What a runner of an A/B send needs per claimed row: its subject and tracking group."""

    subjects: tuple[str, ...]

    def subject(self, row: ClaimedDelivery) -> str:
        """The row's subject (its variant's); the first for a row without one."""
        variant = row.variant if row.variant is not None else 0
        return self.subjects[variant] if 0 <= variant < len(self.subjects) else self.subjects[0]

    @staticmethod
    def group(row: ClaimedDelivery) -> int:
        """See :func:`reader_group`."""
        return reader_group(row)


def reader_group(row: ClaimedDelivery) -> int:
    """The group an aggregate tracking token carries: n + 1 in variant n's sample, else 0."""
    return row.variant + 1 if row.in_sample and row.variant is not None else 0


def runner_subjects(services: Services, send_id: int) -> RunnerSubjects | None:
    """The send's subjects for its runner; None for a send with one subject."""
    with services.sessions() as session:
        row = store.get_test(session, send_id)
        return None if row is None else RunnerSubjects(store.subjects_of(row))


@dataclass(frozen=True)
class AbReport:
    """An A/B send's test: each subject's sample figures, the rest, the verdict."""

    subjects: list[str]
    sample: str
    wait: str
    sample_size: int
    decide_at: str
    winner: int | None
    winner_subject: str
    reason: str
    reason_text: str
    decided_at: str
    #: Each subject's sample group, live.
    variants: list[VariantFigures] = field(default_factory=list)
    #: The rest of the audience (sent the winner), as one group (``variant`` = the winner).
    rest: VariantFigures | None = None
    #: Each subject's figures when the winner was decided.
    at_decision: list[dict[str, object]] = field(default_factory=list)


def decide_if_due(services: Services, send_id: int) -> None:
    """Decide a test whose wait ended with nobody left to send (a 100% sample: no rest
    wave, so no due hook), once, like any other; nothing for other sends."""
    from newsletter import db
    from subscribers.db import utcnow

    now = utcnow()
    with services.sessions() as session:
        row = store.get_test(session, send_id)
        due = (
            row is not None
            and row.winner is None
            and row.decide_at is not None
            and row.decide_at <= now
        )
    if due:
        with db.transaction(services.sessions) as session:
            # Deciders queue here (the row's lock; SQLite's write lock) before they read the
            # figures; the UPDATE … WHERE winner IS NULL keeps the first decision anyway.
            store.lock_test(session, send_id)
            decide(session, send_id, now=now)


def report(services: Services, send_id: int) -> AbReport | None:
    """The send's test as it stands, decided first if its wait has passed (see
    :func:`decide_if_due`); None for a send with one subject."""
    decide_if_due(services, send_id)
    with services.sessions() as session:
        return ab_report(session, send_id)


def ab_report(session: Session, send_id: int) -> AbReport | None:
    """The test of a send as it stands (None for a send with one subject)."""
    row = store.get_test(session, send_id)
    return None if row is None else _report(session, row)


def _report(session: Session, row: AbTestRow) -> AbReport:
    import json

    subjects = store.subjects_of(row)
    counts = store.group_counts(session, row.send_id)
    rest = counts.get(store.REST, store.GroupCounts())
    clickers = store.people(session, row.send_id, "link").get(store.REST, 0)
    openers = store.people(session, row.send_id, "open").get(store.REST, 0)
    reason = WinReason(row.reason) if row.reason else None
    return AbReport(
        subjects=list(subjects),
        sample=row.sample,
        wait=wait_label(timedelta(seconds=row.wait_seconds)),
        sample_size=row.sample_size,
        decide_at=_iso(row.decide_at),
        winner=row.winner,
        winner_subject=subjects[row.winner] if row.winner is not None else "",
        reason=row.reason,
        reason_text=REASON_TEXT[reason] if reason else "",
        decided_at=_iso(row.decided_at),
        variants=sample_figures(session, row),
        rest=VariantFigures(
            variant=row.winner if row.winner is not None else -1,
            subject=subjects[row.winner] if row.winner is not None else "",
            recipients=rest.recipients,
            delivered=rest.delivered,
            clickers=clickers,
            openers=openers,
        ),
        at_decision=json.loads(row.figures) if row.figures else [],
    )


def _iso(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value is not None else ""
