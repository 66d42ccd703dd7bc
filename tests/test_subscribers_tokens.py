from __future__ import annotations

import os
import stat
import time
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from newsletter.services import Services
from subscribers.errors import InvalidToken
from subscribers.tokens import (
    INVALID_MESSAGE,
    TokenPurpose,
    TokenSigner,
    load_or_create_secret,
    signing_keys,
)

SIGNER = TokenSigner(["newest-key", "older-key"])
PURPOSES = st.sampled_from(list(TokenPurpose))
IDS = st.integers(min_value=1, max_value=2**62)
NEWSLETTERS = st.none() | st.from_regex(r"[a-z0-9][a-z0-9_:-]{0,20}", fullmatch=True)
URL_SAFE = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")


def _rejected(signer: TokenSigner, token: str, purpose: TokenPurpose | str) -> str:
    with pytest.raises(InvalidToken) as info:
        signer.loads(token, purpose)
    return str(info.value)


@given(PURPOSES, IDS, NEWSLETTERS)
def test_round_trip(purpose: TokenPurpose, subscriber_id: int, newsletter: str | None) -> None:
    token = SIGNER.dumps(purpose, subscriber_id, newsletter)
    data = SIGNER.loads(token, purpose)
    assert (data.purpose, data.subscriber_id, data.newsletter_id) == (
        purpose,
        subscriber_id,
        newsletter,
    )
    assert set(token) <= URL_SAFE
    assert len(token) <= 100  # ~45 for a real id and newsletter


@given(PURPOSES, IDS, st.none() | IDS, NEWSLETTERS)
def test_round_trip_with_a_ref(
    purpose: TokenPurpose, subscriber_id: int, ref: int | None, newsletter: str | None
) -> None:
    data = SIGNER.loads(SIGNER.dumps(purpose, subscriber_id, newsletter, ref=ref), purpose)
    assert (data.subscriber_id, data.ref, data.newsletter_id) == (subscriber_id, ref, newsletter)


@given(PURPOSES, IDS, NEWSLETTERS, st.data())
def test_any_tampering_is_rejected(
    purpose: TokenPurpose, subscriber_id: int, newsletter: str | None, data: st.DataObject
) -> None:
    token = SIGNER.dumps(purpose, subscriber_id, newsletter)
    index = data.draw(st.integers(0, len(token) - 1))
    replacement = data.draw(st.sampled_from(sorted(URL_SAFE - {token[index]})))
    tampered = token[:index] + replacement + token[index + 1 :]
    assert _rejected(SIGNER, tampered, purpose) == INVALID_MESSAGE


@given(st.text(max_size=120))
def test_made_up_tokens_are_rejected(text: str) -> None:
    for purpose in TokenPurpose:
        assert _rejected(SIGNER, text, purpose) == INVALID_MESSAGE


@given(PURPOSES, PURPOSES, IDS)
def test_a_token_works_for_its_own_purpose_only(
    made_for: TokenPurpose, used_for: TokenPurpose, subscriber_id: int
) -> None:
    token = SIGNER.dumps(made_for, subscriber_id)
    if made_for == used_for:
        assert SIGNER.loads(token, used_for).subscriber_id == subscriber_id
    else:
        assert _rejected(SIGNER, token, used_for) == INVALID_MESSAGE


@given(PURPOSES, IDS)
def test_rotation_old_keys_verify_newest_signs(purpose: TokenPurpose, subscriber_id: int) -> None:
    before = TokenSigner(["older-key"]).dumps(purpose, subscriber_id)
    rotated = TokenSigner(["newest-key", "older-key"])
    assert rotated.loads(before, purpose).subscriber_id == subscriber_id
    after = rotated.dumps(purpose, subscriber_id)
    assert TokenSigner(["newest-key"]).loads(after, purpose).subscriber_id == subscriber_id
    assert _rejected(TokenSigner(["older-key"]), after, purpose) == INVALID_MESSAGE


def test_foreign_key_is_rejected_like_tampering() -> None:
    token = TokenSigner(["someone-else"]).dumps(TokenPurpose.UNSUBSCRIBE, 7)
    assert _rejected(SIGNER, token, TokenPurpose.UNSUBSCRIBE) == INVALID_MESSAGE


def test_confirm_tokens_expire_after_seven_days_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    token = SIGNER.dumps(TokenPurpose.CONFIRM, 5)
    assert SIGNER.loads(token, TokenPurpose.CONFIRM).issued_at is not None
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() - 8 * 86400)
    old = SIGNER.dumps(TokenPurpose.CONFIRM, 5)
    monkeypatch.setattr(time, "time", real_time)
    assert _rejected(SIGNER, old, TokenPurpose.CONFIRM) == INVALID_MESSAGE
    assert SIGNER.loads(old, TokenPurpose.CONFIRM, max_age=timedelta(days=9)).subscriber_id == 5


def test_unsubscribe_and_preferences_tokens_never_expire(monkeypatch: pytest.MonkeyPatch) -> None:
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() - 3 * 365 * 86400)
    tokens = {p: SIGNER.dumps(p, 9) for p in (TokenPurpose.UNSUBSCRIBE, TokenPurpose.PREFERENCES)}
    monkeypatch.setattr(time, "time", real_time)
    for purpose, token in tokens.items():
        assert SIGNER.loads(token, purpose).subscriber_id == 9


def test_a_signer_needs_a_key() -> None:
    with pytest.raises(ValueError):
        TokenSigner(["", ""])


def test_configured_keys_are_comma_separated_newest_first(tmp_path: Path) -> None:
    assert signing_keys(" new , old ,", dev_key_path=tmp_path / "k") == ["new", "old"]
    assert not (tmp_path / "k").exists()


def test_dev_secret_is_created_once_owner_only(tmp_path: Path) -> None:
    path = tmp_path / ".secret_key"
    first = signing_keys(None, dev_key_path=path)
    assert len(first[0]) >= 32
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_or_create_secret(path) == first[0]
    assert signing_keys("", dev_key_path=path) == first


def test_services_sign_with_the_environment_key(services: Services) -> None:
    token = services.tokens.dumps(TokenPurpose.PREFERENCES, 3, "weekly")
    expected = TokenSigner(["test-secret-key-0123456789abcdef"])
    assert expected.loads(token, TokenPurpose.PREFERENCES).newsletter_id == "weekly"
