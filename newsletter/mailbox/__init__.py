"""The bounce mailbox: DSNs, ARF complaints and mailto unsubscribes, without a provider API.

``classify`` says what one message is (pure: bytes in, verdict out); ``service`` ties it to
a ledger row through its VERP token (``newsletter.delivery.verp``), turns it into the same
provider event the SendGrid webhook makes (``newsletter.events``) and moves the message
aside; ``store`` holds its one query. Nothing here imports ``newsletter.web``.
"""
