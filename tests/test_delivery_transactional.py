from __future__ import annotations

import mailbox
from email import message_from_bytes
from email.policy import default

from newsletter.delivery import send_transactional
from newsletter.services import Services


def test_transactional_email_lands_in_the_outbox_as_a_complete_message(
    services: Services,
) -> None:
    key = send_transactional(
        services,
        to="독자@example.net",
        subject="구독을 확인해 주세요",
        html="<p>확인 <a href='https://news.example.org/confirm/x'>link</a></p>",
        text="확인: https://news.example.org/confirm/x",
    )
    box = mailbox.Maildir(services.settings.path(services.settings.delivery.outbox_dir))
    raw = box.get_bytes(key)
    parsed = message_from_bytes(raw, policy=default)
    assert not parsed.defects
    assert parsed["Subject"] == "구독을 확인해 주세요"
    assert parsed["To"] == "독자@example.net"
    assert parsed["Message-ID"] and parsed["Date"]
    assert parsed.get_content_type() == "multipart/alternative"
    text = parsed.get_body(preferencelist=("plain",))
    html = parsed.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    assert "확인: https://news.example.org/confirm/x" in text.get_content()
    assert "확인" in html.get_content()
