"""Routes of ``/api/v1/subscribers``: thin, over :mod:`newsletter.api.service`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Query, Request, Response

from newsletter.api import schemas, service
from newsletter.api.deps import MailerDep, ServicesDep, SubscribersRead, SubscribersWrite
from newsletter.api.problems import PROBLEM_RESPONSES
from newsletter.web.deps import client_ip
from newsletter.web.emails import Mailer

router = APIRouter(prefix="/subscribers", tags=["subscribers"], responses=PROBLEM_RESPONSES)

NewsletterFilter = Annotated[
    str | None, Query(max_length=64, description="only subscribers of this newsletter")
]


@router.get("", response_model=schemas.SubscriberPage)
def list_subscribers(
    request: Request,
    services: ServicesDep,
    _caller: SubscribersRead,
    newsletter: NewsletterFilter = None,
    status: schemas.Status | None = None,
    created_since: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> schemas.SubscriberPage:
    """Subscribers by id, a page at a time: pass ``next_cursor`` back as ``cursor``."""
    return service.list_subscribers(
        services,
        cursors=request.app.state.cursors,
        newsletter=newsletter,
        status=status,
        created_since=created_since,
        limit=limit,
        cursor=cursor,
    )


@router.post("", response_model=schemas.SubscribeOut, status_code=201)
def create_subscriber(
    body: schemas.SubscriberCreate,
    request: Request,
    background: BackgroundTasks,
    services: ServicesDep,
    mailer: MailerDep,
    caller: SubscribersWrite,
) -> schemas.SubscribeOut:
    """Sign someone up: double opt-in (a confirmation email goes) unless
    ``"confirmed": true`` with a ``consent`` source, which is recorded."""
    result, confirmation = service.create_subscriber(
        services, body, actor=caller.actor, ip=client_ip(request)
    )
    _confirm_later(background, mailer, confirmation)
    return result


@router.get("/{subscriber_id}", response_model=schemas.SubscriberOut)
def get_subscriber(
    subscriber_id: schemas.Id, services: ServicesDep, _caller: SubscribersRead
) -> schemas.SubscriberOut:
    """One subscriber with their subscriptions."""
    return service.get_subscriber(services, subscriber_id)


@router.patch("/{subscriber_id}", response_model=schemas.SubscriberOut)
def update_subscriber(
    subscriber_id: schemas.Id,
    body: schemas.SubscriberUpdate,
    background: BackgroundTasks,
    services: ServicesDep,
    mailer: MailerDep,
    caller: SubscribersWrite,
) -> schemas.SubscriberOut:
    """Change name, timezone or the newsletters followed (new ones are double opt-in)."""
    result, confirmation = service.update_subscriber(
        services, subscriber_id, body, actor=caller.actor
    )
    _confirm_later(background, mailer, confirmation)
    return result


@router.post("/{subscriber_id}/unsubscribe", response_model=schemas.SubscriberOut)
def unsubscribe(
    subscriber_id: schemas.Id,
    body: schemas.UnsubscribeRequest,
    services: ServicesDep,
    caller: SubscribersWrite,
) -> schemas.SubscriberOut:
    """Unsubscribe from one newsletter, or from all."""
    return service.unsubscribe(
        services, subscriber_id, newsletter=body.newsletter, actor=caller.actor
    )


@router.delete("/{subscriber_id}", status_code=204, response_class=Response)
def erase(subscriber_id: schemas.Id, services: ServicesDep, caller: SubscribersWrite) -> Response:
    """Erase the person: their data goes, their hashed address stays suppressed."""
    service.erase(services, subscriber_id, actor=caller.actor)
    return Response(status_code=204)


def _confirm_later(
    background: BackgroundTasks, mailer: Mailer, confirmation: service.Confirmation | None
) -> None:
    if confirmation is not None:
        background.add_task(
            mailer.send_confirmation,
            to=confirmation.to,
            subscriber_id=confirmation.subscriber_id,
            name=confirmation.name,
            lang=confirmation.lang,
            newsletters=confirmation.newsletters,
            consent_id=confirmation.consent_id,
        )
