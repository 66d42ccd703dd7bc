"""One-off emails (confirmation, welcome, test sends) through the configured backend.

They never touch the send ledger: there is no audience, just one address and one message.
Transient failures are retried with the configured policy; a refusal raises.
"""

from __future__ import annotations

from collections.abc import Mapping

from newsletter.delivery.backends import Backend, make_backend
from newsletter.delivery.message import Batch, Content, Outcome, Recipient
from newsletter.delivery.retry import RetryPolicy, with_retries
from newsletter.errors import PermanentBackendError, TransientBackendError
from newsletter.services import Services


def send_transactional(
    services: Services,
    *,
    to: str,
    subject: str,
    html: str,
    text: str,
    headers: Mapping[str, str] | None = None,
    backend: Backend | None = None,
    newsletter_id: str | None = None,
) -> str:
    """Send one email to ``to`` now; returns the provider's message id (may be empty).

    ``headers`` are added as they are (e.g. ``List-Unsubscribe`` for a welcome email).
    From and Reply-To are those of ``newsletter_id`` (``Settings.sender_for``), else the
    site's ``sender``.
    Raises ``PermanentBackendError`` when refused, ``TransientBackendError`` when the
    backend still fails after the configured retries.
    """
    settings = services.settings
    sender = settings.sender_for(newsletter_id)
    content = Content(
        subject=subject,
        html=html,
        text=text,
        from_email=sender.from_email,
        from_name=sender.from_name,
        reply_to=sender.reply_to,
        headers=dict(headers or {}),
        categories=("transactional",),
    )
    batch = Batch(content=content, recipients=[Recipient(email=to)])
    owned = backend is None
    active = make_backend(settings) if backend is None else backend
    try:
        return _send_one(active, batch, RetryPolicy.from_settings(settings.delivery.retry))
    finally:
        if owned:
            active.close()


def _send_one(backend: Backend, batch: Batch, policy: RetryPolicy) -> str:
    def attempt() -> str:
        (result,) = backend.send(batch)
        if result.outcome is Outcome.DEFERRED:
            raise TransientBackendError(f"{result.recipient.email}: {result.error}")
        if result.outcome is Outcome.FAILED:
            raise PermanentBackendError(f"{result.recipient.email} refused: {result.error}")
        return result.provider_id

    return with_retries(attempt, policy)
