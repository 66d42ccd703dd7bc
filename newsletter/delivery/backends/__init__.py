"""Delivery backends behind one interface; :func:`make_backend` picks the configured one."""

from __future__ import annotations

from newsletter.delivery.backends.base import Backend
from newsletter.settings import Settings

__all__ = ["Backend", "make_backend"]


def make_backend(settings: Settings) -> Backend:
    """The backend named by ``delivery.backend``, built from its settings and secrets."""
    delivery = settings.delivery
    if delivery.backend == "smtp":
        from newsletter.delivery.backends.smtp import SmtpBackend
        from newsletter.delivery.dkim import load_signer

        return SmtpBackend(
            delivery.smtp, password=settings.secrets.smtp_password, signer=load_signer(settings)
        )
    if delivery.backend == "sendgrid":
        from newsletter.delivery.backends.sendgrid import SendgridBackend

        return SendgridBackend(delivery.sendgrid, api_key=settings.secrets.sendgrid_api_key)
    from newsletter.delivery.backends.outbox import OutboxBackend
    from newsletter.delivery.dkim import load_signer

    return OutboxBackend(settings.path(delivery.outbox_dir), signer=load_signer(settings))
