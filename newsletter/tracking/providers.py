"""Mailbox providers, by the domain of the reader's address.

Korean readers are mostly on Naver and Daum/Kakao mail, which is why they are counted
apart. Only the address's domain is read (no MX lookup at send time: no network on the
hot path); a company domain hosted by Gmail or Outlook counts as ``other``.
"""

from __future__ import annotations

from collections.abc import Mapping

#: Provider → its name in reports, in report order.
PROVIDER_NAMES: Mapping[str, str] = {
    "gmail": "Gmail",
    "naver": "Naver",
    "daum": "Daum/Kakao",
    "outlook": "Outlook/Hotmail",
    "icloud": "iCloud",
    "other": "other",
}

#: One-letter code in a tracking token → provider.
PROVIDER_CODES: Mapping[str, str] = {
    "g": "gmail",
    "n": "naver",
    "d": "daum",
    "o": "outlook",
    "i": "icloud",
    "x": "other",
}
CODE_OF: Mapping[str, str] = {provider: code for code, provider in PROVIDER_CODES.items()}

DOMAINS: Mapping[str, str] = {
    "gmail.com": "gmail",
    "googlemail.com": "gmail",
    "naver.com": "naver",
    "daum.net": "daum",
    "hanmail.net": "daum",
    "kakao.com": "daum",
    "outlook.com": "outlook",
    "hotmail.com": "outlook",
    "live.com": "outlook",
    "msn.com": "outlook",
    "outlook.kr": "outlook",
    "hotmail.co.kr": "outlook",
    "icloud.com": "icloud",
    "me.com": "icloud",
    "mac.com": "icloud",
}


def provider_of(email: str) -> str:
    """The mailbox provider of ``email`` (a key of :data:`PROVIDER_NAMES`)."""
    domain = email.rpartition("@")[2].strip().rstrip(".").lower()
    return DOMAINS.get(domain, "other")
