"""Control characters never become headers: refused in front matter and settings when they
are read, and again by every backend where the message is built."""

from __future__ import annotations

import json
import mailbox
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from newsletter.catalog import sync_issues
from newsletter.cli import app
from newsletter.delivery.backends.outbox import OutboxBackend
from newsletter.delivery.backends.smtp import SmtpBackend
from newsletter.delivery.emulator import Emulator
from newsletter.delivery.links import Links
from newsletter.delivery.message import Batch, Content, Outcome, Recipient, build_message
from newsletter.errors import ConfigError, UnsafeHeaderError
from newsletter.services import Services
from newsletter.settings import SmtpSettings, load_settings
from subscribers.tokens import TokenSigner
from tests.conftest import base_config, write_config
from tests.fixtures.delivery import SmtpSink, sendgrid_backend

INJECTION = "Hello\r\nBcc: evil@example.net"
#: Front matter values (as YAML) that carry a control character once parsed.
BAD_VALUES = [
    '"Hello\\r\\nBcc: evil@example.net"',
    '"Hello\\nBcc: evil@example.net"',
    '"Hello\\rBcc: evil@example.net"',
    '"Hello\\u2028Bcc: evil@example.net"',
    '"Hello\\x00there"',
    '"Hello\\tthere"',
    "|\n  Hello\n  Bcc: evil@example.net",
]
HEADER_FIELDS = ["title", "subject", "preheader", "author"]
#: The headers every built message has, in order; nothing else may appear.
EXPECTED = [
    "From",
    "To",
    "Reply-To",
    "Subject",
    "Date",
    "Message-ID",
    "List-Id",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "MIME-Version",
    "Content-Type",
]

runner = CliRunner()


def _issue(field: str, value: str) -> str:
    lines = {"title": '"A title"', "date": "2030-01-05 09:00 +0900", "newsletter": "weekly"}
    lines[field] = value
    front = "\n".join(f"{key}: {text}" for key, text in lines.items())
    return f"---\n{front}\n---\nBody.\n"


@pytest.mark.parametrize("field", HEADER_FIELDS)
@pytest.mark.parametrize("value", BAD_VALUES)
def test_check_refuses_a_control_character_in_a_header_field(
    config_path: Path, field: str, value: str
) -> None:
    path = config_path.parent / "issues" / "2030-01-05-hello.md"
    path.write_text(_issue(field, value), encoding="utf-8")
    result = runner.invoke(app, ["--config", str(config_path), "check", "hello"])
    assert result.exit_code != 0
    message = str(result.exception) + result.output
    assert "issues/2030-01-05-hello.md:" in message, message
    assert field in message and "control character" in message, message


def test_sync_lists_the_file_and_stores_nothing(services: Services) -> None:
    folder = services.settings.path(services.settings.issues_dir)
    (folder / "2030-01-05-hello.md").write_text(_issue("title", BAD_VALUES[0]), "utf-8")
    report = sync_issues(services)
    assert report.created == []
    assert [error.file for error in report.errors] == ["issues/2030-01-05-hello.md"]
    assert "title" in report.errors[0].reason


@pytest.mark.parametrize(
    ("section", "key"),
    [("sender", "from_name"), ("sender", "reply_to"), ("sender", "from_email"), ("site", "name")],
)
def test_settings_refuse_a_line_break_in_what_reaches_a_header(
    tmp_path: Path, section: str, key: str
) -> None:
    config = base_config(tmp_path)
    config[section][key] = INJECTION
    with pytest.raises(ConfigError, match=f"{section}.{key}"):
        load_settings(write_config(tmp_path, config))


def test_settings_refuse_a_line_break_in_a_newsletter_name(tmp_path: Path) -> None:
    config = base_config(tmp_path)
    config["newsletters"][0]["name"] = INJECTION
    with pytest.raises(ConfigError, match="name"):
        load_settings(write_config(tmp_path, config))


def _content(subject: str = "제목", *, list_id: str = '"Weekly" <weekly.example.org>') -> Content:
    return Content(
        subject=subject,
        html="<p>본문 %%H%%</p>",
        text="본문 %%T%%\n",
        from_email="editor@example.org",
        from_name="편집자",
        reply_to="reply@example.org",
        headers={"List-Id": list_id},
        placeholders_html={"name": "%%H%%"},
        placeholders_text={"name": "%%T%%"},
    )


