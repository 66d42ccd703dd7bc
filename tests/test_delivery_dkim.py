"""DKIM: ``newsletter dkim keygen`` and signatures on what the SMTP and outbox backends send.

Every signature is checked by dkimpy's own verifier against the key the command generated
(its DNS lookup answered with the TXT record the command printed), on the bytes an aiosmtpd
server received and the files written to the outbox Maildir.
"""

from __future__ import annotations

import mailbox
import re
import stat
from collections.abc import Callable
from pathlib import Path

import dkim
import pytest
from typer.testing import CliRunner

from newsletter.cli import app
from newsletter.delivery.backends import make_backend
from newsletter.delivery.backends.smtp import SmtpBackend
from newsletter.delivery.dkim import DkimSigner, load_signer
from newsletter.delivery.message import Batch, Content, Outcome
from newsletter.errors import ConfigError
from newsletter.settings import Settings, SmtpSettings, load_settings
from tests.conftest import base_config, write_config
from tests.fixtures.delivery import SmtpSink, korean_content, korean_recipient


def _content() -> Content:
    return korean_content(
        html="<p>안녕하세요 %%name%%님 <a href='%%unsub%%'>구독 해지</a></p>" + "<p>본문</p>" * 300,
        text="안녕하세요 [[name]]님\n.점으로 시작하는 줄\n\n\n구독 해지: [[unsub]]\n",
    )


def _keygen(tmp_path: Path, *args: str) -> tuple[Settings, str]:
    """Run ``newsletter dkim keygen`` in a project with ``delivery.dkim`` configured; the
    settings (now with a key) and the TXT value printed."""
    config = base_config(tmp_path)
    config["delivery"]["dkim"] = {"selector": "nl2026", "key_file": "keys/dkim.pem"}
    path = write_config(tmp_path, config)
    result = CliRunner().invoke(
        app, ["--config", str(path), "dkim", "keygen", "--selector", "nl2026", *args]
    )
    assert result.exit_code == 0, result.output
    record = re.search(r"nl2026\._domainkey\.example\.org\. IN TXT \( (.*) \)", result.output)
    assert record is not None, result.output
    value = "".join(re.findall(r'"([^"]*)"', record[1]))
    return load_settings(path), value


def _dns(value: str) -> Callable[..., bytes]:
    def lookup(name: bytes, timeout: int = 5) -> bytes:
        assert name == b"nl2026._domainkey.example.org."
        return value.encode("ascii")

    return lookup


def test_keygen_writes_an_owner_only_key_and_prints_its_record(tmp_path: Path) -> None:
    settings, value = _keygen(tmp_path)
    key_file = tmp_path / "keys" / "dkim.pem"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert value.startswith("v=DKIM1; k=rsa; p=MII")
    signer = load_signer(settings)
    assert signer == DkimSigner("nl2026", "example.org", signer.private_key if signer else b"")
    # A second run keeps the key unless --force.
    again = CliRunner().invoke(
        app, ["--config", str(tmp_path / "config.yaml"), "dkim", "keygen", "-s", "nl2026"]
    )
    assert again.exit_code != 0
    assert "already there" in str(again.exception)
    assert load_signer(settings) == signer


def test_smtp_messages_are_signed_relaxed_and_verify(tmp_path: Path, smtp_sink: SmtpSink) -> None:
    settings, value = _keygen(tmp_path)
    backend = SmtpBackend(
        SmtpSettings(host=smtp_sink.host, port=smtp_sink.port, connections=2),
        signer=load_signer(settings),
    )
    recipients = [korean_recipient(f"reader{i}@example.net", f"독자 {i}") for i in range(5)]
    results = backend.send(Batch(_content(), recipients))
    backend.close()
    assert [r.outcome for r in results] == [Outcome.ACCEPTED] * 5
    assert len(smtp_sink.messages) == 5
    for _, _, raw in smtp_sink.messages:
        assert raw.startswith(b"DKIM-Signature:")
        assert dkim.verify(raw, dnsfunc=_dns(value))
        header = raw.split(b"\r\n\r\n", 1)[0].decode()
        signed = re.search(r"h=([^;]+);", re.sub(r"\r\n\s+", "", header))
        assert signed is not None
        names = {name.strip().lower() for name in signed[1].split(":")}
        assert names >= {
            "from", "subject", "date", "message-id", "to", "list-unsubscribe",
            "list-unsubscribe-post", "mime-version", "content-type",
        }  # fmt: skip
        assert "c=relaxed/relaxed" in re.sub(r"\s", "", header)
        assert b"8bit" not in raw.split(b"\r\n\r\n", 1)[1]  # 7-bit: no relay re-encodes it
        # The verifier is not a rubber stamp: a changed subject or body fails.
        assert not dkim.verify(raw.replace(b"Subject: ", b"Subject: Re: ", 1), dnsfunc=_dns(value))
        assert not dkim.verify(raw[:-40] + b"X" + raw[-39:], dnsfunc=_dns(value))


def test_outbox_messages_are_signed_and_verify(tmp_path: Path) -> None:
    settings, value = _keygen(tmp_path)
    backend = make_backend(settings)
    results = backend.send(Batch(_content(), [korean_recipient("reader1@example.net")]))
    assert [r.outcome for r in results] == [Outcome.ACCEPTED]
    box = mailbox.Maildir(tmp_path / "outbox", create=False)
    [key] = box.keys()
    raw = box.get_bytes(key)
    assert dkim.verify(raw, dnsfunc=_dns(value))


def test_the_key_may_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, value = _keygen(tmp_path)
    pem = (tmp_path / "keys" / "dkim.pem").read_text()
    (tmp_path / "keys" / "dkim.pem").unlink()
    monkeypatch.setenv("NEWSLETTER_DKIM_PRIVATE_KEY", pem)
    signer = load_signer(load_settings(tmp_path / "config.yaml"))
    assert signer is not None
    message = b"From: a@example.org\r\nTo: b@example.net\r\nSubject: x\r\n\r\nbody\r\n"
    assert dkim.verify(signer.sign(message), dnsfunc=_dns(value))


def test_bad_dkim_configuration_is_one_clear_error(tmp_path: Path) -> None:
    config = base_config(tmp_path)
    config["delivery"]["dkim"] = {"selector": "nl2026"}
    with pytest.raises(ConfigError, match=r"neither delivery\.dkim\.key_file"):
        load_signer(load_settings(write_config(tmp_path, config)))
    config["delivery"]["dkim"]["key_file"] = "missing.pem"
    with pytest.raises(ConfigError, match=r"cannot read .*missing\.pem"):
        load_signer(load_settings(write_config(tmp_path, config)))
    (tmp_path / "junk.pem").write_text("not a key")
    config["delivery"]["dkim"]["key_file"] = "junk.pem"
    with pytest.raises(ConfigError, match=r"junk\.pem: not an unencrypted PEM private key"):
        load_signer(load_settings(write_config(tmp_path, config)))
    config["delivery"]["dkim"] = {}
    assert load_signer(load_settings(write_config(tmp_path, config))) is None
