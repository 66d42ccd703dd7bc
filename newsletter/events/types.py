"""The project's own words for what a provider reports about one email.

Every source of events (SendGrid's webhook in ``sendgrid``, the bounce mailbox in
``newsletter.mailbox``) translates into :class:`ProviderEvent`; storage (``store``) and
effects (``effects``) know nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class ProviderEventKind(StrEnum):
    """What happened to one email, in the project's words."""

    DELIVERED = "delivered"
    DEFERRED = "deferred"
    BOUNCED = "bounced"  # hard bounce: the address does not exist
    BLOCKED = "blocked"  # soft bounce: refused this time (reputation, policy, full box)
    DROPPED = "dropped"
    COMPLAINED = "complained"
    UNSUBSCRIBED = "unsubscribed"
    GROUP_UNSUBSCRIBED = "group_unsubscribed"
    OPENED = "opened"
    CLICKED = "clicked"


#: Engagement events: stored only when ``web.tracking`` is on.
TRACKING_KINDS = frozenset({ProviderEventKind.OPENED, ProviderEventKind.CLICKED})


@dataclass(frozen=True, slots=True)
class ProviderEvent:
    """One provider event, translated. ``event`` is the provider's own name for it."""

    kind: ProviderEventKind
    event: str
    email: str
    message_id: str
    timestamp: int
    event_id: str | None
    send_id: int | None
    delivery_id: int | None
    reason: str
    raw: Mapping[str, Any] = field(repr=False, compare=False)
    #: Where it came from: ``sendgrid`` (the webhook) or ``mailbox`` (a bounce, complaint
    #: or unsubscribe mail read by ``newsletter mailbox process``).
    source: str = "sendgrid"
