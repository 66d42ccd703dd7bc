"""What an advertising issue's footer adds: the sender's name and contact, 수신거부.

시행령 별표 6: an advertising email names its sender (전송자의 명칭), how to reach them
(전자우편주소, 전화번호, 주소) and how to refuse further mail (수신거부). The name and
contact come from the newsletter's sender (``Settings.sender_for``: its own keys, else
``sender`` and ``site``); the contact email is ``reply_to``, else ``from_email``.
"""

from __future__ import annotations

from dataclasses import dataclass

from newsletter.settings import Settings

#: The link's words in every language: the law's term and the English one.
UNSUBSCRIBE_LABEL = "수신거부 (Unsubscribe)"

_WORDS = {
    "ko": {
        "notice": "이 메일은 광고 수신에 동의하신 분께 보내는 광고성 정보입니다.",
        "sender": "보낸 곳",
        "email": "이메일",
        "phone": "전화",
        "address": "주소",
    },
    "en": {
        "notice": "This email contains advertising (광고성 정보), sent because you agreed to it.",
        "sender": "Sender",
        "email": "Email",
        "phone": "Phone",
        "address": "Address",
    },
}


@dataclass(frozen=True)
class AdFooter:
    """The lines an advertising issue's footer adds (the template places them)."""

    notice: str
    sender_line: str
    unsubscribe_label: str = UNSUBSCRIBE_LABEL


def ad_footer(settings: Settings, newsletter_id: str, lang: str) -> AdFooter:
    """The footer lines of an advertising issue of ``newsletter_id`` in ``lang``."""
    words = _WORDS.get(lang, _WORDS["en"])
    sender = settings.sender_for(newsletter_id)
    parts = [f"{words['sender']}: {sender.from_name}"]
    parts.append(f"{words['email']}: {sender.reply_to or sender.from_email}")
    if sender.phone:
        parts.append(f"{words['phone']}: {sender.phone}")
    if sender.postal_address:
        parts.append(f"{words['address']}: {sender.postal_address}")
    return AdFooter(notice=words["notice"], sender_line=" · ".join(parts))
