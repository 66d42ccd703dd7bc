"""Property-based runs over the subscriber pages: no input makes the app answer 5xx.

schemathesis generates requests from the app's own OpenAPI schema (bad tokens, odd form
values); a second run posts generated forms to links with valid tokens, which random
paths would never reach.
"""

from __future__ import annotations

import re
from typing import Any

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

from newsletter.services import Services
from newsletter.web import create_app
from tests.fixtures.web import add_subscriber, token_url

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
