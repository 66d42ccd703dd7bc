"""Outgoing webhooks through real parts: triggers fill the outbox in the change's own
transaction, the relay and dispatcher POST signed messages to a real HTTP receiver that
verifies them with the ``standardwebhooks`` package."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from newsletter.catalog import sync_issues
from newsletter.cli import app as cli
from newsletter.db import transaction
from newsletter.delivery import start_send
from newsletter.outgoing_webhooks import signing
from newsletter.outgoing_webhooks.dispatch import deliver_due
from newsletter.outgoing_webhooks.models import WebhookOutbox
from newsletter.outgoing_webhooks.relay import relay
from newsletter.outgoing_webhooks.runner import WebhookRunner
from newsletter.outgoing_webhooks.service import add_endpoint
from newsletter.services import Services
from newsletter.web import create_app
from subscribers import service
from subscribers.db import utcnow
from tests.fixtures.api import MakeKey
from tests.fixtures.delivery import add_audience
from tests.fixtures.issues import WriteIssue
from tests.fixtures.receiver import Receiver, dumps, free_port
from tests.fixtures.web import add_subscriber, token_url

SUBSCRIBER_EVENTS = (
    "subscriber.created,subscriber.confirmed,subscriber.unsubscribed,"
    "subscriber.bounced,subscriber.complained,subscriber.erased"
)
runner = CliRunner()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started = Receiver().start()
    yield started
    started.stop()


def _endpoint(services: Services, receiver: Receiver, events: str = SUBSCRIBER_EVENTS) -> int:
    with transaction(services.sessions) as session:
        new = add_endpoint(session, receiver.url, events=[events])
    receiver.secret = new.secret
    return new.id


def _outbox_size(services: Services) -> int:
    with services.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(WebhookOutbox)) or 0)


def _pump(services: Services, *, at_offset: timedelta = timedelta(0)) -> None:
    with httpx.Client(timeout=5) as client:
        relay(services)
        while deliver_due(services, client, now=utcnow() + at_offset):
            pass


def test_signature_verifies_with_the_standardwebhooks_package(
    services: Services, receiver: Receiver, api: TestClient
) -> None:
    _endpoint(services, receiver)
    created = api.post("/api/v1/subscribers", json={"email": "hook@example.org"}).json()
    _pump(services)
    assert receiver.refused == [] and receiver.types() == ["subscriber.created"]
    [event] = receiver.events
    assert event["data"]["subscriber"]["email"] == "hook@example.org"
    assert event["data"]["subscriber"]["id"] == created["subscriber"]["id"]
    assert event["data"]["newsletter"] == "weekly" and event["data"]["confirmed"] is False
    consent = {"source": "signed paper form"}
    api.post(
        "/api/v1/subscribers",
        json={"email": "c@example.org", "confirmed": True, "consent": consent},
    )
    _pump(services)
    assert receiver.events[-1]["data"]["confirmed"] is True
    body = json.dumps({"x": 1}).encode()
    headers = signing.headers(
        receiver.secret, msg_id="msg_1", timestamp=int(time.time()), body=body
    )
    headers["webhook-signature"] = headers["webhook-signature"][:-4] + "AAA="
    assert receiver.take(body, headers) == 400  # the receiver refuses a bad signature


def test_the_outbox_row_is_written_in_the_changes_own_transaction(
    services: Services, receiver: Receiver
) -> None:
    add_subscriber(services, "before@example.org")
    assert _outbox_size(services) == 0  # no endpoint: nothing is queued
    _endpoint(services, receiver)
    with pytest.raises(RuntimeError), transaction(services.sessions) as session:
        service.subscribe(session, email="gone@example.org", newsletters=["weekly"])
        raise RuntimeError("the change fails after the event was written")
    assert _outbox_size(services) == 0
    with transaction(services.sessions) as session:
        service.subscribe(session, email="kept@example.org", newsletters=["weekly"])
    assert _outbox_size(services) == 1  # committed with the change, before any relay


def test_receiver_down_then_up_gets_every_event_once_per_id(
    services: Services, api: TestClient
) -> None:
    receiver = Receiver(port=free_port())
    _endpoint(services, receiver)  # the receiver is not running
    person = api.post("/api/v1/subscribers", json={"email": "r@example.org"}).json()
    person_id = person["subscriber"]["id"]
    with transaction(services.sessions) as session:
        service.confirm(session, subscriber_id=person_id)
    api.post(f"/api/v1/subscribers/{person_id}/unsubscribe", json={})
    other = add_subscriber(services, "o@example.org")
    api.post(
        token_url(services, "unsubscribe", other, "weekly"), data={"List-Unsubscribe": "One-Click"}
    )
    api.delete(f"/api/v1/subscribers/{other}")
    _pump(services)  # every attempt is refused: nobody listens
    log = runner.invoke(
        cli,
        [
            "--config",
            str(services.settings.base_dir / "config.yaml"),
            "webhooks",
            "deliveries",
            "1",
            "--json",
        ],
    )
    entries = json.loads(log.stdout)
    assert entries and all(e["status"] == "pending" and e["attempts"] == 1 for e in entries)
    assert "ConnectError" in entries[0]["log"][0]["error"]
    receiver.start()
    try:
        _pump(services, at_offset=timedelta(seconds=6))
        _pump(services, at_offset=timedelta(minutes=10))  # nothing is sent twice
    finally:
        receiver.stop()
    assert receiver.refused == []
    assert set(receiver.ids.values()) == {1}, dumps(receiver.ids)
    assert sorted(receiver.types()) == sorted(
        [
            "subscriber.created",  # r, weekly, pending
            "subscriber.confirmed",
            "subscriber.unsubscribed",  # r
            "subscriber.created",  # o, weekly and letters, confirmed at once (admin)
            "subscriber.created",
            "subscriber.unsubscribed",  # o, one-click (set-based SQL)
            "subscriber.erased",  # o (erasure ends letters without an unsubscribe event)
        ]
    ), dumps(receiver.types())
    erased = next(e for e in receiver.events if e["type"] == "subscriber.erased")
    assert erased["data"]["subscriber"]["email"] is None  # the address never leaves


def test_send_started_and_finished(
    services: Services, receiver: Receiver, write_issue: WriteIssue
) -> None:
    _endpoint(services, receiver, "send.started,send.finished")
    add_audience(services, 2)
    write_issue("2026-01-05-now.md", date="2026-01-05 09:00 +0900", newsletter="weekly")
    sync_issues(services)
    result = start_send(services, "now")
    _pump(services)
    # Sent side by side: a receiver gets no order guarantee (it has the timestamps).
    assert sorted(receiver.types()) == ["send.finished", "send.started"]
    finished = next(e for e in receiver.events if e["type"] == "send.finished")["data"]["send"]
    assert finished["id"] == result.send_id and finished["status"] == "sent"
    assert finished["counts"]["accepted"] == 2


def test_an_endpoint_failing_for_a_day_is_disabled_and_an_owner_enables_it(
    services: Services, receiver: Receiver, config_path: Path
) -> None:
    endpoint = _endpoint(services, receiver)
    receiver.status = 500
    add_subscriber(services, "f@example.org", ("weekly",))
    offset = timedelta(0)
    for wait in (0, 6, 301, 1801, 7201, 18001, 36001, 36001, 36001):
        offset += timedelta(seconds=wait)
        _pump(services, at_offset=offset)
    config = ["--config", str(config_path)]
    listed = json.loads(runner.invoke(cli, [*config, "webhooks", "list", "--json"]).stdout)
    assert listed[0]["enabled"] is False and "failed attempts" in listed[0]["disabled_reason"]
    log = json.loads(
        runner.invoke(cli, [*config, "webhooks", "deliveries", str(endpoint), "--json"]).stdout
    )
    assert {e["status"] for e in log} == {"failed"}
    assert all(len(e["log"]) == e["attempts"] >= 8 for e in log)  # retried for over 24 h
    receiver.status = 204
    add_subscriber(services, "g@example.org", ("weekly",))
    _pump(services, at_offset=offset)
    assert receiver.events == []  # disabled: nothing goes
    assert runner.invoke(cli, [*config, "webhooks", "enable", str(endpoint)]).exit_code == 0
    _pump(services, at_offset=offset)
    assert receiver.types() == ["subscriber.created"]


def test_the_background_loop_delivers(services: Services, receiver: Receiver) -> None:
    _endpoint(services, receiver, "subscriber.created")
    loop = WebhookRunner(services, idle=0.05).start()
    try:
        add_subscriber(services, "loop@example.org", ("weekly",))
        deadline = time.monotonic() + 20
        while not receiver.events and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        loop.stop()
    assert receiver.types() == ["subscriber.created"]


def test_cli_add_shows_the_secret_once_and_refuses_bad_input(config_path: Path) -> None:
    config = ["--config", str(config_path)]
    added = runner.invoke(
        cli,
        [
            *config,
            "webhooks",
            "add",
            "https://crm.example.org/in",
            "--events",
            "send.finished",
            "--json",
        ],
    )
    assert added.exit_code == 0, added.output
    secret = json.loads(added.stdout)["secret"]
    assert secret.startswith("whsec_")
    assert secret not in runner.invoke(cli, [*config, "webhooks", "list", "--json"]).stdout
    for url, events in (("ftp://x", "send.finished"), ("https://x.org", "send.exploded")):
        bad = runner.invoke(cli, [*config, "webhooks", "add", url, "--events", events])
        assert bad.exit_code != 0
    assert runner.invoke(cli, [*config, "webhooks", "remove", "1"]).exit_code == 0
    assert json.loads(runner.invoke(cli, [*config, "webhooks", "list", "--json"]).stdout) == []


def test_serve_runs_the_loop_in_its_lifespan(
    services: Services, receiver: Receiver, api_key: MakeKey
) -> None:
    _endpoint(services, receiver, "subscriber.created")
    app = create_app(services, outgoing_webhooks=True)  # as `newsletter serve` builds it
    with TestClient(app, base_url=services.settings.site.url) as client:
        headers = {"Authorization": f"Bearer {api_key()}"}
        client.post("/api/v1/subscribers", json={"email": "s@example.org"}, headers=headers)
        deadline = time.monotonic() + 20
        while not receiver.events and time.monotonic() < deadline:
            time.sleep(0.05)
    assert receiver.types() == ["subscriber.created"]