def _recipient(name: str = "독자", email: str = "reader@example.net") -> Recipient:
    return Recipient(
        email=email,
        name=name,
        values={"name": name},
        headers={
            "List-Unsubscribe": "<https://news.example.org/unsubscribe/t>, <mailto:u@example.org>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )


def _header_names(raw: bytes) -> list[str]:
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert b"\r" not in head.replace(b"\r\n", b"") and b"\n" not in head.replace(b"\r\n", b"")
    return [
        line.split(b":", 1)[0].decode()
        for line in head.split(b"\r\n")
        if line and line[:1] not in (b" ", b"\t")
    ]


TEXT = st.text(st.characters(codec="utf-8"), max_size=30) | st.sampled_from(
    [INJECTION, "a\nBcc: x@y.z", "a\rBcc: x@y.z", "이름\u2028Bcc: x@y.z", "x\x85Bcc: y@z.z"]
)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(title=TEXT, name=TEXT)
def test_no_title_or_name_adds_a_header_to_a_built_message(
    tmp_path_factory: pytest.TempPathFactory, title: str, name: str
) -> None:
    outbox = tmp_path_factory.mktemp("outbox")
    backend = OutboxBackend(outbox)
    batch = Batch(_content(title), [_recipient(name), _recipient("Plain", "other@example.net")])
    try:
        results = backend.send(batch)
    except UnsafeHeaderError:
        assert not title.isprintable()
        assert not [path for path in outbox.rglob("*") if path.is_file()]
        return
    box = mailbox.Maildir(outbox)
    messages = [box.get_bytes(key) for key in box.iterkeys()]
    assert results[1].outcome is Outcome.ACCEPTED
    if results[0].outcome is Outcome.FAILED:
        assert "control character" in results[0].error and not name.isprintable()
        assert len(messages) == 1
    else:
        assert len(messages) == 2
    for raw in messages:
        assert _header_names(raw) == EXPECTED


@pytest.mark.parametrize("where", ["subject", "from_name", "reply_to", "list_id"])
def test_build_message_itself_refuses_a_line_break(where: str) -> None:
    content = _content()
    fields = {
        "subject": {"subject": INJECTION},
        "from_name": {"from_name": INJECTION},
        "reply_to": {"reply_to": INJECTION},
        "list_id": {"headers": {"List-Id": INJECTION}},
    }[where]
    bad = Content(**{**{f: getattr(content, f) for f in content.__slots__}, **fields})
    with pytest.raises(UnsafeHeaderError):
        build_message(bad, _recipient())
    with pytest.raises(UnsafeHeaderError):
        build_message(content, _recipient(name=INJECTION))


def test_a_long_korean_newsletter_name_is_one_clean_list_id(tmp_path: Path) -> None:
    config = base_config(tmp_path)
    config["newsletters"][0]["name"] = "작은 기술 소식 주간 뉴스레터 " * 4
    loaded = load_settings(write_config(tmp_path, config))
    links = Links(loaded, TokenSigner(["test-secret-key-0123456789abcdef"]), "weekly")
    raw = build_message(_content(list_id=links.list_id()), _recipient())
    assert _header_names(raw) == EXPECTED


def test_smtp_backend_fails_only_the_recipient_with_a_bad_name(smtp_sink: SmtpSink) -> None:
    backend = SmtpBackend(SmtpSettings(host=smtp_sink.host, port=smtp_sink.port), password=None)
    try:
        results = backend.send(
            Batch(_content(), [_recipient(INJECTION, "bad@example.net"), _recipient()])
        )
        with pytest.raises(UnsafeHeaderError):
            backend.send(Batch(_content(INJECTION), [_recipient()]))
    finally:
        backend.close()
    assert [r.outcome for r in results] == [Outcome.FAILED, Outcome.ACCEPTED]
    assert smtp_sink.recipients() == ["reader@example.net"]
    for _, _, raw in smtp_sink.messages:
        assert _header_names(raw) == EXPECTED


def test_sendgrid_backend_never_posts_a_line_break(emulator: Emulator) -> None:
    backend = sendgrid_backend(emulator)
    with pytest.raises(UnsafeHeaderError):
        backend.send(Batch(_content(INJECTION), [_recipient()]))
    with pytest.raises(UnsafeHeaderError):
        backend.send(Batch(_content(list_id=INJECTION), [_recipient()]))
    batch = Batch(_content(), [_recipient(INJECTION, "bad@example.net"), _recipient()])
    results = backend.send(batch)
    assert [r.outcome for r in results] == [Outcome.FAILED, Outcome.ACCEPTED]
    stats = emulator.state.stats()
    assert stats["accepted_requests"] == 1
    (request,) = emulator.state.accepted
    assert request.recipients == ["reader@example.net"]
    assert "Bcc" not in json.dumps(request.body)


def test_the_yaml_of_bad_values_really_holds_control_characters() -> None:
    # Guards the fixtures above: each value parses to text with a control character.
    for value in BAD_VALUES:
        parsed = yaml.safe_load(f"v: {value}")["v"].strip()
        assert not parsed.isprintable(), value
