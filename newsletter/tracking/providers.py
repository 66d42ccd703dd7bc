"""Mailbox providers, by the domain of the reader's address or, failing that, its MX.

Korean readers are mostly on Naver and Daum/Kakao mail, which is why they are counted
apart. A well-known domain (:data:`DOMAINS`) decides at once; any other domain is looked
up once at send time (:mod:`newsletter.tracking.mx`) and its mail exchanger decides
(:func:`provider_of_mx`): a company domain on Google Workspace counts as Gmail.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

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


#: Mail exchanger host (itself or any subdomain of it) → provider: Google Workspace,
#: Naver Works, Daum/Kakao, Microsoft 365 (``*.mail.protection.outlook.com``), iCloud.
MX_HOSTS: Mapping[str, str] = {
    "aspmx.l.google.com": "gmail",
    "smtp.google.com": "gmail",
    "googlemail.com": "gmail",
    "naver.com": "naver",
    "worksmobile.com": "naver",
    "daum.net": "daum",
    "hanmail.net": "daum",
    "kakao.com": "daum",
    "outlook.com": "outlook",
    "hotmail.com": "outlook",
    "icloud.com": "icloud",
}


def domain_of(email: str) -> str:
    """The domain of ``email`` as looked up: lower case, no trailing dot."""
    return email.rpartition("@")[2].strip().rstrip(".").lower()


def provider_of(email: str) -> str:
    """The mailbox provider of ``email`` by its domain alone (a key of :data:`PROVIDER_NAMES`)."""
    return DOMAINS.get(domain_of(email), "other")


def well_known(domain: str) -> bool:
    """Whether ``domain`` is decided without a lookup."""
    return domain in DOMAINS


def provider_of_mx(hosts: Sequence[str]) -> str:
    """The provider of a domain whose most preferred mail exchangers are ``hosts``: the
    first of them under a well-known provider's MX decides; none: ``other`` (a backup MX
    at Google behind a company's own gateway does not make the domain Gmail)."""
    for host in hosts:
        name = host.rstrip(".").lower()
        for suffix, provider in MX_HOSTS.items():
            if name == suffix or name.endswith("." + suffix):
                return provider
    return "other"
