"""The scheduler inside the web app's lifespan: started with ``serve``, stopped with it."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from newsletter.services import Services


def scheduler_lifespan(
    services: Services,
) -> Callable[[Any], AbstractAsyncContextManager[None]]:
    """A FastAPI ``lifespan`` that runs a scheduler over ``services`` while the app runs."""

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        from newsletter.scheduler import build_scheduler

        _show_scheduler_log()
        scheduler = build_scheduler(services)
        scheduler.start()
        app.state.scheduler = scheduler
        try:
            yield
        finally:
            scheduler.shutdown()

    return lifespan


def _show_scheduler_log() -> None:
    # uvicorn configures only its own loggers; without this, what the scheduler plans,
    # sends and misses (and what the automations write) would be invisible in `newsletter
    # serve`'s output.
    if logging.getLogger().handlers:
        return
    for name in ("newsletter.scheduler", "newsletter.automations"):
        logger = logging.getLogger(name)
        if logger.handlers:
            continue
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
