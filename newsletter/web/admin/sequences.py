"""Routes: the dashboard's sequences page (read-only: every role sees it).

Per newsletter's sequence: readers not started, and per step how many readers are at it,
what was sent, bounces, readers who left after it and, with tracking on, who clicked. The
figures are :func:`newsletter.automations.sequences.report.all_sequences`' (as the
``newsletter sequences show`` command's).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from newsletter.automations.sequences.report import all_sequences
from newsletter.web.admin.deps import ServicesDep, ViewerDep, render

router = APIRouter(include_in_schema=False)


@router.get("/sequences")
async def sequences(request: Request, editor: ViewerDep, services: ServicesDep) -> Response:
    """Every newsletter's sequence and its figures."""
    figures = await run_in_threadpool(all_sequences, services)
    return render(request, "sequences.html", {"sequences": figures}, editor=editor)
