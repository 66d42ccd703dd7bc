"""SendGrid events translated into the project's own types, and the signature check."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from newsletter.errors import ConfigError
from newsletter.events.sendgrid import (
    WebhookRejected,
    load_public_key,
    parse_sendgrid_events,
    translate_sendgrid,
    translate_sendgrid_event,
    verify_signature,
)
from newsletter.events.types import ProviderEventKind
from tests.webhook_support import SIGNATURE, TIMESTAMP, SendgridSigner, event


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        ({"event": "delivered"}, ProviderEventKind.DELIVERED),
        ({"event": "deferred"}, ProviderEventKind.DEFERRED),
        ({"event": "bounce", "type": "bounce"}, ProviderEventKind.BOUNCED),
        ({"event": "bounce"}, ProviderEventKind.BOUNCED),
        ({"event": "bounce", "type": "blocked"}, ProviderEventKind.BLOCKED),
        ({"event": "dropped"}, ProviderEventKind.DROPPED),
        ({"event": "spamreport"}, ProviderEventKind.COMPLAINED),
        ({"event": "unsubscribe"}, ProviderEventKind.UNSUBSCRIBED),
        ({"event": "group_unsubscribe"}, ProviderEventKind.GROUP_UNSUBSCRIBED),
        ({"event": "open"}, ProviderEventKind.OPENED),
        ({"event": "click"}, ProviderEventKind.CLICKED),
    ],
)
def test_each_sendgrid_event_has_our_kind(raw: dict[str, Any], kind: ProviderEventKind) -> None:
    translated = translate_sendgrid_event({"email": "a@example.org", "timestamp": 1, **raw})
    assert translated is not None
    assert translated.kind is kind
    assert translated.event == raw["event"]


@pytest.mark.parametrize(
    "raw",
    [
        {"event": "processed", "email": "a@example.org"},
        {"event": "group_resubscribe", "email": "a@example.org"},
        {"event": "bounce", "type": "mystery", "email": "a@example.org"},
        {"event": "delivered"},
        {"event": "delivered", "email": 5},
    ],
)
def test_events_we_do_not_use_are_left_out(raw: dict[str, Any]) -> None:
    assert translate_sendgrid_event(raw) is None


def test_custom_args_and_ids_are_read() -> None:
    raw = event("delivered", " Mixed@Example.ORG ", send_id="12", delivery_id="345")
    translated = translate_sendgrid([raw])[0]
    assert (translated.send_id, translated.delivery_id) == (12, 345)
    assert translated.email == "mixed@example.org"
    assert translated.event_id == raw["sg_event_id"]
    assert translated.raw is raw


@pytest.mark.parametrize("value", ["x1", "²", "-3", "0", str(2**63), "12.5", "", None])
def test_custom_args_that_are_not_our_ids_are_ignored(value: object) -> None:
    translated = translate_sendgrid([event("delivered", "a@example.org", send_id=value)])[0]
    assert translated.send_id is None


@given(
    st.lists(
        st.dictionaries(
            st.sampled_from(
                ["event", "email", "timestamp", "type", "send_id", "delivery_id", "reason"]
            ),
            st.one_of(
                st.none(),
                st.booleans(),
                st.integers(),
                st.floats(),
                st.text(),
                st.sampled_from(["delivered", "bounce", "blocked", "spamreport", "a@b.org"]),
                st.lists(st.integers(), max_size=2),
            ),
        )
    )
)
def test_translation_never_raises_on_odd_events(raw_events: list[dict[str, Any]]) -> None:
    for translated in translate_sendgrid(raw_events):
        assert translated.email
        assert isinstance(translated.timestamp, int)


def test_signature_accepts_sendgrids_key_form_and_pem() -> None:
    signer = SendgridSigner.generate()
    body = b'[{"event":"delivered"}]'
    headers = signer.headers(body)
    pem = "-----BEGIN PUBLIC KEY-----\n" + signer.public_key_b64 + "\n-----END PUBLIC KEY-----"
    for key_text in (signer.public_key_b64, pem):
        key = load_public_key(key_text)
        verify_signature(key, signature=headers[SIGNATURE], timestamp=headers[TIMESTAMP], body=body)


@given(st.binary(min_size=1, max_size=64))
def test_any_change_to_the_body_breaks_the_signature(suffix: bytes) -> None:
    signer = _SIGNER
    body = b'[{"event":"delivered","email":"a@example.org"}]'
    headers = signer.headers(body)
    key = load_public_key(signer.public_key_b64)
    with pytest.raises(WebhookRejected):
        verify_signature(
            key, signature=headers[SIGNATURE], timestamp=headers[TIMESTAMP], body=body + suffix
        )


_SIGNER = SendgridSigner.generate()


@pytest.mark.parametrize("text", ["", "bm90IGEga2V5", "!!!", base64.b64encode(b"x" * 91).decode()])
def test_a_bad_configured_key_is_a_config_error(text: str) -> None:
    with pytest.raises(ConfigError, match="SENDGRID_WEBHOOK_PUBLIC_KEY"):
        load_public_key(text)


def test_body_must_be_a_json_array_of_objects() -> None:
    assert parse_sendgrid_events(b"[]") == []
    with pytest.raises(WebhookRejected) as info:
        parse_sendgrid_events(b'"string"')
    assert info.value.status == 400
