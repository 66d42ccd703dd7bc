"""The scheduler: each issue goes out on its publication instant, inside ``newsletter serve``.

``build_scheduler(services)`` returns an :class:`IssueScheduler` (not started). The database
is the source of truth; see ``runner`` for the jobs, ``plan`` for the decision rules,
``instants`` for timezones and DST, ``service`` for the editors' schedule/cancel actions.
"""

from __future__ import annotations

from datetime import timedelta

from newsletter.scheduler.runner import Firing, IssueScheduler, SendFunction, SyncFunction
from newsletter.services import Services

__all__ = ["Firing", "IssueScheduler", "build_scheduler"]


def build_scheduler(
    services: Services,
    *,
    send: SendFunction | None = None,
    sync: SyncFunction | None = None,
    poll_interval: timedelta = timedelta(seconds=1),
) -> IssueScheduler:
    """A scheduler over ``services``; ``send``/``sync`` default to the delivery and catalog."""
    return IssueScheduler(
        services,
        send=send or _default_send(),
        sync=sync if sync is not None else _default_sync(),
        poll_interval=poll_interval,
    )


def _default_send() -> SendFunction:
    def start_send(services: Services, slug: str) -> object:
        # Imported when an issue is due: the web app can start without the delivery engine.
        from newsletter.delivery import engine  # type: ignore[attr-defined,unused-ignore]

        return engine.start_send(services, slug)  # type: ignore[no-any-return,unused-ignore]

    return start_send


def _default_sync() -> SyncFunction | None:
    try:
        from newsletter.catalog import sync_issues
    except ImportError:
        return None
    return sync_issues
