from __future__ import annotations

import hashlib

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import given
from hypothesis import strategies as st

from subscribers.addresses import address_hash, clean_name, normalize, parse_address
from subscribers.errors import InvalidAddress

ATEXT = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+/=?^_`{|}~-."
LOCAL = st.text(alphabet=ATEXT, min_size=1, max_size=70)
LABEL = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-",
    min_size=1,
    max_size=12,
)
DOMAIN = st.lists(LABEL, min_size=1, max_size=4).map(".".join) | st.sampled_from(
    ["example.com", "EXAMPLE.org", "mail.test", "x.localhost", "a--b.com", "xn--9n2bp8q.com"]
)


def _reference(address: str) -> str | None:
    try:
        return validate_email(address, check_deliverability=False).normalized
    except EmailNotValidError:
        return None


@given(LOCAL, DOMAIN)
def test_agrees_with_email_validator(local: str, domain: str) -> None:
    address = f"{local}@{domain}"
    expected = _reference(address)
    try:
        got = parse_address(address)
    except InvalidAddress:
        assert expected is None
    else:
        assert got.email == expected
        assert got.normalized == expected.lower()


@given(st.text(max_size=40), st.sampled_from(["\r", "\n", "\r\n", "\x00", "\u2028", "\t"]))
def test_line_breaks_and_controls_are_refused(prefix: str, bad: str) -> None:
    with pytest.raises(InvalidAddress):
        parse_address(f"{prefix}x{bad}bcc@example.com")


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "plain",
        "a@",
        "@b.com",
        "a@b",
        "a b@c.com",
        "<a@b.com>",
        "a@b.com, c@d.com",
        "Name <a@b.com>",
        "a@localhost",
        "a@b.com\r\nBcc: c@d.com",
    ],
)
def test_not_addresses(raw: str) -> None:
    with pytest.raises(InvalidAddress):
        parse_address(raw)


def test_normalized_form_merges_spellings() -> None:
    assert normalize(" Kim.Min@Example.COM ") == "kim.min@example.com"
    assert parse_address("Kim.Min@Example.COM").email == "Kim.Min@example.com"


def test_internationalized_domain_is_accepted() -> None:
    address = parse_address("사용자@예시.한국")
    assert address.normalized == address.email.lower()


def test_hash_is_sha256_of_the_normalized_form() -> None:
    assert address_hash("a@b.com") == hashlib.sha256(b"a@b.com").hexdigest()


@given(st.text(max_size=300) | st.text(alphabet=" a\n", min_size=195, max_size=210))
def test_clean_names_have_no_line_breaks(raw: str) -> None:
    name = clean_name(raw)
    assert not any(ch in name for ch in "\r\n\x00\u2028")
    assert len(name) <= 200 and name == name.strip()
    assert clean_name(name) == name  # idempotent: a stored name survives export/import
