"""Routes of ``/api/v1``: newsletters, issues, sends, stats; thin over the services."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from newsletter.api import schemas, service
from newsletter.api.deps import AnyKey, IssuesRead, IssuesWrite, SendsRead, ServicesDep, StatsRead
from newsletter.api.problems import PROBLEM_RESPONSES

router = APIRouter(responses=PROBLEM_RESPONSES)
Slug = Annotated[str, Path(max_length=200)]


@router.get("/newsletters", response_model=list[schemas.NewsletterOut], tags=["newsletters"])
def list_newsletters(services: ServicesDep, _caller: AnyKey) -> list[schemas.NewsletterOut]:
    """The newsletters (from config.yaml) with their subscriptions by status."""
    return service.list_newsletters(services)


@router.get("/issues", response_model=list[schemas.IssueOut], tags=["issues"])
def list_issues(
    services: ServicesDep,
    _caller: IssuesRead,
    newsletter: Annotated[str | None, Query(max_length=64)] = None,
) -> list[schemas.IssueOut]:
    """Every issue synced from the issue files."""
    return service.list_issues(services, newsletter=newsletter)


@router.get("/issues/{slug}", response_model=schemas.IssueOut, tags=["issues"])
def get_issue(slug: Slug, services: ServicesDep, _caller: IssuesRead) -> schemas.IssueOut:
    """One issue."""
    return service.get_issue(services, slug)


@router.post("/issues/{slug}/schedule", response_model=schemas.ScheduleOut, tags=["issues"])
def schedule(
    slug: Slug, body: schemas.ScheduleRequest, services: ServicesDep, caller: IssuesWrite
) -> schemas.ScheduleOut:
    """Schedule the issue at ``at`` (an override) or at its file's date."""
    return service.schedule(services, slug, at=body.at, actor=caller.actor)


@router.post("/issues/{slug}/cancel", response_model=schemas.ScheduleOut, tags=["issues"])
def cancel(slug: Slug, services: ServicesDep, caller: IssuesWrite) -> schemas.ScheduleOut:
    """Cancel a scheduled issue that has not started sending."""
    return service.cancel(services, slug, actor=caller.actor)


@router.post("/issues/{slug}/test", response_model=schemas.TestSendOut, tags=["issues"])
def test_send(
    slug: Slug, body: schemas.TestSendRequest, services: ServicesDep, _caller: IssuesWrite
) -> schemas.TestSendOut:
    """Send test copies to up to 10 addresses (the ledger is not touched)."""
    return service.test_send(services, slug, to=body.to)


@router.get("/sends", response_model=list[schemas.SendOut], tags=["sends"])
def list_sends(
    services: ServicesDep,
    _caller: SendsRead,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[schemas.SendOut]:
    """The most recent sends first."""
    return service.list_sends(services, limit=limit)


@router.get("/sends/{send_id}", response_model=schemas.SendOut, tags=["sends"])
def get_send(send_id: schemas.Id, services: ServicesDep, _caller: SendsRead) -> schemas.SendOut:
    """One send with its deliveries counted by status."""
    return service.get_send(services, send_id)


@router.get("/sends/{send_id}/engagement", response_model=schemas.EngagementOut, tags=["sends"])
def get_engagement(
    send_id: schemas.Id, services: ServicesDep, _caller: SendsRead
) -> schemas.EngagementOut:
    """The send's engagement: people who clicked, per link and mailbox provider, machine
    hits apart (docs/tracking.md)."""
    return service.engagement(services, send_id)


@router.get("/stats", response_model=schemas.StatsOut, tags=["stats"])
def stats(services: ServicesDep, _caller: StatsRead) -> schemas.StatsOut:
    """Subscriptions by status per newsletter, and sends by status."""
    return service.stats(services)
