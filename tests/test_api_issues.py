"""/api/v1 issues, sends and stats over a real project: schedule, cancel, test, counts."""

from __future__ import annotations

from fastapi.testclient import TestClient

from newsletter.catalog import sync_issues
from newsletter.delivery import start_send
from newsletter.services import Services
from tests.fixtures.delivery import add_audience
from tests.fixtures.issues import WriteIssue
from tests.fixtures.web import Outbox


def test_issues_schedule_cancel_and_test_send(
    api: TestClient, services: Services, write_issue: WriteIssue, outbox: Outbox
) -> None:
    write_issue("2099-01-05-future.md", date="2099-01-05 09:00 +0900", newsletter="weekly")
    sync_issues(services)
    [listed] = api.get("/api/v1/issues").json()
    assert listed["slug"] == "future" and listed["status"] == "scheduled"
    assert api.get("/api/v1/issues/nope").status_code == 404
    cancelled = api.post("/api/v1/issues/future/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    moved = api.post("/api/v1/issues/future/schedule", json={"at": "2099-02-01T09:00"})
    assert moved.status_code == 200, moved.text
    assert moved.json()["overridden"] and moved.json()["send_at"].startswith("2099-02-01T00:00")
    past = api.post("/api/v1/issues/future/schedule", json={"at": "2001-01-01T09:00Z"})
    assert past.status_code == 409 and "past" in past.json()["detail"]
    test = api.post("/api/v1/issues/future/test", json={"to": ["editor@example.org"]})
    assert test.status_code == 200 and test.json()["sent_to"] == ["editor@example.org"]
    assert outbox.wait_for("editor@example.org")
    bad = api.post("/api/v1/issues/future/test", json={"to": ["ok@example.org", "nope"]})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "to.1"


def test_sends_with_counts_and_stats(
    api: TestClient, services: Services, write_issue: WriteIssue
) -> None:
    add_audience(services, 3)
    write_issue("2026-01-05-now.md", date="2026-01-05 09:00 +0900", newsletter="weekly")
    sync_issues(services)
    result = start_send(services, "now")
    [send] = api.get("/api/v1/sends").json()
    assert send["id"] == result.send_id and send["status"] == "sent"
    one = api.get(f"/api/v1/sends/{result.send_id}").json()
    assert one["counts"]["accepted"] == 3 and one["total"] == 3
    assert api.get("/api/v1/sends/999999").status_code == 404
    stats = api.get("/api/v1/stats").json()
    assert stats["newsletters"]["weekly"]["active"] == 3 and stats["sends"] == {"sent": 1}
    newsletters = {n["id"]: n for n in api.get("/api/v1/newsletters").json()}
    assert newsletters["weekly"]["default"] and newsletters["weekly"]["counts"]["active"] == 3
