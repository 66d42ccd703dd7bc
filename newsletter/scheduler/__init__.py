"""The scheduler: each issue goes out on its publication instant, inside ``newsletter serve``.

``build_scheduler(services)`` returns an :class:`IssueScheduler` (not started). The database
is the source of truth; see ``runner`` for the jobs, ``plan`` for the decision rules,
``instants`` for timezones and DST, ``service`` for the editors' schedule/cancel actions.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from newsletter.scheduler.runner import (
        AbandonedFunction,
        Firing,
        IssueScheduler,
        SendFunction,
        SyncFunction,
        TakeOverFunction,
    )
    from newsletter.services import Services

__all__ = ["Firing", "IssueScheduler", "build_scheduler"]


def __getattr__(name: str) -> Any:
    # The runner (APScheduler) is imported on first use: `newsletter issues list` and the
    # admin pages use scheduler.service and scheduler.store without starting a scheduler.
    if name in ("Firing", "IssueScheduler"):
        from newsletter.scheduler import runner

        return getattr(runner, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def build_scheduler(
    services: Services,
    *,
    send: SendFunction | None = None,
    sync: SyncFunction | None = None,
    poll_interval: timedelta = timedelta(seconds=1),
) -> IssueScheduler:
    """A scheduler over ``services``; ``send``/``sync`` default to the delivery and catalog."""
    from newsletter.scheduler.runner import IssueScheduler

    return IssueScheduler(
        services,
        send=send or _default_send(),
        sync=sync if sync is not None else _default_sync(),
        poll_interval=poll_interval,
        abandoned=_default_abandoned() if send is None else None,
        take_over=_default_take_over() if send is None else None,
    )


def _default_send() -> SendFunction:
    def start_send(services: Services, slug: str) -> object:
        # Imported when an issue is due: the web app can start without the delivery engine.
        from newsletter.delivery import engine  # type: ignore[attr-defined,unused-ignore]

        return engine.start_send(services, slug)  # type: ignore[no-any-return,unused-ignore]

    return start_send


def _default_abandoned() -> AbandonedFunction:
    def abandoned_sends(services: Services) -> Sequence[int]:
        from newsletter.delivery import engine  # type: ignore[attr-defined,unused-ignore]

        return engine.abandoned_sends(services)  # type: ignore[no-any-return,unused-ignore]

    return abandoned_sends


def _default_take_over() -> TakeOverFunction:
    def take_over(services: Services, send_id: int) -> object:
        from newsletter.delivery import engine  # type: ignore[attr-defined,unused-ignore]

        return engine.take_over(services, send_id)  # type: ignore[no-any-return,unused-ignore]

    return take_over


def _default_sync() -> SyncFunction | None:
    try:
        from newsletter.catalog import sync_issues
    except ImportError:
        return None
    return sync_issues
