"""What ``newsletter sequences list|show`` and the dashboard show: steps, readers, figures.

Per step: how many readers are at it now (it is the furthest step they have, and they are
still subscribed), the ledger's outcomes, bounces (provider events), readers who left after
it (unsubscribed with it as the last step received) and, with tracking on, readers who
clicked (a person's click, not a scanner's). ``not_started``: subscribed readers with no
step yet (waiting for the first, or confirmed before the sequence existed).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from newsletter.delivery import store as delivery_store
from newsletter.events.store import outcome_counts
from newsletter.services import Services

from . import store
from .files import read_step_files
from .models import SequenceStep

_UNITS = (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


def delay_text(seconds: float) -> str:
    """``after:`` as an editor writes it: ``0``, ``90s``, ``30m``, ``12h``, ``3d``, ``2w``."""
    if seconds == 0:
        return "0"
    for unit, size in _UNITS:
        if seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


@dataclass(frozen=True)
class StepFigures:
    """One step and its figures."""

    position: int
    name: str
    subject: str
    after: str
    backfill: bool
    removed: bool
    first_seen_at: datetime
    send_id: int
    at_step: int
    sent: int
    counts: dict[str, int]
    bounces: int
    unsubscribes: int
    clickers: int | None  # None: tracking is off for the newsletter

    def as_row(self) -> dict[str, object]:
        """The step as JSON-able values (``first_seen_at`` in ISO 8601)."""
        row = asdict(self)
        row["first_seen_at"] = self.first_seen_at.isoformat()
        return row


@dataclass(frozen=True)
class SequenceFigures:
    """A newsletter's sequence: its steps in order, and who has not started."""

    newsletter_id: str
    name: str
    tracking: str
    not_started: int
    steps: list[StepFigures] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        """The JSON shape of ``sequences show --json`` (docs/automations.md)."""
        data = asdict(self)
        data["steps"] = [step.as_row() for step in self.steps]
        return data


def sequence_report(services: Services, newsletter_id: str) -> SequenceFigures:
    """The figures of one newsletter's sequence (``ConfigError`` for an unknown newsletter)."""
    newsletter = services.settings.newsletter(newsletter_id)
    errors = [
        error
        for error in read_step_files(services.settings).errors
        if f"/{newsletter_id}/" in error.replace("\\", "/")
    ]
    with services.sessions() as session:
        steps = store.all_steps(session, newsletter_id)
        at = store.furthest_steps(session, newsletter_id)
        figures = [_step(session, step, at, newsletter.tracking) for step in steps]
        return SequenceFigures(
            newsletter_id=newsletter_id,
            name=newsletter.name,
            tracking=newsletter.tracking,
            not_started=store.not_started(session, newsletter_id),
            steps=figures,
            errors=errors,
        )


def all_sequences(services: Services) -> list[SequenceFigures]:
    """Every configured newsletter's sequence that has (or had) a step."""
    with services.sessions() as session:
        ids = {step.newsletter_id for step in store.all_steps(session)}
    return [
        sequence_report(services, newsletter.id)
        for newsletter in services.settings.newsletters
        if newsletter.id in ids
    ]


def _step(session: Session, step: SequenceStep, at: dict[int, int], tracking: str) -> StepFigures:
    counts = delivery_store.counts(session, step.send_id)
    outcomes = outcome_counts(session, step.send_id)
    return StepFigures(
        position=step.position,
        name=step.name,
        subject=step.subject,
        after=delay_text(step.after_seconds),
        backfill=step.backfill,
        removed=step.removed_at is not None,
        first_seen_at=step.first_seen_at,
        send_id=step.send_id,
        at_step=at.get(step.position, 0),
        sent=counts.get("accepted", 0),
        counts=counts,
        bounces=outcomes.get("bounced", 0) + outcomes.get("dropped", 0),
        unsubscribes=store.left_after(session, step),
        clickers=None if tracking == "off" else store.human_clickers(session, step.send_id),
    )
