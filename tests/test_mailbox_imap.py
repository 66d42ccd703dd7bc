"""The bounce mailbox over IMAP: a real Dovecot (tests/dovecot_support.py) holding the same
hand-written DSNs, ARF report and mailto unsubscribes as the Maildir tests, appended with
IMAP APPEND; the same events, the same idempotence, and every message moved, never lost."""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from imap_tools import BaseMailBox
from sqlalchemy import func, select
from typer.testing import CliRunner

from newsletter.cli import app
from newsletter.delivery.verp import VerpPurpose, VerpSigner
from newsletter.errors import ConfigError, MailboxError
from newsletter.events.store import ProviderEventRecord
from newsletter.mailbox.configured import process_configured
from newsletter.mailbox.imap_url import ImapUrl, parse_imap_url
from newsletter.scheduler import build_scheduler
from newsletter.services import Services
from newsletter.settings import MailboxSettings, load_settings
from tests.conftest import base_config, require, write_config
from tests.dovecot_support import BASIC, FULL, NO_MOVE, Dovecot, dovecot_binary
from tests.mailbox_support import DOMAIN, READERS, World

PROCESSED, ATTENTION = "Processed", "Attention"


@pytest.fixture(scope="module")
def dovecot() -> Iterator[Dovecot]:
    """One private Dovecot for the module (each test has its own user and mailbox)."""
    binary = dovecot_binary()
    require(binary is not None, "dovecot (apt-get install dovecot-imapd)")
    assert binary is not None
    server = Dovecot(binary).start()
    yield server
    server.close()


def with_imap_password(services: Services, password: str | None) -> Services:
    """The same project with ``NEWSLETTER_IMAP_PASSWORD`` as given."""
    settings = services.settings
    secrets = settings.secrets.model_copy(update={"imap_password": password})
    changed = settings.model_copy(update={"secrets": secrets})
    return Services(settings=changed, engine=services.engine, sessions=services.sessions)


def messages(box: BaseMailBox, folder: str) -> list[bytes]:
    """Every message in ``folder`` (none if it does not exist), read without a trace."""
    if not box.folder.exists(folder):
        return []
    box.folder.set(folder)
    uids = box.uids("ALL", charset=None)
    if not uids:
        return []
    typ, data = box.client.uid("FETCH", ",".join(uids), "(BODY.PEEK[])")
    assert typ == "OK"
    return sorted(item[1] for item in data if isinstance(item, tuple))


class ImapWorld(World):
    """The Maildir tests' world with the mailbox on Dovecot: a fresh user per test."""

    def __init__(
        self,
        services: Services,
        tmp_path: Path,
        server: Dovecot,
        *,
        host: str = FULL,
        transport: str = "none",
    ) -> None:
        self.server = server
        self.user = f"bounces-{uuid.uuid4().hex[:10]}"
        self.url = server.url(self.user, transport=transport, host=host)
        limits = MailboxSettings(imap=self.url, max_message_bytes=50_000)
        super().__init__(services, tmp_path, mailbox_settings=limits)
        self.services = with_imap_password(self.services, "secret")

    def drop_bytes(self, data: bytes) -> None:
        with self.server.client(self.user) as box:
            box.append(data, "INBOX")

    def process(self) -> dict[str, int]:
        return dict(process_configured(self.services).outcomes)

    def folder(self, name: str) -> list[bytes]:
        with self.server.client(self.user) as box:
            return messages(box, name)

    def waiting(self) -> list[bytes]:
        return self.folder("INBOX")


@pytest.fixture
def world(services: Services, tmp_path: Path, dovecot: Dovecot) -> ImapWorld:
    return ImapWorld(services, tmp_path, dovecot)


