"""The words of the advertising notices, in Korean and English (the newsletter's language).

The periodic notice (시행령 제62조의3) says who sends, the date of the consent, that the
person agreed, and how to keep it (do nothing) or withdraw it (the signed preferences
link). The result notice (법 제50조 제7항) says who sends, what was done (consent given or
withdrawn) and the date it was done.
"""

from __future__ import annotations

NOTICE_TEXTS: dict[str, dict[str, str]] = {
    "ko": {
        "periodic_subject": "[{sender}] 광고성 정보 수신동의 여부 안내",
        "periodic_heading": "광고성 정보 수신동의 안내",
        "periodic_body": (
            "{sender}입니다. 고객님은 {date}에 {newsletter}의 광고성 정보 수신에 "
            "동의하셨습니다. 정보통신망법 제50조 제8항에 따라 2년마다 수신동의 사실을 "
            "알려 드립니다."
        ),
        "periodic_keep": "계속 받으시려면 아무것도 하지 않으셔도 됩니다.",
        "periodic_withdraw": "수신동의를 철회하시려면 아래 링크의 구독 설정에서 "
        "'광고성 정보 받기'를 해제해 주세요.",
        "result_subject_given": "[{sender}] 광고성 정보 수신동의 처리 결과 안내",
        "result_subject_withdrawn": "[{sender}] 광고성 정보 수신거부(동의 철회) 처리 결과 안내",
        "result_heading": "광고성 정보 수신 설정 처리 결과",
        "result_given": "{sender}입니다. {date}에 {newsletter}의 광고성 정보 수신동의가 "
        "처리되었습니다.",
        "result_withdrawn": "{sender}입니다. {date}에 {newsletter}의 광고성 정보 "
        "수신거부(동의 철회)가 처리되었습니다. 이제 광고성 정보를 보내 드리지 않습니다.",
        "result_change": "설정은 아래 링크에서 언제든 바꾸실 수 있습니다.",
        "link": "구독 설정 (수신동의 유지·철회)",
        "sender_label": "보낸 곳",
    },
    "en": {
        "periodic_subject": "[{sender}] Your consent to advertising: a reminder",
        "periodic_heading": "Your consent to advertising (광고성 정보 수신동의)",
        "periodic_body": (
            "This is {sender}. On {date} you agreed to receive advertising from "
            "{newsletter}. Korean law (정보통신망법 제50조) asks us to remind you of it "
            "every two years."
        ),
        "periodic_keep": "To keep receiving it, you need not do anything.",
        "periodic_withdraw": "To withdraw your consent, untick 'Advertising' on your "
        "preferences page (link below).",
        "result_subject_given": "[{sender}] Your consent to advertising was recorded",
        "result_subject_withdrawn": "[{sender}] Your consent to advertising was withdrawn",
        "result_heading": "Your advertising setting (광고성 정보 수신 설정)",
        "result_given": "This is {sender}. On {date} your consent to receive advertising "
        "from {newsletter} was recorded.",
        "result_withdrawn": "This is {sender}. On {date} your consent to receive advertising "
        "from {newsletter} was withdrawn (수신거부). We will send you no more advertising.",
        "result_change": "You can change this at any time on your preferences page:",
        "link": "Preferences (keep or withdraw your consent)",
        "sender_label": "Sender",
    },
}
