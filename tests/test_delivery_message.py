from __future__ import annotations

from email import message_from_bytes
from email.policy import default

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newsletter.delivery.message import Content, Recipient, build_message

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
    # Raw UTF-8 only where SMTP's 998-byte line limit holds: the long text stays QP.
    assert text["Content-Transfer-Encoding"] == "quoted-printable"
    assert html["Content-Transfer-Encoding"] == ("8bit" if eight_bit else "quoted-printable")


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