@pytest.mark.parametrize(
    "host", [FULL, NO_MOVE, BASIC], ids=["move", "copy-uid-expunge", "copy-expunge"]
)
def test_each_kind_becomes_its_event_and_every_message_moves_intact(
    services: Services, tmp_path: Path, dovecot: Dovecot, host: str
) -> None:
    world = ImapWorld(services, tmp_path, dovecot, host=host)
    sent = [
        world.drop("postfix_hard", rcpt="reader1@example.net"),
        world.drop("exchange_hard", rcpt="reader2@example.net"),
        world.drop("arf_complaint", rcpt="reader3@example.net"),
        world.drop("mailto_unsubscribe", rcpt="reader4@example.net"),
        world.drop("gmail_full", rcpt="reader5@example.net"),
        world.drop("out_of_office", rcpt="reader6@example.net"),
        world.drop("not_a_bounce", rcpt="reader6@example.net"),
    ]
    assert world.process() == {
        "hard_bounce": 2,
        "complaint": 1,
        "unsubscribe": 1,
        "soft_bounce": 1,
        "auto_reply": 1,
        "not_ours": 1,
    }
    assert world.person("reader1@example.net") == ("bounced", {"weekly": "unsubscribed"}, "bounced")
    assert world.person("reader2@example.net")[0] == "bounced"
    assert world.person("reader3@example.net") == (
        "complained",
        {"weekly": "unsubscribed"},
        "complained",
    )
    assert world.person("reader4@example.net") == ("active", {"weekly": "unsubscribed"}, None)
    assert world.untouched("reader5@example.net", "reader6@example.net")
    assert sorted(world.events()) == [
        ("mailbox", "blocked", "reader5@example.net"),
        ("mailbox", "bounced", "reader1@example.net"),
        ("mailbox", "bounced", "reader2@example.net"),
        ("mailbox", "complained", "reader3@example.net"),
        ("mailbox", "group_unsubscribed", "reader4@example.net"),
    ]
    # Nothing left behind, nothing lost: the very bytes appended sit in Processed.
    assert world.waiting() == []
    assert world.folder(PROCESSED) == sorted(sent)
    assert world.folder(ATTENTION) == []


def test_a_message_processed_twice_counts_once(world: ImapWorld) -> None:
    data = world.drop("gmail_hard", rcpt="reader3@example.net")
    assert world.process() == {"hard_bounce": 1}
    assert world.process() == {}  # nothing waiting: folders exist, nothing moves twice
    world.drop_bytes(data)  # delivered again, or put back by hand
    assert world.process() == {"duplicate": 1}
    assert world.events() == [("mailbox", "bounced", "reader3@example.net")]
    assert world.folder(PROCESSED) == [data, data]  # both kept


def test_giant_malformed_and_forged_messages_go_aside_and_change_nobody(
    world: ImapWorld,
) -> None:
    reader3 = "reader3@example.net"
    good = world.drop("postfix_hard", rcpt="reader6@example.net")
    giant = good.replace(b"This is the mail system", b"x" * 60_000 + b"This is the mail system")
    world.drop_bytes(giant)
    garbage = b"\xff\xfe garbage \r\n\r\n\x80\x81"
    world.drop_bytes(garbage)
    depth = b"".join(
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=b%d\r\n"
        b"\r\n--b%d\r\n" % (i, i)
        for i in range(300)
    )
    nested = b"To: " + world.bounce(reader3).encode() + b"\r\n" + depth + b"x\r\n"
    world.drop_bytes(nested)
    forged = VerpSigner(["someone-else"]).address(
        VerpPurpose.BOUNCE, world.deliveries[reader3], DOMAIN
    )
    world.drop("postfix_hard", rcpt=reader3, bounce=forged)
    outcomes = world.process()
    assert outcomes.pop("hard_bounce") == 1  # the well-formed one still works
    assert outcomes.pop("too_large") == 1
    assert outcomes.pop("ignored_no_valid_token") == 1  # the forged token
    assert outcomes.pop("malformed") == 1
    assert outcomes in ({"not_ours": 1}, {"unparseable": 1}, {"malformed": 1})
    assert world.untouched(*(r for r in READERS if r != "reader6@example.net"))
    attention = world.folder(ATTENTION)
    assert giant in attention and nested in attention  # kept whole, for a person
    assert len(attention) == 2 + (0 if "not_ours" in outcomes else 1)
    assert world.waiting() == []
    assert len(world.folder(PROCESSED)) + len(attention) == 5


