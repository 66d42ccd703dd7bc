"""``newsletter mailbox process``: read the bounce mailbox, act, move aside.

Each message (in a Maildir's ``new/`` and ``cur/`` here, or an IMAP folder: ``imap.py``)
is classified (``classify``), tied to a ledger row through a VERP token that must verify,
and becomes the same :class:`~newsletter.events.types.ProviderEvent` the SendGrid webhook
makes, stored and applied by the same code (``events.store``, ``events.effects``) in one
transaction per message (:func:`judge`). Then it moves aside (:class:`Aside`): to the
Maildir++ folder ``.processed``, or ``.attention`` for one a person should look at
(unreadable, too large, nested too deep, or crashing the parser). A message is never
deleted.

Idempotence: an event's id is derived from the message's ``Message-ID`` (or, without one,
its bytes), so a message processed twice, or delivered twice, is stored and applied once
(a crash between the commit and the move reprocesses it harmlessly).

Safety: nothing happens to a subscriber unless the message names a ledger row through a
token signed with our key, and, for a bounce, the address the bounce reports failing is
that row's address (``Final-Recipient`` or ``Original-Recipient``). Everything else is
ignored and counted under its reason.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections import Counter
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from newsletter import db
from newsletter.delivery.verp import VerpPurpose
from newsletter.events.effects import apply_effects
from newsletter.events.store import insert_new_events
from newsletter.events.types import ProviderEvent, ProviderEventKind
from newsletter.mailbox.classify import Classified, Verdict, classify_bytes
from newsletter.mailbox.store import DeliveryOwner, delivery_owner
from newsletter.services import Services

log = logging.getLogger("newsletter.mailbox")

PROVIDER = "mailbox"


class Aside(Enum):
    """Where a message goes once read: kept either way, never deleted."""

    PROCESSED = "processed"
    ATTENTION = "attention"  # for a person: unreadable, too large, malformed


#: The Maildir++ folders (an IMAP mailbox names its own: ``delivery.mailbox``).
PROCESSED = f".{Aside.PROCESSED.value}"
ATTENTION = f".{Aside.ATTENTION.value}"

_KINDS = {
    Verdict.HARD_BOUNCE: ProviderEventKind.BOUNCED,
    Verdict.SOFT_BOUNCE: ProviderEventKind.BLOCKED,
    Verdict.DELAYED: ProviderEventKind.DEFERRED,
    Verdict.COMPLAINT: ProviderEventKind.COMPLAINED,
    Verdict.UNSUBSCRIBE: ProviderEventKind.GROUP_UNSUBSCRIBED,
}
#: The VERP purposes that may vouch for each verdict: a bounce comes back to the envelope
#: sender; a complaint's original names either; an unsubscribe goes to its own address.
_PURPOSES = {
    Verdict.HARD_BOUNCE: (VerpPurpose.BOUNCE,),
    Verdict.SOFT_BOUNCE: (VerpPurpose.BOUNCE,),
    Verdict.DELAYED: (VerpPurpose.BOUNCE,),
    Verdict.COMPLAINT: (VerpPurpose.BOUNCE, VerpPurpose.UNSUBSCRIBE),
    Verdict.UNSUBSCRIBE: (VerpPurpose.UNSUBSCRIBE,),
}


@dataclass
class MailboxReport:
    """What one run did: messages read, and how many ended each way (``outcomes``)."""

    read: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, object]:
        """For ``--json`` and the log."""
        return {"read": self.read, **dict(sorted(self.outcomes.items()))}


def process_maildir(services: Services, *, path: Path) -> MailboxReport:
    """Process every message waiting in the Maildir at ``path`` (see the module docstring)."""
    settings = services.settings.delivery
    report = MailboxReport()
    for folder in (PROCESSED, ATTENTION):
        for sub in ("tmp", "new", "cur"):
            (path / folder / sub).mkdir(parents=True, exist_ok=True)
    for file in _waiting(path):
        report.read += 1
        outcome, folder = _process_file(services, file, settings.mailbox.max_message_bytes)
        report.outcomes[outcome] += 1
        _move(file, path / folder / "cur")
    if report.read:
        log.info("mailbox %s: %s", path, report.as_dict())
    return report


def _waiting(path: Path) -> list[Path]:
    files: list[Path] = []
    for sub in ("new", "cur"):
        folder = path / sub
        if folder.is_dir():
            files += sorted(
                p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
            )
    return files


def _process_file(services: Services, file: Path, limit: int) -> tuple[str, str]:
    """The outcome (a counter name) and the folder the message goes to."""
    try:
        if file.stat().st_size > limit:
            return "too_large", ATTENTION
        data = file.read_bytes()
    except OSError as exc:
        log.warning("mailbox: cannot read %s: %s", file, exc)
        return "unreadable", ATTENTION
    outcome, aside = judge(services, data, name=file.name)
    return outcome, f".{aside.value}"


def judge(services: Services, data: bytes, *, name: str) -> tuple[str, Aside]:
    """Classify one message's bytes and act on them (:func:`process_message`): the outcome
    (a counter name) and where the message goes. ``name`` is for the log only."""
    try:
        found = classify_bytes(data)
    except Exception:  # one hostile message must never stop the run
        log.exception("mailbox: cannot parse %s", name)
        return "unparseable", Aside.ATTENTION
    if found.verdict is Verdict.MALFORMED:
        return "malformed", Aside.ATTENTION
    return process_message(services, data=data, found=found), Aside.PROCESSED


def process_message(services: Services, *, data: bytes, found: Classified) -> str:
    """Act on one classified message; the name of what happened (counted by the caller)."""
    kind = _KINDS.get(found.verdict)
    if kind is None:
        return found.verdict.value  # auto_reply, not_ours: ignored
    delivery_id = _vouched_delivery(services, found)
    if delivery_id is None:
        return "ignored_no_valid_token"
    with db.transaction(services.sessions) as session:
        owner = delivery_owner(session, delivery_id)
        if owner is None:
            return "ignored_unknown_delivery"
        if found.verdict in (Verdict.HARD_BOUNCE, Verdict.SOFT_BOUNCE, Verdict.DELAYED) and (
            owner.email not in found.recipients
        ):
            return "ignored_address_mismatch"
        event = _event(kind, found, owner, data)
        new = insert_new_events(session, [event], provider=PROVIDER)
        apply_effects(session, new)
    return found.verdict.value if new else "duplicate"


def _vouched_delivery(services: Services, found: Classified) -> int | None:
    domain = services.settings.delivery.bounce_domain
    if not domain:
        return None
    purposes = _PURPOSES[found.verdict]
    for candidate in found.verp_candidates:
        address = services.verp.read_address(candidate, domain)
        if address is not None and address.purpose in purposes:
            return address.delivery_id
    return None


def _event(
    kind: ProviderEventKind, found: Classified, owner: DeliveryOwner, data: bytes
) -> ProviderEvent:
    identity = found.message_id.encode("utf-8", "replace") if found.message_id else data
    digest = hashlib.sha256(identity).hexdigest()[:40]
    return ProviderEvent(
        kind=kind,
        event=f"mailbox_{found.verdict.value}"[:32],
        email=owner.email,
        message_id=(found.message_id or f"sha256:{digest}")[:250],
        timestamp=0,  # the message is the event: its id is the key, not a clock
        event_id=f"mailbox:{owner.delivery_id}:{digest}",
        send_id=owner.send_id,
        delivery_id=owner.delivery_id,
        reason=(f"{found.status} {found.reason}".strip())[:1000],
        raw={
            "verdict": found.verdict.value,
            "status": found.status,
            "recipients": sorted(found.recipients),
            "message_id": found.message_id,
            **found.detail,
        },
        source=PROVIDER,
    )


def _move(file: Path, folder: Path) -> None:
    name = file.name if ":2," in file.name else f"{file.name}:2,S"
    try:
        os.replace(file, folder / name)
    except OSError as exc:  # left in place: the next run sees it again (idempotent)
        log.warning("mailbox: cannot move %s to %s: %s", file, folder, exc)
