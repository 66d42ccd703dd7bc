"""Delivery: backends behind one interface, the send ledger, retries, rate limits, resume.

Public entry points: :func:`send_transactional` (one-off emails) and, in
``newsletter.delivery.engine``, ``start_send`` / ``run_send`` / ``resume_send``.
"""

from newsletter.delivery.engine import (
    RunOptions,
    SendResult,
    cancel_send,
    create_send,
    resume_send,
    run_send,
    start_send,
)
from newsletter.delivery.transactional import send_transactional

__all__ = [
    "RunOptions",
    "SendResult",
    "cancel_send",
    "create_send",
    "resume_send",
    "run_send",
    "send_transactional",
    "start_send",
]
