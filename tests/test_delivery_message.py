from __future__ import annotations

import base64
import binascii
from email import message_from_bytes
from email.policy import default
from html import escape

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newsletter.delivery.message import Content, Recipient, base64_length, build_message

TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\u2028\u2029"),
    min_size=1,
    max_size=80,
).filter(lambda s: s.strip() == s and s.strip())


def _content(subject: str = "제목 / Subject", body: str = "본문") -> Content:
    return Content(
        subject=subject,
        html=f"<p>{body} %%H%%</p>",
        text=f"{body} %%T%%\n" + "긴 줄 " * 300,
        from_email="editor@example.org",
        from_name="편집자",
        reply_to="reply@example.org",
        headers={"List-Id": "=?utf-8?b?7KO86rCE?= <weekly.news.example.org>"},
        placeholders_html={"name": "%%H%%"},
        placeholders_text={"name": "%%T%%"},
    )


def _recipient(name: str = "김 <독자>") -> Recipient:
    url = "https://news.example.org/unsubscribe/" + "t" * 60
    return Recipient(
        email="reader@example.net",
        name=name,
        values={"name": name},
        headers={
            "List-Unsubscribe": f"<{url}>, <mailto:editor@example.org?subject=unsubscribe%20t>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )


@pytest.mark.parametrize("eight_bit", [False, True])
def test_the_message_parses_cleanly_with_short_lines_and_folded_headers(eight_bit: bool) -> None:
    raw = build_message(_content(), _recipient(), eight_bit=eight_bit)
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    assert b"\n" not in raw.replace(b"\r\n", b"")  # CRLF only
    parsed = message_from_bytes(raw, policy=default)
    assert not parsed.defects
    assert parsed["Subject"] == "제목 / Subject"
    assert parsed["From"].addresses[0].display_name == "편집자"
    assert parsed["To"].addresses[0].display_name == "김 <독자>"
    assert str(parsed["List-Unsubscribe"]).count("<") == 2
    html = parsed.get_body(preferencelist=("html",))
    text = parsed.get_body(preferencelist=("plain",))
    assert html is not None and "김 &lt;독자&gt;" in html.get_content()
    assert text is not None and "본문 김 <독자>\r\n" in text.get_content()  # canonical CRLF
    assert text.get_content().count("긴 줄") == 300  # a long line survives soft breaks
    # Raw UTF-8 only where SMTP's 998-byte line limit holds: the long Korean line goes in
    # base64 (smaller than QP for Hangul), and so does the short Korean HTML without 8bit.
    assert text["Content-Transfer-Encoding"] == "base64"
    assert html["Content-Transfer-Encoding"] == ("8bit" if eight_bit else "base64")


@settings(max_examples=60, deadline=None)
@given(subject=TEXT, name=TEXT, body=TEXT, eight_bit=st.booleans())
def test_any_subject_name_and_body_round_trip(
    subject: str, name: str, body: str, eight_bit: bool
) -> None:
    raw = build_message(_content(subject, body), _recipient(name), eight_bit=eight_bit)
    parsed = message_from_bytes(raw, policy=default)
    assert not parsed.defects
    assert parsed["Subject"] == subject
    assert parsed["To"].addresses[0].display_name == name
    text = parsed.get_body(preferencelist=("plain",))
    assert text is not None and text.get_content().startswith(f"{body} {name}\r\n")


def _whole_body(content: Content, recipient: Recipient) -> tuple[str, ...]:
    """What each body decodes to: the markers substituted in the whole text, CRLF lines."""
    html, text = content.html, content.text
    for key, marker in content.placeholders_html.items():
        html = html.replace(marker, escape(recipient.values.get(key, ""), quote=True))
    for key, marker in content.placeholders_text.items():
        text = text.replace(marker, recipient.values.get(key, ""))
    # The line break before a MIME boundary belongs to the boundary (RFC 2046 5.1.1).
    return tuple(b.replace("\n", "\r\n").removesuffix("\r\n") for b in (html, text))


LINE = st.lists(st.sampled_from([*"ab .=\t가<>&", "%%H%%", "%%T%%", "x" * 90]), max_size=12).map(
    "".join
)


@settings(max_examples=80, deadline=None)
@given(
    lines=st.lists(LINE, min_size=1, max_size=6),
    name=TEXT,
    eight_bit=st.booleans(),
    long=st.booleans(),
)
def test_bodies_split_once_per_content_decode_like_the_whole_substitution(
    lines: list[str], name: str, eight_bit: bool, long: bool
) -> None:
    # Markers on short and very long lines (rendered HTML is often one line of ~9 kB):
    # the parts between markers are encoded once per content, the values per recipient.
    body = "\n".join(lines) + ("<p>" + "긴 줄 " * 400 + "%%H%% %%T%%</p>\n" if long else "\n")
    content = Content(
        subject="s",
        html=body,
        text=body,
        from_email="editor@example.org",
        placeholders_html={"name": "%%H%%"},
        placeholders_text={"name": "%%T%%"},
    )
    recipient = _recipient(name)
    for _ in range(2):  # the second message reuses the split bodies
        raw = build_message(content, recipient, eight_bit=eight_bit)
        parsed = message_from_bytes(raw, policy=default)
        assert not parsed.defects
        html_part = parsed.get_body(preferencelist=("html",))
        text_part = parsed.get_body(preferencelist=("plain",))
        assert html_part is not None and text_part is not None
        assert (html_part.get_content(), text_part.get_content()) == _whole_body(content, recipient)
        assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
        assert b"\n" not in raw.replace(b"\r\n", b"")
        whole_html = _whole_body(content, recipient)[0]
        fits = all(len(line.encode()) <= 998 for line in whole_html.split("\r\n"))
        encoding = html_part["Content-Transfer-Encoding"]
        payload = html_part.get_payload()
        raw_size = len(whole_html.encode())
        if eight_bit and fits:
            assert encoding == "8bit"
        elif encoding == "base64":  # chosen only when smaller than the body in QP
            assert base64_length(raw_size) < len(binascii.b2a_qp(whole_html.encode())) + 400
        else:
            assert encoding == "quoted-printable"
            assert len(payload) <= base64_length(raw_size) + 2
        if encoding != "8bit":  # short lines, soft breaks between the parts
            assert all(len(line) <= 77 for line in payload.split("\r\n"))


KOREAN = st.text(alphabet="가나다라 한국어\n<>&=.", min_size=1, max_size=400)
ASCII = st.text(alphabet="abc xyz\n<>&=.", min_size=1, max_size=400)


@settings(max_examples=80, deadline=None)
@given(body=st.one_of(KOREAN, ASCII), name=TEXT, split=st.booleans())
def test_the_smaller_transfer_encoding_decodes_to_the_body(
    body: str, name: str, split: bool
) -> None:
    # Korean bodies go out in base64, ASCII ones in quoted-printable (whichever is
    # smaller), whole or split at the personal marker; both decode to what went in.
    html = body + ("%%H%%" + body if split else "")
    content = Content(
        subject="s",
        html=html,
        text=html.replace("%%H%%", "%%T%%"),
        from_email="editor@example.org",
        placeholders_html={"name": "%%H%%"},
        placeholders_text={"name": "%%T%%"},
    )
    # Several readers of one content: names of other lengths shift the base64 alignment
    # of the text after them (its encodings are cached per alignment).
    for reader in (name, name + "가나", "x", name):
        recipient = _recipient(reader)
        raw = build_message(content, recipient, eight_bit=False)
        parsed = message_from_bytes(raw, policy=default)
        assert not parsed.defects
        parts = [parsed.get_body(preferencelist=(kind,)) for kind in ("html", "plain")]
        assert all(part is not None for part in parts)
        decoded = tuple(part.get_content() for part in parts if part is not None)
        assert decoded == _whole_body(content, recipient)
        for part, whole in zip(parts, decoded, strict=True):
            assert part is not None
            payload = part.get_payload()
            qp_size = len(binascii.b2a_qp(whole.encode()))
            if part["Content-Transfer-Encoding"] == "base64":
                assert payload_size_ok(payload, whole)
                assert len(payload) < qp_size + 400
            else:
                assert len(payload) <= base64_length(len(whole.encode())) + 2
        assert all(len(line) <= 998 for line in raw.split(b"\r\n"))


def payload_size_ok(payload: str, whole: str) -> bool:
    """A base64 payload: lines of 76 characters (the last may be shorter), the exact size."""
    lines = payload.split("\r\n")
    body = [line for line in lines if line]
    return (
        all(len(line) == 76 for line in body[:-1])
        and len(payload) <= base64_length(len(whole.encode())) + 2
    )


def test_korean_html_goes_in_base64_english_in_quoted_printable() -> None:
    korean = "<p>" + "한국어 문단입니다. " * 200 + "%%H%%</p>\n"
    english = "<p>" + "An English paragraph. " * 200 + "%%H%%</p>\n"
    sizes = {}
    for label, body in (("ko", korean), ("en", english)):
        content = Content(
            subject="s",
            html=body,
            text="t",
            from_email="e@example.org",
            placeholders_html={"name": "%%H%%"},
        )
        parsed = message_from_bytes(build_message(content, _recipient()), policy=default)
        html = parsed.get_body(preferencelist=("html",))
        assert html is not None
        sizes[label] = (html["Content-Transfer-Encoding"], len(html.get_payload()))
        assert "김 &lt;독자&gt;" in html.get_content()
    assert sizes["ko"][0] == "base64" and sizes["en"][0] == "quoted-printable"
    # Korean on the wire: ~1.37x the UTF-8 bytes instead of QP's ~2.2x.
    assert sizes["ko"][1] < 1.4 * len(korean.encode())


def test_message_ids_and_boundaries_are_unique() -> None:
    raws = [build_message(_content(), _recipient(), eight_bit=True) for _ in range(200)]
    ids = {message_from_bytes(raw, policy=default)["Message-ID"] for raw in raws}
    assert len(ids) == 200


@pytest.mark.parametrize("one_line", [True, False])
def test_base64_from_cached_runs_equals_encoding_the_whole_body(one_line: bool) -> None:
    # Long static runs around markers, names of every length mod 57: each alignment of the
    # cached runs is used, and every message is byte-for-byte base64 of the whole body.
    join = "" if one_line else "\n"
    paragraph = "<p>한국어 문단입니다. 줄바꿈 없이 길게 이어집니다.</p>" * 40
    html = join.join(["<div>", paragraph, "%%H%%", paragraph, "%%H%%", paragraph, "</div>\n"])
    content = Content(
        subject="s",
        html=html,
        text="t",
        from_email="e@example.org",
        placeholders_html={"name": "%%H%%"},
    )
    for length in range(0, 120):
        recipient = _recipient("가" * (length % 7) + "a" * length)
        parsed = message_from_bytes(build_message(content, recipient), policy=default)
        part = parsed.get_body(preferencelist=("html",))
        assert part is not None and part["Content-Transfer-Encoding"] == "base64"
        whole = _whole_body(content, recipient)[0].encode()
        expected = base64.encodebytes(whole).replace(b"\n", b"\r\n").decode()[:-2]
        assert part.get_payload() == expected
