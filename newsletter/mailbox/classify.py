"""What one message of the bounce mailbox is: a pure function of its bytes (no database).

In order, first match wins:

1. a DSN (RFC 3464: ``multipart/report; report-type=delivery-status``): each per-recipient
   block's ``Action`` and ``Status``; a permanent failure (5.x.x) is a hard bounce, except
   the statuses that say the address exists (full mailbox 5.2.2, message too big 5.2.3 and
   5.3.4, policy and reputation 5.7.x): those and 4.x.x failures are soft bounces,
   ``delayed`` is a deferral;
2. an ARF complaint (RFC 5965: ``multipart/report; report-type=feedback-report``);
3. a non-standard bounce ``flufl.bounce`` recognises (old Exim's, qmail's, Exchange's…;
   before the next rule, since bounces are ``Auto-Submitted`` too);
4. an automatic answer (RFC 3834 ``Auto-Submitted`` other than ``no``, ``X-Autoreply``,
   ``X-Autorespond``, ``Precedence: auto_reply``, an out-of-office subject): ignored;
5. anything else: an unsubscribe when it was sent to an ``unsubscribe+TOKEN@`` address,
   otherwise not ours to act on.

The VERP addresses a message names (``bounces+TOKEN@``, ``unsubscribe+TOKEN@``) are taken
from the headers the delivering server writes (``Delivered-To``, ``X-Original-To``,
``Envelope-To``, ``To``…) and, for a complaint, from the original message inside the
report (its ``Return-Path`` and ``List-Unsubscribe``). Checking the token and the address
against the ledger is the service's job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from email.policy import compat32
from email.utils import getaddresses
from enum import StrEnum

from flufl.bounce import all_failures

#: Headers the delivering server (or the sender, for ``To``) puts the envelope recipient in.
RECIPIENT_HEADERS = (
    "Delivered-To",
    "X-Original-To",
    "Envelope-To",
    "X-Envelope-To",
    "X-Delivered-To",
    "To",
    "Cc",
)
#: Where the original message of a complaint names our VERP addresses.
ORIGINAL_HEADERS = ("Return-Path", "List-Unsubscribe", "Sender", "Errors-To")
#: 5.x.x statuses that do not say the address is gone: a soft bounce, never a suppression.
SOFT_PERMANENT = re.compile(r"^5\.(2\.[1-4]|3\.4|4\.[0-7]|7\.\d{1,3})$")
#: No bounce, report or reply nests deeper than a few levels or has hundreds of parts.
MAX_DEPTH = 16
MAX_PARTS = 200
_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_VERP_CANDIDATE = re.compile(r"(?:bounces|unsubscribe)\+[A-Za-z0-9]{1,40}@[A-Za-z0-9.-]{1,253}")
_OUT_OF_OFFICE = re.compile(
    r"^(auto(matic)?[ -]?(reply|response)|out of (the )?office|vacation|away from|"
    r"absence|abwesenheit|r[ée]ponse automatique|자동\s*(회신|응답)|부재)",
    re.IGNORECASE,
)


class Verdict(StrEnum):
    """What a message is."""

    HARD_BOUNCE = "hard_bounce"
    SOFT_BOUNCE = "soft_bounce"
    DELAYED = "delayed"
    COMPLAINT = "complaint"
    UNSUBSCRIBE = "unsubscribe"
    AUTO_REPLY = "auto_reply"
    NOT_OURS = "not_ours"
    #: Nested deeper than :data:`MAX_DEPTH` or more than :data:`MAX_PARTS` parts: for a
    #: person (the ``email`` package and the detectors walk parts recursively).
    MALFORMED = "malformed"


@dataclass(frozen=True, slots=True)
class Classified:
    """A classified message: what it is, who it reports on, the VERP addresses it names."""

    verdict: Verdict
    #: The failed recipients a bounce reports (lower-cased), empty for other kinds.
    recipients: frozenset[str] = frozenset()
    status: str = ""
    reason: str = ""
    #: Every ``bounces+…@``/``unsubscribe+…@`` address found where it belongs.
    verp_candidates: tuple[str, ...] = ()
    message_id: str = ""
    detail: dict[str, str] = field(default_factory=dict)


def parse(data: bytes) -> Message:
    """The message, parsed leniently (``compat32``: a defect never raises)."""
    return message_from_bytes(data, policy=compat32)


def classify_bytes(data: bytes) -> Classified:
    """Parse and classify ``data``; a message the parser cannot take apart (the ``email``
    package's parser recurses once per nested multipart) is :attr:`Verdict.MALFORMED`."""
    if data.lower().count(b"boundary=") > MAX_PARTS:
        return Classified(Verdict.MALFORMED)
    try:
        return classify(parse(data))
    except RecursionError:
        return Classified(Verdict.MALFORMED)


def classify(message: Message) -> Classified:
    """Classify a parsed message (see the module's docstring for the rules)."""
    message_id = _text(message.get("Message-ID")).strip()[:250]
    if not _shape_ok(message):
        return Classified(Verdict.MALFORMED, message_id=message_id)
    envelope = _verp_in(message, RECIPIENT_HEADERS)
    subject = _text(message.get("Subject"))[:200]
    report = _report_type(message)
    if report == "delivery-status":
        found = _dsn(message)
        if found is not None:
            verdict, recipients, status, reason = found
            return Classified(
                verdict, recipients, status, reason, envelope, message_id, {"subject": subject}
            )
    if report == "feedback-report":
        original = _original(message)
        candidates = envelope + (_verp_in(original, ORIGINAL_HEADERS) if original else ())
        feedback = _feedback_type(message)
        return Classified(
            Verdict.COMPLAINT,
            reason=f"ARF feedback-type: {feedback}"[:200],
            verp_candidates=candidates,
            message_id=message_id,
            detail={"subject": subject, "feedback_type": feedback},
        )
    bounce = _non_standard(message)
    if bounce is not None:
        verdict, recipients = bounce
        return Classified(
            verdict,
            recipients,
            reason="non-standard bounce (flufl.bounce)",
            verp_candidates=envelope,
            message_id=message_id,
            detail={"subject": subject},
        )
    if _is_auto_reply(message, subject):
        return Classified(Verdict.AUTO_REPLY, verp_candidates=envelope, message_id=message_id)
    if any(c.lower().startswith("unsubscribe+") for c in envelope):
        return Classified(
            Verdict.UNSUBSCRIBE,
            reason="mailto unsubscribe",
            verp_candidates=envelope,
            message_id=message_id,
            detail={"subject": subject},
        )
    return Classified(Verdict.NOT_OURS, verp_candidates=envelope, message_id=message_id)


def _shape_ok(message: Message) -> bool:
    # Iterative: a recursive walk is what a hostile 3,000-level message would break.
    stack, parts = [(message, 0)], 0
    while stack:
        part, depth = stack.pop()
        parts += 1
        if depth > MAX_DEPTH or parts > MAX_PARTS:
            return False
        payload = part.get_payload()
        if isinstance(payload, list):
            stack += [(child, depth + 1) for child in payload if isinstance(child, Message)]
    return True


def _text(value: object) -> str:
    return str(value) if value is not None else ""


def _verp_in(message: Message, names: tuple[str, ...]) -> tuple[str, ...]:
    found: list[str] = []
    for name in names:
        for value in message.get_all(name, []):
            text = _text(value)
            found += _VERP_CANDIDATE.findall(text)
            found += [addr for _, addr in getaddresses([text]) if "+" in addr]
    unique = dict.fromkeys(a.strip().strip("<>") for a in found if _VERP_CANDIDATE.fullmatch(a))
    return tuple(unique)[:8]


def _report_type(message: Message) -> str:
    if message.get_content_type() != "multipart/report":
        return ""
    return _text(message.get_param("report-type", "")).strip().lower()


def _parts(message: Message) -> list[Message]:
    payload = message.get_payload()
    return (
        [part for part in payload if isinstance(part, Message)] if isinstance(payload, list) else []
    )


def _dsn(message: Message) -> tuple[Verdict, frozenset[str], str, str] | None:
    """The DSN's worst outcome over its per-recipient blocks, or ``None`` without any."""
    blocks: list[Message] = []
    for part in _parts(message):
        if part.get_content_type() in ("message/delivery-status", "message/global-delivery-status"):
            blocks += _status_blocks(part)
    outcomes: list[tuple[int, Verdict, frozenset[str], str, str]] = []
    for block in blocks:
        action = _text(block.get("Action")).strip().lower()
        # Both: a forwarding address bounces with the forward target as Final-Recipient.
        named = (block.get("Final-Recipient"), block.get("Original-Recipient"))
        recipient = frozenset(a for a in map(_address, named) if a)
        status_match = _STATUS.search(_text(block.get("Status")))
        status = ".".join(status_match.groups()) if status_match else ""
        reason = " ".join(_text(block.get("Diagnostic-Code")).split())[:1000]
        if not recipient or action not in ("failed", "delayed"):
            continue  # delivered, relayed, expanded: nothing to do
        if action == "delayed" or status.startswith("2"):
            outcomes.append((1, Verdict.DELAYED, recipient, status, reason))
        elif status.startswith("5") and not SOFT_PERMANENT.match(status):
            outcomes.append((3, Verdict.HARD_BOUNCE, recipient, status, reason))
        else:
            outcomes.append((2, Verdict.SOFT_BOUNCE, recipient, status, reason))
    if not outcomes:
        return None
    worst = max(o[0] for o in outcomes)
    chosen = [o for o in outcomes if o[0] == worst]
    _, verdict, _, status, reason = chosen[0]
    return verdict, frozenset().union(*(o[2] for o in chosen)), status, reason or f"status {status}"


def _status_blocks(part: Message) -> list[Message]:
    # The email package parses message/delivery-status into header blocks; when it did not
    # (a part it could not split), parse the text ourselves: blocks between blank lines.
    blocks = _parts(part)
    if len(blocks) > 1:
        return blocks[1:]  # the first block is per-message (Reporting-MTA…)
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return blocks
    text = payload.decode("utf-8", "replace").replace("\r\n", "\n")
    chunks = [c for c in re.split(r"\n\s*\n", text) if c.strip()]
    return [parse(c.encode("utf-8")) for c in chunks[1:]]


def _address(value: object) -> str:
    text = _text(value)
    kind, _, address = text.partition(";")
    if not address:
        address = kind
    address = address.strip().strip("<>").strip()
    return address.lower() if "@" in address and len(address) <= 320 else ""


def _feedback_type(message: Message) -> str:
    for part in _parts(message):
        if part.get_content_type() == "message/feedback-report":
            blocks = _parts(part)
            if blocks:
                return _text(blocks[0].get("Feedback-Type")).strip().lower()[:40] or "abuse"
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                found = re.search(rb"(?im)^feedback-type:\s*([\w-]+)", payload)
                if found:
                    return found[1].decode("ascii", "replace").lower()[:40]
    return "abuse"


def _original(message: Message) -> Message | None:
    for part in _parts(message)[1:]:
        kind = part.get_content_type()
        if kind in ("message/rfc822", "message/global"):
            inner = _parts(part)
            return inner[0] if inner else None
        if kind in ("text/rfc822-headers", "message/rfc822-headers"):
            payload = part.get_payload(decode=True)
            return parse(payload) if isinstance(payload, bytes) else None
    return None


def _is_auto_reply(message: Message, subject: str) -> bool:
    submitted = _text(message.get("Auto-Submitted")).strip().lower()
    if submitted and not submitted.startswith("no"):
        return True
    if message.get("X-Autoreply") or message.get("X-Autorespond"):
        return True
    if _text(message.get("Precedence")).strip().lower() in ("auto_reply", "bulk", "junk"):
        return True
    return _OUT_OF_OFFICE.match(_decoded_subject(subject).strip()) is not None


def _decoded_subject(subject: str) -> str:
    from email.header import decode_header, make_header

    try:
        return str(make_header(decode_header(subject)))
    except (ValueError, LookupError, UnicodeError):
        return subject


def _non_standard(message: Message) -> tuple[Verdict, frozenset[str]] | None:
    try:
        temporary, permanent = all_failures(message)
    except Exception:  # a detector choking on odd input: not a bounce we can read
        return None
    if permanent:
        return Verdict.HARD_BOUNCE, _decoded(permanent)
    if temporary:
        return Verdict.SOFT_BOUNCE, _decoded(temporary)
    return None


def _decoded(addresses: frozenset[bytes] | frozenset[str] | set[bytes]) -> frozenset[str]:
    out = set()
    for raw in addresses:
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        address = _address(text)
        if address:
            out.add(address)
    return frozenset(out)
