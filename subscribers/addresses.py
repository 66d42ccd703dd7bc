"""Email addresses: validation and normalization (email-validator), hashing for suppression.

Two forms are kept for every person: the address as given (what mail is sent to, cleaned of
surrounding whitespace) and its normalized form (lower-cased, IDNA domain): the unique key
used to merge duplicates and to look up the suppression list.

Common ASCII addresses take a fast path (one regular expression, ~1 µs) that accepts only
what email-validator would accept too; anything else goes through email-validator itself.
That keeps a million-row CSV import within its time budget without loosening validation.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import unicodedata
from dataclasses import dataclass

from email_validator import SPECIAL_USE_DOMAIN_NAMES as _SPECIAL_USE
from email_validator import EmailNotValidError, validate_email

from subscribers.errors import InvalidAddress

#: Characters that could smuggle a header or break a line in a message: never in an address.
_FORBIDDEN = re.compile(r'[\s\x00-\x1f\x7f\x85\u2028\u2029<>,;"\\]')

_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_FAST = re.compile(rf"^({_ATOM}(?:\.{_ATOM})*)@((?:{_LABEL}\.)+[A-Za-z]{{2,63}})$")
_SPECIAL_SUFFIXES = tuple(f".{name}" for name in _SPECIAL_USE)


@dataclass(frozen=True, slots=True)
class Address:
    """A valid address: ``email`` as it will be written on envelopes, ``normalized`` as key."""

    email: str
    normalized: str


def parse_address(raw: str) -> Address:
    """Validate ``raw`` (no DNS lookups) and return it with its normalized form.

    Raises ``InvalidAddress`` naming the address and the reason.
    """
    candidate = raw.strip()
    fast = _fast_path(candidate)  # its pattern admits no forbidden character
    if fast is not None:
        return fast
    if not candidate:
        raise InvalidAddress("empty email address")
    if _FORBIDDEN.search(candidate):
        raise InvalidAddress(f"{candidate!r}: forbidden character in an email address")
    try:
        result = validate_email(candidate, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidAddress(f"{candidate!r}: {exc}") from None
    return Address(email=result.normalized, normalized=result.normalized.lower())


def _fast_path(candidate: str) -> Address | None:
    """The common case: plain ASCII ``local@domain.tld`` that email-validator would accept."""
    if len(candidate) > 254:
        return None
    match = _FAST.match(candidate)
    if match is None:
        return None
    local, domain = match.group(1), match.group(2).lower()
    if len(local) > 64 or len(domain) > 253 or domain.endswith(_SPECIAL_SUFFIXES):
        return None
    if "--" in domain:  # punycode and IDNA's reserved labels: let email-validator judge
        return None
    # email-validator lower-cases the domain and keeps the local part as written.
    email = f"{local}@{domain}"
    return Address(email=email, normalized=email.lower())


def normalize(raw: str) -> str:
    """The normalized form of ``raw`` (the unique key); raises ``InvalidAddress``."""
    return parse_address(raw).normalized


#: Providers that ignore dots in the local part (``t.a.r.g.e.t`` is ``target``).
_DOTLESS_DOMAINS = frozenset({"gmail.com", "googlemail.com"})


def mailbox_key(raw: str) -> str:
    """One key for every spelling that reaches the same mailbox (for limits, not storage).

    The address is normalized as for storage (IDNA domain: full-width letters and ``。``
    become ASCII and dots), then NFKC-folded and case-folded whole (full-width or
    upper-case local parts too), a ``+tag`` is dropped, and Gmail's dots. Text that is no
    address at all is folded the same way, so its variants share a key too. Over-merging
    is harmless here: the key only counts sign-ups.
    """
    folded = unicodedata.normalize("NFKC", raw).strip()
    with contextlib.suppress(InvalidAddress):
        folded = parse_address(folded).normalized
    folded = unicodedata.normalize("NFKC", folded).casefold()
    local, at, domain = folded.rpartition("@")
    if not at:
        return folded
    local = local.split("+", 1)[0] or local
    if domain in _DOTLESS_DOMAINS:
        local = local.replace(".", "")
    return f"{local}@{domain}"


def address_hash(normalized: str) -> str:
    """SHA-256 hex of a normalized address: what the suppression list keeps instead of it."""
    return hashlib.sha256(normalized.encode("utf-8")).hexdigest()


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
MAX_NAME_LENGTH = 200


def clean_name(raw: str) -> str:
    """A display name safe for a ``To:`` header: control characters and line breaks become
    single spaces, surrounding space goes, and it is cut to ``MAX_NAME_LENGTH``."""
    if raw.isprintable() and "  " not in raw and raw == raw.strip():
        return raw[:MAX_NAME_LENGTH].rstrip()  # the common case, a million times in an import
    return " ".join(_CONTROL.sub(" ", raw).split())[:MAX_NAME_LENGTH].rstrip()
