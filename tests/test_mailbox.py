"""The bounce mailbox: a real Maildir of DSNs (Postfix, Exim, Exchange, Gmail), an ARF
report, auto-replies and mailto unsubscribes, tied to a real send through VERP tokens."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from typer.testing import CliRunner

from newsletter.cli import app
from newsletter.delivery.verp import VerpPurpose, VerpSigner
from newsletter.errors import ConfigError
from newsletter.events.store import ProviderEventRecord
from newsletter.mailbox.classify import Verdict, classify, classify_bytes, parse
from newsletter.mailbox.service import ATTENTION, PROCESSED
from newsletter.scheduler import build_scheduler
from newsletter.services import Services
from newsletter.settings import load_settings
from tests.conftest import base_config, write_config
from tests.mailbox_support import DOMAIN, HARD, READERS, SAMPLES, World


@pytest.fixture
def world(services: Services, tmp_path: Path) -> World:
    return World(services, tmp_path)


@pytest.mark.parametrize("sample", HARD)
def test_a_hard_bounce_suppresses_exactly_its_subscriber(world: World, sample: str) -> None:
    world.drop(sample, rcpt="reader2@example.net")
    assert world.process() == {"hard_bounce": 1}
    assert world.person("reader2@example.net") == ("bounced", {"weekly": "unsubscribed"}, "bounced")
    assert world.untouched(*(r for r in READERS if r != "reader2@example.net"))
    assert world.events() == [("mailbox", "bounced", "reader2@example.net")]
    assert world.waiting() == [] and len(world.folder(PROCESSED)) == 1


def test_processing_a_message_twice_counts_once(world: World) -> None:
    data = world.drop("gmail_hard", rcpt="reader3@example.net")
    assert world.process() == {"hard_bounce": 1}
    world.drop_bytes(data)  # delivered again, or put back by hand
    assert world.process() == {"duplicate": 1}
    assert world.events() == [("mailbox", "bounced", "reader3@example.net")]
    assert len(world.folder(PROCESSED)) == 2  # both kept


def test_soft_bounces_and_delays_are_stored_but_suppress_nobody(world: World) -> None:
    world.drop("gmail_full", rcpt="reader1@example.net")
    world.drop("postfix_delayed", rcpt="reader2@example.net")
    assert world.process() == {"soft_bounce": 1, "delayed": 1}
    assert world.untouched()
    assert sorted(world.events()) == [
        ("mailbox", "blocked", "reader1@example.net"),
        ("mailbox", "deferred", "reader2@example.net"),
    ]


def test_an_arf_complaint_unsubscribes_and_suppresses_the_reader(world: World) -> None:
    world.drop("arf_complaint", rcpt="reader4@example.net")
    assert world.process() == {"complaint": 1}
    assert world.person("reader4@example.net") == (
        "complained",
        {"weekly": "unsubscribed"},
        "complained",
    )
    assert world.untouched(*(r for r in READERS if r != "reader4@example.net"))


def test_a_mailto_unsubscribe_is_honoured_for_that_newsletter(world: World) -> None:
    world.drop("mailto_unsubscribe", rcpt="reader5@example.net")
    assert world.process() == {"unsubscribe": 1}
    assert world.person("reader5@example.net") == ("active", {"weekly": "unsubscribed"}, None)
    assert world.untouched(*(r for r in READERS if r != "reader5@example.net"))


def test_auto_replies_and_ordinary_mail_are_ignored(world: World) -> None:
    world.drop("out_of_office", rcpt="reader1@example.net")
    world.drop("not_a_bounce", rcpt="reader1@example.net")
    # An out-of-office answer sent to the unsubscribe address unsubscribes nobody either.
    world.drop(
        "out_of_office", rcpt="reader2@example.net", bounce=world.unsub("reader2@example.net")
    )
    assert world.process() == {"auto_reply": 2, "not_ours": 1}
    assert world.untouched() and world.events() == []
    assert len(world.folder(PROCESSED)) == 3


def test_forged_foreign_and_mismatched_bounces_suppress_nobody(world: World) -> None:
    reader3, reader4 = "reader3@example.net", "reader4@example.net"
    foreign = VerpSigner(["someone-else"]).address(
        VerpPurpose.BOUNCE, world.deliveries[reader3], DOMAIN
    )
    world.drop("postfix_hard", rcpt=reader3, bounce=foreign)  # forged token
    tampered = world.bounce(reader3)
    tampered = tampered.replace("+", "+a", 1) if "+a" not in tampered else tampered[:-20] + "x"
    world.drop("gmail_hard", rcpt=reader3, bounce=tampered)
    # A valid token for reader3 reporting reader4's address: a DSN for an address not ours.
    world.drop("exchange_hard", rcpt=reader4, bounce=world.bounce(reader3))
    # An unsubscribe token (right person) on a bounce, and a bounce token as an unsubscribe.
    world.drop("postfix_hard", rcpt=reader3, bounce=world.unsub(reader3))
    world.drop("mailto_unsubscribe", rcpt=reader3, unsub=world.bounce(reader3))
    # No token at all, and a token for another domain.
    world.drop("exim_hard", rcpt=reader3, bounce="editor@example.org")
    world.drop(
        "exim_hard_plain", rcpt=reader3, bounce=world.bounce(reader3).replace(DOMAIN, "x.org")
    )
    outcomes = world.process()
    # (the bounce token as an unsubscribe address is no unsubscribe address at all)
    assert outcomes == {
        "ignored_no_valid_token": 5,
        "ignored_address_mismatch": 1,
        "not_ours": 1,
    }
    assert world.untouched() and world.events() == []
    assert world.waiting() == []


def test_a_token_for_a_row_that_is_gone_is_ignored(world: World) -> None:
    ghost = world.verp.address(VerpPurpose.BOUNCE, 999_999, DOMAIN)
    world.drop("postfix_hard", rcpt="reader1@example.net", bounce=ghost)
    assert world.process() == {"ignored_unknown_delivery": 1}
    assert world.untouched()


def test_giant_and_malformed_messages_never_crash_and_go_aside(world: World) -> None:
    good = world.drop("postfix_hard", rcpt="reader6@example.net")
    giant = good.replace(b"This is the mail system", b"x" * 60_000 + b"This is the mail system")
    world.drop_bytes(giant)
    world.drop_bytes(b"\x00\xff\xfe garbage \r\n\r\n\x80\x81")
    world.drop_bytes(b"Content-Type: multipart/report; report-type=delivery-status\r\n\r\n--")
    nested = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n" + b"--b\r\n" * 2000
    world.drop_bytes(nested)
    world.drop_bytes(
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=q\r\n"
        b"To: " + world.bounce("reader5@example.net").encode() + b"\r\n\r\n--q\r\n"
        b"Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; x\r\n\r\n"
        b"Final-Recipient: rfc822; \r\nAction: failed\r\nStatus: 5.1.1\r\n--q--\r\n"
    )
    outcomes = world.process()
    assert outcomes.pop("hard_bounce") == 1  # the well-formed one still works
    assert outcomes.pop("too_large") == 1
    ignored = {"not_ours", "unparseable", "malformed", "ignored_address_mismatch"}
    assert sum(outcomes.values()) == 4 and set(outcomes) <= ignored
    assert world.untouched(*(r for r in READERS if r != "reader6@example.net"))
    assert len(world.folder(ATTENTION)) == 1 + outcomes.get("unparseable", 0) + outcomes.get(
        "malformed", 0
    )
    assert world.waiting() == []


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.binary(max_size=2000) | st.text(max_size=2000).map(lambda t: t.encode("utf-8", "replace"))
)
def test_classify_takes_any_bytes(data: bytes) -> None:
    classify(parse(data))  # no exception: a bad message is a verdict, not a crash


def test_the_command_and_serve_read_the_configured_maildir(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.drop("postfix_hard", rcpt="reader1@example.net")
    config = tmp_path / "config.yaml"
    monkeypatch.setenv("NEWSLETTER_DELIVERY__BOUNCE_DOMAIN", DOMAIN)
    result = CliRunner().invoke(
        app,
        ["--config", str(config), "mailbox", "process", "--maildir", str(world.maildir), "--json"],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"read": 1, "hard_bounce": 1}
    # serve's scheduler reads delivery.mailbox.maildir on its own timer.
    world.drop("gmail_hard", rcpt="reader2@example.net")
    build_scheduler(world.services).read_mailbox()
    assert world.person("reader2@example.net")[0] == "bounced"
    with world.services.sessions() as session:
        assert session.scalar(select(func.count()).select_from(ProviderEventRecord)) == 2


def test_a_mailbox_without_a_bounce_domain_is_a_clear_error(tmp_path: Path) -> None:
    config = base_config(tmp_path)
    config["delivery"]["mailbox"] = {"maildir": "bounces"}
    with pytest.raises(ConfigError, match=r"delivery\.bounce_domain is not"):
        load_settings(write_config(tmp_path, config))


_SAMPLE_BYTES = [
    (SAMPLES / f"{name}.eml").read_bytes().replace(b"{{RCPT}}", b"reader1@example.net")
    for name in [*HARD, "gmail_full", "postfix_delayed", "arf_complaint", "mailto_unsubscribe"]
]


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(_SAMPLE_BYTES),
    st.integers(min_value=0, max_value=6000),
    st.binary(min_size=0, max_size=40),
)
def test_classify_takes_truncated_and_spliced_real_bounces(
    sample: bytes, cut: int, junk: bytes
) -> None:
    # Real formats cut anywhere and spliced with junk: a verdict, never an exception.
    classify(parse(sample[:cut] + junk + sample[cut:][:200]))


def test_a_deeply_nested_message_is_a_verdict() -> None:
    depth = 3000
    report = b"Content-Type: multipart/report; report-type=delivery-status; boundary=b%d\r\n"
    head = b"".join(report % i + b"\r\n--b%d\r\n" % i for i in range(depth))
    found = classify_bytes(b"To: bounces+aaaaaaaaaaaaaaaaaa@x.org\r\n" + head + b"x\r\n")
    assert found.verdict is Verdict.MALFORMED
    for shallow in (150, 40):  # under the boundary count: the parser or the walk says so
        assert classify_bytes(head[: len(report % 0) * shallow]).verdict is Verdict.MALFORMED
    wide = b"Content-Type: multipart/mixed; boundary=w\r\n\r\n" + b"--w\r\n\r\nx\r\n" * 500
    assert classify(parse(wide)).verdict is Verdict.MALFORMED
    assert classify(parse(wide[:2000])).verdict is Verdict.NOT_OURS