def test_a_message_another_client_deleted_is_left_alone(world: ImapWorld) -> None:
    world.drop("postfix_hard", rcpt="reader1@example.net")
    theirs = world.drop("postfix_hard", rcpt="reader2@example.net")
    with world.server.client(world.user) as box:
        box.folder.set("INBOX")
        (uid,) = box.uids(f'BODY "{world.bounce("reader2@example.net")}"')
        # Not imap_tools' flag(): it expunges the folder straight after.
        assert box.client.uid("STORE", uid, "+FLAGS.SILENT", r"(\Deleted)")[0] == "OK"
    assert world.process() == {"hard_bounce": 1}
    assert world.untouched("reader2@example.net")
    assert world.waiting() == [theirs]


@pytest.mark.parametrize("transport", ["tls", "starttls"])
def test_tls_verifies_the_server_certificate(
    services: Services,
    tmp_path: Path,
    dovecot: Dovecot,
    monkeypatch: pytest.MonkeyPatch,
    transport: str,
) -> None:
    world = ImapWorld(services, tmp_path, dovecot, transport=transport)
    world.drop("postfix_hard", rcpt="reader1@example.net")
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "nobody.pem"))  # trusts nothing
    with pytest.raises(MailboxError, match=r"cannot connect: .*CERTIFICATE_VERIFY_FAILED"):
        world.process()
    assert world.untouched()
    monkeypatch.setenv("SSL_CERT_FILE", str(dovecot.cert))
    assert world.process() == {"hard_bounce": 1}


def test_imap_without_starttls_is_refused_not_sent_in_clear(
    services: Services, tmp_path: Path, dovecot: Dovecot
) -> None:
    world = ImapWorld(services, tmp_path, dovecot, host=BASIC, transport="starttls")
    with pytest.raises(MailboxError, match=r"cannot connect: TLS not supported by server"):
        world.process()


def test_a_wrong_or_missing_password_is_a_clear_error(world: ImapWorld) -> None:
    world.services = with_imap_password(world.services, "not-the-password")
    with pytest.raises(MailboxError, match=r"^mailbox imap://bounces-\w+@127\.0\.0\.1:\d+/INBOX"):
        world.process()
    world.services = with_imap_password(world.services, None)
    with pytest.raises(ConfigError, match="NEWSLETTER_IMAP_PASSWORD is not set"):
        world.process()


def test_serve_logs_a_lost_server_and_reads_at_the_next_pass(
    world: ImapWorld, dovecot: Dovecot, caplog: pytest.LogCaptureFixture
) -> None:
    world.drop("exim_hard", rcpt="reader2@example.net")
    scheduler = build_scheduler(world.services)
    dovecot.stop()
    try:
        with caplog.at_level(logging.WARNING, logger="newsletter"):
            scheduler.read_mailbox()  # no exception: serve goes on
    finally:
        dovecot.start()
    assert re.search(r"mailbox imap://.*: cannot connect: .*next pass tries again", caplog.text)
    assert "secret" not in caplog.text
    assert world.untouched()
    scheduler.read_mailbox()
    assert world.person("reader2@example.net")[0] == "bounced"
    assert world.waiting() == []


def test_the_command_reads_an_imap_url_and_the_configured_one(
    world: ImapWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.drop("postfix_hard", rcpt="reader1@example.net")
    config = tmp_path / "config.yaml"
    monkeypatch.setenv("NEWSLETTER_DELIVERY__BOUNCE_DOMAIN", DOMAIN)
    monkeypatch.setenv("NEWSLETTER_IMAP_PASSWORD", "secret")
    command = ["--config", str(config), "mailbox", "process", "--json"]
    result = CliRunner().invoke(app, [*command, "--imap", world.url])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"read": 1, "hard_bounce": 1}
    world.drop("gmail_hard", rcpt="reader2@example.net")
    monkeypatch.setenv("NEWSLETTER_DELIVERY__MAILBOX__IMAP", world.url)
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"read": 1, "hard_bounce": 1}
    with world.services.sessions() as session:
        assert session.scalar(select(func.count()).select_from(ProviderEventRecord)) == 2
    result = CliRunner().invoke(app, [*command, "--imap", "imaps://u:pw@h/INBOX"])
    assert isinstance(result.exception, ConfigError)
    assert "NEWSLETTER_IMAP_PASSWORD, not the URL" in str(result.exception)
    monkeypatch.setenv("NEWSLETTER_IMAP_PASSWORD", "wrong")
    result = CliRunner().invoke(app, command)
    assert isinstance(result.exception, MailboxError)
    assert result.exception.exit_code == 69  # EX_UNAVAILABLE


