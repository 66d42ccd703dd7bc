"""VERP: per-delivery return paths and unsubscribe mailtos naming the ledger row."""

from __future__ import annotations

import mailbox
import re
from email import message_from_bytes
from email.policy import default

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from newsletter.delivery import RunOptions, start_send
from newsletter.delivery.backends.smtp import SmtpBackend
from newsletter.delivery.models import Delivery
from newsletter.delivery.verp import VerpAddress, VerpPurpose, VerpSigner
from newsletter.services import Services
from newsletter.settings import SmtpSettings
from subscribers.models import Subscriber
from tests.fixtures.delivery import SmtpSink, add_audience, stand_in_renderer, with_delivery

SIGNER = VerpSigner(["key-one"])
BOUNCE_DOMAIN = "bounce.example.org"


def test_a_token_names_its_delivery_and_stays_short() -> None:
    for delivery_id in (1, 255, 256, 123_456_789, 2**31 - 1, 2**63 - 1):
        address = SIGNER.address(VerpPurpose.BOUNCE, delivery_id, BOUNCE_DOMAIN)
        local = address.partition("@")[0]
        assert len(local) <= 64 and local == local.lower() and "=" not in local
        assert SIGNER.read_address(address, BOUNCE_DOMAIN) == VerpAddress(
            VerpPurpose.BOUNCE, delivery_id
        )
        # A server that changes the case of the local part does not break it.
        assert SIGNER.read_address(address.upper(), BOUNCE_DOMAIN) == VerpAddress(
            VerpPurpose.BOUNCE, delivery_id
        )
    assert len(SIGNER.address(VerpPurpose.BOUNCE, 2**63 - 1, "x").partition("@")[0]) == 37


def test_forged_foreign_and_cross_purpose_tokens_read_as_nothing() -> None:
    token = SIGNER.token(VerpPurpose.BOUNCE, 42)
    assert SIGNER.read_token(VerpPurpose.BOUNCE, token) == 42
    assert SIGNER.read_token(VerpPurpose.UNSUBSCRIBE, token) is None  # other purpose
    assert VerpSigner(["another-key"]).read_token(VerpPurpose.BOUNCE, token) is None
    # Rotation: a new key first, the old one still verifies what it signed.
    assert VerpSigner(["new-key", "key-one"]).read_token(VerpPurpose.BOUNCE, token) == 42
    for i in range(len(token)):
        for replacement in "a7":
            if token[i] != replacement:
                altered = token[:i] + replacement + token[i + 1 :]
                assert SIGNER.read_token(VerpPurpose.BOUNCE, altered) in (None, 42)
    assert SIGNER.read_address(f"bounces+{token}@elsewhere.example", BOUNCE_DOMAIN) is None
    assert SIGNER.read_address(f"other+{token}@{BOUNCE_DOMAIN}", BOUNCE_DOMAIN) is None
    for junk in ("", "bounces@x", "bounces+@" + BOUNCE_DOMAIN, "bounces+!!!@" + BOUNCE_DOMAIN):
        assert SIGNER.read_address(junk, BOUNCE_DOMAIN) is None


@given(st.text(max_size=80))
def test_arbitrary_text_never_reads_as_a_delivery(text: str) -> None:
    assert SIGNER.read_token(VerpPurpose.BOUNCE, text) is None
    assert SIGNER.read_address(f"bounces+{text}@{BOUNCE_DOMAIN}", BOUNCE_DOMAIN) is None


def _verp_services(services: Services, **changes: object) -> Services:
    return with_delivery(services, bounce_domain=BOUNCE_DOMAIN, **changes)


def test_smtp_envelope_sender_and_unsubscribe_mailto_name_each_delivery(
    services: Services, smtp_sink: SmtpSink
) -> None:
    add_audience(services, 4)
    verp = _verp_services(services, backend="smtp")
    backend = SmtpBackend(SmtpSettings(host=smtp_sink.host, port=smtp_sink.port, connections=2))
    result = start_send(
        verp, "hello", options=RunOptions(renderer=stand_in_renderer, backend=backend)
    )
    backend.close()
    assert result.counts["accepted"] == 4
    with services.sessions() as session:
        rows = dict(
            session.execute(
                select(Subscriber.email, Delivery.id).join(
                    Subscriber, Subscriber.id == Delivery.subscriber_id
                )
            ).all()
        )
    assert len(smtp_sink.messages) == 4
    for mail_from, [rcpt], raw in smtp_sink.messages:
        assert mail_from.startswith("bounces+") and mail_from.endswith("@" + BOUNCE_DOMAIN)
        assert rcpt not in mail_from and rcpt.partition("@")[0] not in mail_from
        assert services.verp.read_address(mail_from, BOUNCE_DOMAIN) == VerpAddress(
            VerpPurpose.BOUNCE, rows[rcpt]
        )
        parsed = message_from_bytes(raw, policy=default)
        mailto = re.search(r"<mailto:([^?>]+)\?subject=unsubscribe>", parsed["List-Unsubscribe"])
        assert mailto is not None
        assert services.verp.read_address(mailto[1], BOUNCE_DOMAIN) == VerpAddress(
            VerpPurpose.UNSUBSCRIBE, rows[rcpt]
        )
        assert parsed["From"].addresses[0].addr_spec == "editor@example.org"


def test_outbox_records_the_return_path_and_without_a_domain_nothing_changes(
    services: Services,
) -> None:
    add_audience(services, 2)
    start_send(_verp_services(services), "hello", options=RunOptions(renderer=stand_in_renderer))
    box = mailbox.Maildir(services.settings.path(services.settings.delivery.outbox_dir))
    paths = [box.get_message(key)["Return-Path"] for key in box.iterkeys()]
    assert len(paths) == 2
    assert all(re.fullmatch(r"<bounces\+[a-z2-7]+@bounce\.example\.org>", p) for p in paths)

    add_audience(services, 1, start=10)
    start_send(services, "plain", options=RunOptions(renderer=stand_in_renderer))
    parsed = [message_from_bytes(box.get_bytes(key), policy=default) for key in box.iterkeys()]
    plain = [m for m in parsed if str(m["Subject"]).startswith("plain:")]
    assert len(plain) == 3
    assert all(m["Return-Path"] is None for m in plain)
    assert all(
        "mailto:editor@example.org?subject=unsubscribe%20" in m["List-Unsubscribe"] for m in plain
    )
