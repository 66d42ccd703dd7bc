"""Helper processes: more CPU for one send on one machine (the GIL caps a process).

A helper is a fresh interpreter (``spawn``) that opens its own database connections and
runs the same batch loop on the same send. Batch claims are atomic (one UPDATE under
SQLite's write lock; ``SKIP LOCKED`` on PostgreSQL), so helpers never take the same rows;
a helper that dies leaves its in-flight batch ``sending``; the other runners prove it dead
through its liveness lock and report that batch ``unknown`` (``loop.reap_dead_runners``).
The batch loop comes from ``loop``, below both this module and ``engine``.
"""

from __future__ import annotations

import multiprocessing
from dataclasses import dataclass
from multiprocessing.process import BaseProcess

from newsletter.delivery.content import Renderer
from newsletter.delivery.loop import RunOptions, finish, new_worker_id, run_batches
from newsletter.services import Services
from newsletter.settings import Settings


@dataclass
class Helper:
    """A started helper process and the runner name it writes on the rows it claims."""

    process: BaseProcess
    worker: str


def start_helpers(
    services: Services, send_id: int, *, count: int, renderer: Renderer
) -> list[Helper]:
    """Start ``count`` helper processes on the send; join them with :func:`join_helpers`."""
    context = multiprocessing.get_context("spawn")
    settings = services.settings.model_dump_json()
    helpers = []
    for _ in range(count):
        worker = new_worker_id()
        process = context.Process(
            target=_help, args=(settings, send_id, worker, renderer), daemon=True
        )
        process.start()
        helpers.append(Helper(process, worker))
    return helpers


def join_helpers(helpers: list[Helper]) -> list[str]:
    """Wait for the helpers; the runner names of those that died (their rows: ``unknown``)."""
    for helper in helpers:
        helper.process.join()
    return [h.worker for h in helpers if h.process.exitcode]


def _help(settings_json: str, send_id: int, worker: str, renderer: Renderer) -> None:
    services = Services.open(Settings.model_validate_json(settings_json), migrate=False)
    try:
        run_batches(services, send_id, worker=worker, options=RunOptions(renderer=renderer))
        finish(services, send_id)
    finally:
        services.close()
