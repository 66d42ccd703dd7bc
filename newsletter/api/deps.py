"""The API's dependencies: the caller (Bearer key, scope, per-key rate limit), services.

``Scoped("subscribers:write")`` authenticates the key, checks its scope and counts the
request against the key's per-minute limit, in one short transaction.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from newsletter.api import keys, store
from newsletter.api.errors import Problem
from newsletter.db import transaction
from newsletter.services import Services
from newsletter.web.emails import Mailer
from subscribers.db import utcnow

bearer = HTTPBearer(auto_error=False, description="An API key: `newsletter api-keys create`")


@dataclass(frozen=True)
class Caller:
    """The key a request came with."""

    key_id: int
    name: str
    scopes: tuple[str, ...]

    @property
    def actor(self) -> str:
        """How the audit log names this caller."""
        return f"api:{self.name}"[:64]


async def get_services(request: Request) -> Services:
    """The app's ``Services``."""
    services: Services = request.app.state.services
    return services


async def get_mailer(request: Request) -> Mailer:
    """The confirmation mailer."""
    mailer: Mailer = request.app.state.mailer
    return mailer


ServicesDep = Annotated[Services, Depends(get_services)]
MailerDep = Annotated[Mailer, Depends(get_mailer)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def authenticate(services: Services, secret: str, scope: str | None) -> Caller:
    """The caller for ``secret``; 401 unknown key, 403 missing scope, 429 over its limit."""
    limit = services.settings.api.rate_limit_per_minute
    now = time.time()
    with transaction(services.sessions) as session:
        key = keys.authenticate(session, secret)
        if key is None:
            raise _unauthorized("unknown or revoked API key")
        caller = Caller(key.id, key.name, tuple(key.scopes))
        if scope is not None and scope not in caller.scopes:
            raise Problem(403, "Forbidden", f"the key {caller.name!r} lacks the scope {scope}")
        store.mark_used(session, key.id, now=utcnow())
        count = store.count_request(session, key.id, window=int(now // 60)) if limit else 0
    if limit and count > limit:
        retry = str(max(1, 60 - int(now % 60)))
        raise Problem(
            429,
            "Too many requests",
            f"the key {caller.name!r} may make {limit} requests a minute",
            headers={"Retry-After": retry},
        )
    return caller


def _unauthorized(detail: str) -> Problem:
    return Problem(401, "Unauthorized", detail, headers={"WWW-Authenticate": "Bearer"})


def scoped(scope: str | None) -> Any:
    """A dependency giving the :class:`Caller`, requiring ``scope`` (None: any key)."""

    def dependency(request: Request, credentials: Credentials) -> Caller:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise _unauthorized("send the key as `Authorization: Bearer KEY`")
        services: Services = request.app.state.services
        return authenticate(services, credentials.credentials, scope)

    return Depends(dependency)


AnyKey = Annotated[Caller, scoped(None)]
SubscribersRead = Annotated[Caller, scoped("subscribers:read")]
SubscribersWrite = Annotated[Caller, scoped("subscribers:write")]
IssuesRead = Annotated[Caller, scoped("issues:read")]
IssuesWrite = Annotated[Caller, scoped("issues:write")]
SendsRead = Annotated[Caller, scoped("sends:read")]
StatsRead = Annotated[Caller, scoped("stats:read")]
