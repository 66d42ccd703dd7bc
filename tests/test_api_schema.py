"""schemathesis over /api/v1 with a key: no 5xx, every answer matches the API's own schema.

Each operation gets a bounded number of generated requests (valid and invalid), sent with
an all-scopes key to the app, over a project with a subscriber, an issue and a send.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from newsletter.catalog import sync_issues
from newsletter.services import Services
from newsletter.web import create_app
from tests.fixtures.api import MakeKey, bearer
from tests.fixtures.issues import WriteIssue
from tests.fixtures.web import add_subscriber

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def test_schemathesis_finds_no_error_and_no_schema_mismatch(
    services: Services, api_key: MakeKey, write_issue: WriteIssue
) -> None:
    add_subscriber(services, "known@example.org")
    write_issue("2099-01-05-future.md", date="2099-01-05 09:00 +0900", newsletter="weekly")
    sync_issues(services)
    headers = bearer(api_key())
    app = create_app(services)
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 13, [op.label for op in operations]
    for operation in operations:

        @settings(
            max_examples=15,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            case.call_and_validate(headers=headers, checks=CHECKS)

        run()
