"""Property-based runs over the web app: no input makes it answer 5xx.

schemathesis generates requests from the app's own OpenAPI schema (bad tokens, odd form
values); a second run posts generated forms to links with valid tokens, which random
paths would never reach; a third covers every route, the hidden admin and webhook ones
too, logged in and with the session's CSRF token (``FUZZ_ADMIN_EXAMPLES`` examples each,
15 by default; raise it to hunt).
"""

from __future__ import annotations

import copy
import dataclasses
import os
import re
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

from newsletter.services import Services
from newsletter.web import create_app
from tests.admin_support import open_project
from tests.fixtures.web import add_subscriber, token_url
from tests.test_admin import login

OURS = r"^/(subscribe|confirm|unsubscribe|preferences|archive|feed\.xml)"


def test_schema_finds_no_server_error(services: Services) -> None:
    app = create_app(services)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app).include(path_regex=OURS)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10, [op.label for op in operations]
    for operation in operations:

        @settings(
            max_examples=20,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            case.call_and_validate(checks=[not_a_server_error])

        run()


FIELD_VALUES = st.one_of(
    st.text(max_size=40), st.sampled_from(["weekly", "letters", "0", "-1", "52", "One-Click"])
)
FORMS = st.dictionaries(
    st.sampled_from(
        ["action", "newsletters", "name", "weeks", "newsletter", "lang", "List-Unsubscribe"]
    ),
    FIELD_VALUES,
    max_size=6,
)
ACTIONS = st.sampled_from(
    ["save", "resubscribe", "pause", "resume", "unsubscribe_all", "export", "erase", "x", ""]
)


def test_forms_on_valid_links_never_fail(services: Services) -> None:
    app = create_app(services)
    emails = iter(range(10_000))

    @settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
    @given(form=FORMS, action=ACTIONS, route=st.sampled_from(["preferences", "unsubscribe"]))
    def run(form: dict[str, str], action: str, route: str) -> None:
        sid = add_subscriber(services, f"fuzz{next(emails)}@example.com")
        url = token_url(services, route, sid, "weekly" if route == "unsubscribe" else "")
        with TestClient(app, base_url=services.settings.site.url) as client:
            page = client.get(url)
            match = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text)
            data = {**form, "action": action}
            if match:
                data["csrf_token"] = match[1]
            response = client.post(url, data=data)
            assert response.status_code < 500, response.text
            assert client.get(url).status_code < 500

    run()


def every_route_schema(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI with every route in it, the hidden admin and webhook ones too.

    FastAPI keeps included routers as route contexts; each is copied with
    ``include_in_schema`` on (the label check in the test fails loudly if that changes).
    """
    shown: list[Any] = []
    for context in iter_route_contexts(app.routes):
        effective = getattr(context, "_route_context", None)
        if dataclasses.is_dataclass(effective) and not isinstance(effective, type):
            shown.append(
                RouteContext(context.route, dataclasses.replace(effective, include_in_schema=True))
            )
        elif isinstance(context.route, APIRoute):
            route = copy.copy(context.route)
            route.include_in_schema = True
            shown.append(route)
    return get_openapi(title="every route", version="1", routes=shown)


#: Not fuzzed while logged in: logout would end the session the run uses.
NOT_FUZZED = {("POST", "/admin/logout")}
ADMIN_EXAMPLES = int(os.environ.get("FUZZ_ADMIN_EXAMPLES", "15"))


def test_every_route_logged_in_finds_no_server_error(
    config_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = open_project(config_path, monkeypatch)
    try:
        app = create_app(services)
        with TestClient(app, follow_redirects=False) as client:
            token = login(client)
            cookie = client.cookies.get("nl_admin", path="/admin")
        schema = schemathesis.openapi.from_dict(every_route_schema(app))
        schema.app = app
        operations = [result.ok() for result in schema.get_all_operations()]
        labels = {op.label for op in operations}
        assert {
            "POST /admin/issues/{slug}/schedule",
            "GET /admin/subscribers/{subscriber_id}",
            "POST /webhooks/sendgrid",
            "POST /subscribe",
        } <= labels, labels
        for operation in operations:
            if (operation.method.upper(), operation.path) in NOT_FUZZED:
                continue

            @settings(
                max_examples=ADMIN_EXAMPLES,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                database=None,
            )
            @given(case=operation.as_strategy())
            def run(case: Any) -> None:
                if isinstance(case.body, dict) and "csrf_token" in case.body:
                    case.body["csrf_token"] = token  # past the CSRF check, into the route
                case.call_and_validate(
                    checks=[not_a_server_error], cookies={"nl_admin": cookie or ""}
                )

            run()
        with TestClient(app, follow_redirects=False) as client:
            client.cookies.set("nl_admin", cookie or "", path="/admin")
            assert client.get("/admin/issues").status_code == 200  # still logged in all along
    finally:
        services.close()
