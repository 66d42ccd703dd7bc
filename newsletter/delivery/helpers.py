"""Helper processes: more CPU for one send on one machine (the GIL caps a process).

A helper is a fresh interpreter (``spawn``) that opens its own database connections and
runs the same batch loop on the same send. Batch claims are atomic (one UPDATE under
SQLite's write lock; ``SKIP LOCKED`` on PostgreSQL), so helpers never take the same rows;
a helper that dies leaves its in-flight batch ``sending``, reported ``unknown`` on resume.
"""

from __future__ import annotations

import multiprocessing
from multiprocessing.process import BaseProcess

from newsletter.delivery.content import Renderer
from newsletter.services import Services
from newsletter.settings import Settings


def start_helpers(
    services: Services, send_id: int, *, count: int, renderer: Renderer
) -> list[BaseProcess]:
    """Start ``count`` helper processes on the send; join them with :func:`join_helpers`."""
    context = multiprocessing.get_context("spawn")
    settings = services.settings.model_dump_json()
    helpers: list[BaseProcess] = [
        context.Process(target=_help, args=(settings, send_id, renderer), daemon=True)
        for _ in range(count)
    ]
    for helper in helpers:
        helper.start()
    return helpers


def join_helpers(helpers: list[BaseProcess]) -> list[int]:
    """Wait for the helpers; their exit codes (non-zero: it died, see ``unknown``)."""
    for helper in helpers:
        helper.join()
    return [helper.exitcode or 0 for helper in helpers]


def _help(settings_json: str, send_id: int, renderer: Renderer) -> None:
    from newsletter.delivery.engine import RunOptions, new_worker_id, run_send

    services = Services.open(Settings.model_validate_json(settings_json), migrate=False)
    try:
        run_send(services, send_id, worker=new_worker_id(), options=RunOptions(renderer=renderer))
    finally:
        services.close()
