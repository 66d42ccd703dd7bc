"""The scheduler inside the web app's lifespan: started with ``serve``, stopped with it."""

from __future__ import annotations

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

        scheduler = build_scheduler(services)
        scheduler.start()
        app.state.scheduler = scheduler
        try:
            yield
        finally:
            scheduler.shutdown()

    return lifespan