_HOST = "mail.example.org"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"imaps://bounces@{_HOST}/INBOX", ImapUrl("tls", _HOST, 993, "bounces", "INBOX")),
        (f"imaps://b%40x.org@{_HOST}:1993", ImapUrl("tls", _HOST, 1993, "b@x.org", "INBOX")),
        (f"imap://b@{_HOST}/Bounces%20In", ImapUrl("starttls", _HOST, 143, "b", "Bounces In")),
        ("imap://b@127.0.0.1:1143/?tls=none", ImapUrl("none", "127.0.0.1", 1143, "b", "INBOX")),
        ("imap://b@127.0.0.3/?tls=none", ImapUrl("none", "127.0.0.3", 143, "b", "INBOX")),
        ("imap://b@localhost/?tls=none", ImapUrl("none", "localhost", 143, "b", "INBOX")),
        ("imap://b@[::1]:1143/?tls=none", ImapUrl("none", "::1", 1143, "b", "INBOX")),
    ],
)
def test_imap_urls(text: str, expected: ImapUrl) -> None:
    assert parse_imap_url(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("imaps://bounces:hunter2@mail.example.org/", "NEWSLETTER_IMAP_PASSWORD"),
        ("pop3://bounces@mail.example.org/", "imaps:// or imap://"),
        ("imaps://mail.example.org/INBOX", "USER@HOST"),
        ("imaps://bounces@mail.example.org:99999/", "port"),
        ("imaps://bounces@mail.example.org:0/", "port"),
        ("imaps://bounces@mail.example.org/?tls=none", "only TLS option"),
        ("imap://bounces@mail.example.org/?tls=off", "only TLS option"),
        # Plain text only on this machine: the password would cross the network in clear.
        ("imap://bounces@mail.example.org/?tls=none", "this machine only"),
        ("imap://bounces@192.0.2.10/?tls=none", "this machine only"),
        ("imap://bounces@localhost.example.org/?tls=none", "this machine only"),
        ("imap://bounces@mail.example.org/?verify=no", "unknown option 'verify'"),
        ("imap://bounces@mail.example.org/IN%0D%0ABOX", "control characters"),
    ],
)
def test_bad_imap_urls_say_why(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=re.escape(reason)):
        parse_imap_url(text)


def test_the_imap_setting_is_checked_at_load(tmp_path: Path) -> None:
    config = base_config(tmp_path)
    config["delivery"]["bounce_domain"] = DOMAIN
    config["delivery"]["mailbox"] = {"imap": "imaps://b:pw@mail.example.org/INBOX"}
    with pytest.raises(ConfigError, match=r"delivery\.mailbox\.imap: .*NEWSLETTER_IMAP_PASSWORD"):
        load_settings(write_config(tmp_path, config))
    config["delivery"]["mailbox"] = {"imap": "imaps://b@mail.example.org/", "maildir": "bounces"}
    with pytest.raises(ConfigError, match="set maildir or imap, not both"):
        load_settings(write_config(tmp_path, config))
    config["delivery"]["mailbox"] = {"imap": "imaps://b@mail.example.org/"}
    del config["delivery"]["bounce_domain"]
    with pytest.raises(ConfigError, match=r"delivery\.mailbox\.imap is set but .*bounce_domain"):
        load_settings(write_config(tmp_path, config))


def test_the_folder_read_is_never_a_folder_moved_into(world: ImapWorld) -> None:
    mailbox = world.services.settings.delivery.mailbox.model_copy(
        update={"processed_folder": "INBOX"}
    )
    delivery = world.services.settings.delivery.model_copy(update={"mailbox": mailbox})
    settings = world.services.settings.model_copy(update={"delivery": delivery})
    world.services = Services(
        settings=settings, engine=world.services.engine, sessions=world.services.sessions
    )
    with pytest.raises(ConfigError, match="'INBOX' is both read and moved into"):
        world.process()
