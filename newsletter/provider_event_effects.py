"""What provider events change: the subscriber store and the send ledger."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from newsletter.provider_events import ProviderEvent


def apply_effects(session: Session, events: Sequence[ProviderEvent]) -> None:
    """Apply the effects of newly stored ``events`` (each exactly once)."""
    if not events:
        return
