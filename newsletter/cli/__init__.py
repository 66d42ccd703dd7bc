"""The ``newsletter`` console script: every command registers on ``newsletter.cli.base.app``."""

from newsletter.cli import (  # noqa: F401
    ads,
    api_keys,
    core,
    dkim,
    feeds,
    issues,
    mailbox,
    outgoing_webhooks,
    schedule,
    sends,
    sequences,
    subscribers,
    sunset,
    users,
)
from newsletter.cli.base import app, run

__all__ = ["app", "main"]


def main() -> None:
    """Entry point of the ``newsletter`` console script."""
    run()
