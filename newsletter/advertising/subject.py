"""The ``(광고)`` subject prefix: added exactly once, and hand-written look-alikes found.

정보통신망법 시행령 별표 6 asks for ``(광고)`` at the very start of an advertising email's
subject. Editors write it by hand in many shapes (``[광고]``, ``(광고 )``, ``（광고）``,
``(AD)``, ``광고:``); filters and the regulator look for the exact one. The renderer adds
``(광고) `` itself; :func:`wrong_prefix` finds any other shape so that ``check`` refuses it.
"""

from __future__ import annotations

import re
import unicodedata

#: The exact prefix (ASCII parentheses, no space inside), and what the renderer writes.
AD_PREFIX = "(광고)"
_INVISIBLE = re.compile("[\u200b-\u200f\u2060\ufeff\u00ad]")
_OPEN = "([{<〈《「『【〔〖〘〚"
_CLOSE = ")]}>〉》」』】〕〗〙〛"
_SEPARATORS = ":|-–—/·•"
_KOREAN = r"광\s*고"
_ENGLISH = r"a\s*d(?:\s*v(?:ert(?:isement|ising)?)?)?"
_LOOKALIKE = re.compile(
    rf"^\s*(?:[{re.escape(_OPEN)}]\s*(?:{_KOREAN}|{_ENGLISH})\s*[{re.escape(_CLOSE + _SEPARATORS)}]"
    rf"|{_KOREAN}\s*[{re.escape(_CLOSE + _SEPARATORS)}]"
    rf"|{_ENGLISH}\s*[{re.escape(_CLOSE)}:|])",
    re.IGNORECASE,
)


def normalized(text: str) -> str:
    """``text`` as its look is judged: NFKC (full-width and compatibility forms become
    plain), invisible characters dropped, every kind of space one ASCII space."""
    folded = _INVISIBLE.sub("", unicodedata.normalize("NFKC", text))
    return "".join(" " if ch.isspace() else ch for ch in folded)


def has_exact_prefix(subject: str) -> bool:
    """Whether ``subject`` starts (after leading spaces) with exactly ``(광고)``."""
    return subject.lstrip().startswith(AD_PREFIX)


def ad_subject(subject: str) -> str:
    """The subject of an advertising email: ``(광고) `` plus the subject, never doubled."""
    text = subject.strip()
    if has_exact_prefix(text):
        text = text[len(AD_PREFIX) :].lstrip()
    return f"{AD_PREFIX} {text}" if text else AD_PREFIX


def with_test_prefix(subject: str, test_prefix: str) -> str:
    """A test copy's subject: ``(광고)`` stays first, the test marker after it."""
    if not has_exact_prefix(subject):
        return f"{test_prefix}{subject}"
    return f"{AD_PREFIX} {test_prefix}{subject.lstrip()[len(AD_PREFIX) :].lstrip()}"


def wrong_prefix(subject: str) -> str | None:
    """The hand-written advertising prefix of ``subject`` that is not exactly ``(광고)``
    (as written), or None. ``(광고)`` itself, and titles merely about advertising
    (``광고 시장 동향``), are None."""
    text = subject.lstrip()
    if has_exact_prefix(text):
        rest = text[len(AD_PREFIX) :]
        if has_exact_prefix(rest):
            return f"{AD_PREFIX} {AD_PREFIX}"  # written twice
        return wrong_prefix(rest)  # another prefix after it
    match = _LOOKALIKE.match(normalized(text))
    if match is None:
        return None
    return _original_span(text, len(match.group(0).rstrip()))


def _original_span(text: str, length: int) -> str:
    """The start of ``text`` that normalizes to ``length`` characters (to quote it)."""
    for end in range(1, len(text) + 1):
        if len(normalized(text[:end]).rstrip()) >= length:
            return text[:end]
    return text
