"""``newsletter send``, ``sends list|show|resume``, ``stats`` and ``worker`` over a real project."""

from __future__ import annotations

import json
import mailbox
from datetime import datetime, timedelta
from email import message_from_bytes
from email.policy import default
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from newsletter import db
from newsletter.cli import app
from newsletter.delivery import RunOptions, resume_send, start_send, store
from newsletter.delivery.emulator import Emulator, Fault
from newsletter.delivery.models import Delivery, Send, SendBatch
from newsletter.delivery.reports import sending_seconds
from newsletter.delivery.retry import RetryPolicy
from newsletter.errors import ConfigError, DeliveryError
from newsletter.services import Services
from newsletter.web.admin import actions as admin_actions
from tests.fixtures.delivery import (
    RecordingSleep,
    add_audience,
    sendgrid_backend,
    with_delivery,
)

runner = CliRunner()

ISSUE = """---
title: "배달 시험 / Delivery test"
date: 2026-01-05 09:00:00 +0900
newsletter: weekly
preheader: "짧은 미리보기"
---
## 이번 주

안녕하세요. 배달 엔진을 시험하는 글입니다.
A short paragraph in English, with a [link](https://example.org/).
"""


def invoke(config_path: Path, *args: str) -> tuple[int, str, BaseException | None]:
    result = runner.invoke(app, ["--config", str(config_path), *args])
    return result.exit_code, result.stdout, result.exception


@pytest.fixture
def issue(config_path: Path) -> str:
    (config_path.parent / "issues" / "2026-01-05-delivery-test.md").write_text(ISSUE, "utf-8")
    return "delivery-test"


def _outbox(services: Services) -> list[bytes]:
    box = mailbox.Maildir(services.settings.path(services.settings.delivery.outbox_dir))
    return [box.get_bytes(key) for key in box.iterkeys()]


def test_dry_run_counts_the_audience_and_sends_nothing(
    services: Services, config_path: Path, issue: str
) -> None:
    add_audience(services, 4)
    code, out, exc = invoke(config_path, "send", issue, "--dry-run", "--json")
    assert code == 0, exc
    plan = json.loads(out)
    assert plan["audience"] == 4 and plan["existing_send"] is None
    assert _outbox(services) == []


def test_test_send_goes_only_to_the_given_address_and_skips_the_ledger(
    services: Services, config_path: Path, issue: str
) -> None:
    add_audience(services, 3)
    code, _, exc = invoke(config_path, "send", issue, "--test", "editor@example.net")
    assert code == 0, exc
    (raw,) = _outbox(services)
    message = message_from_bytes(raw, policy=default)
    assert message["Subject"].startswith("[테스트] ")
    assert message["To"] == "editor@example.net"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    with services.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Send)) == 0


def test_send_now_then_list_show_and_stats(
    services: Services, config_path: Path, issue: str
) -> None:
    add_audience(services, 5)
    code, out, exc = invoke(config_path, "send", issue, "--now")
    assert code == 0, exc
    assert "sent" in out
    messages = [message_from_bytes(raw, policy=default) for raw in _outbox(services)]
    assert len(messages) == 5
    html = messages[0].get_body(preferencelist=("html",))
    assert html is not None and "%%NL" not in html.get_content()  # every marker filled

    code, out, _ = invoke(config_path, "sends", "list", "--json")
    (listed,) = json.loads(out)
    assert listed["status"] == "sent" and listed["counts"]["accepted"] == 5
    code, out, _ = invoke(config_path, "sends", "show", str(listed["send_id"]))
    assert code == 0 and "accepted 5" in out
    code, out, _ = invoke(config_path, "stats", issue, "--json")
    assert json.loads(out)[0]["total"] == 5
    code, out, _ = invoke(config_path, "send", issue, "--now")
    assert "nothing sent now" in out and len(_outbox(services)) == 5


def test_send_needs_exactly_one_mode(config_path: Path, issue: str) -> None:
    code, _, exc = invoke(config_path, "send", issue)
    assert code != 0 and isinstance(exc, DeliveryError)


def test_worker_refuses_sqlite_with_a_reason(services: Services, config_path: Path) -> None:
    if services.engine.dialect.name != "sqlite":
        pytest.skip("SQLite-specific")
    code, _, exc = invoke(config_path, "worker")
    assert code != 0 and isinstance(exc, ConfigError)
    assert "PostgreSQL" in str(exc)


def _issue_status(services: Services, slug: str) -> str:
    from newsletter.models import Issue

    with services.sessions() as session:
        return session.scalars(select(Issue.status).where(Issue.slug == slug)).one()


def test_send_now_moves_the_issue_to_sent_without_a_scheduler(
    services: Services, config_path: Path, issue: str
) -> None:
    add_audience(services, 3)
    assert invoke(config_path, "issues", "sync")[0] == 0
    assert _issue_status(services, issue) == "scheduled"
    code, _, exc = invoke(config_path, "send", issue, "--now")
    assert code == 0, exc
    assert _issue_status(services, issue) == "sent"


def test_cancelling_a_send_cancels_its_issue(
    services: Services, config_path: Path, issue: str
) -> None:
    from newsletter.delivery import cancel_send, create_send

    assert invoke(config_path, "issues", "sync")[0] == 0
    add_audience(services, 2)
    send_id = create_send(services, issue)
    cancel_send(services, send_id)
    assert _issue_status(services, issue) == "cancelled"


def test_a_draft_is_refused_but_its_test_copy_goes(
    services: Services, config_path: Path, issue: str
) -> None:
    path = config_path.parent / "issues" / "2026-01-05-delivery-test.md"
    path.write_text(ISSUE.replace("---\ntitle:", "---\ndraft: true\ntitle:", 1), "utf-8")
    add_audience(services, 2)
    code, _, exc = invoke(config_path, "send", issue, "--now")
    assert code != 0 and isinstance(exc, DeliveryError) and "draft" in str(exc)
    assert _outbox(services) == []
    with services.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Send)) == 0
    code, _, exc = invoke(config_path, "send", issue, "--test", "editor@example.org")
    assert code == 0, exc
    assert len(_outbox(services)) == 1


def _send_that_waited_an_hour(services: Services, emulator: Emulator, issue: str) -> int:
    """40 readers: 20 sent, then paused an hour (the first run shifted back), then resumed."""
    add_audience(services, 40)
    emulator.queue(Fault("none"), Fault("none"), Fault("500"))
    policy = RetryPolicy(max_attempts=1, base_delay=1, max_delay=1, sleep=RecordingSleep())
    options = RunOptions(backend=sendgrid_backend(emulator), policy=policy, concurrency=1)
    first = start_send(with_delivery(services, batch_size=10), issue, options=options)
    assert first.status == "paused" and first.counts["accepted"] == 20
    hour = timedelta(hours=1)
    with db.transaction(services.sessions) as session:
        for send in session.scalars(select(Send)):
            send.started_at = send.started_at and send.started_at - hour
        for batch in session.scalars(select(SendBatch)):
            batch.started_at, batch.finished_at = batch.started_at - hour, batch.finished_at - hour
        for row in session.scalars(select(Delivery).where(Delivery.updated_at.is_not(None))):
            row.updated_at = row.updated_at and row.updated_at - hour
    result = resume_send(services, first.send_id)
    assert result.status == "sent" and result.counts["accepted"] == 40
    return first.send_id


def test_sends_show_rates_over_the_time_spent_sending_not_the_wait(
    services: Services, config_path: Path, emulator: Emulator, issue: str
) -> None:
    # Issue 11 point 14: the rate divided by the time since the first claim, pauses and all.
    send_id = _send_that_waited_an_hour(services, emulator, issue)
    code, out, exc = invoke(config_path, "sends", "show", str(send_id), "--json")
    assert code == 0, exc
    report = json.loads(out)
    assert report["status"] == "sent" and report["counts"]["accepted"] == 40
    with services.sessions() as session:
        spans = store.batch_spans(session, send_id)
    busy = sending_seconds(spans)
    # Three batches before the pause (one released), one after it; the hour is not counted.
    assert len(spans) == 4 and 0 < busy < 600
    assert report["rate_per_second"] == round(40 / busy, 1)
    assert report["rate_per_second"] > 40 / 600  # the old rule gave 40 / (an hour and more)
    code, out, _ = invoke(config_path, "sends", "show", str(send_id))
    assert f"rate: {report['rate_per_second']}/s" in out


def test_the_admin_send_page_rates_over_the_time_spent_sending_too(
    services: Services, emulator: Emulator, issue: str
) -> None:
    send_id = _send_that_waited_an_hour(services, emulator, issue)
    report = admin_actions.send_report(services, send_id)
    with services.sessions() as session:
        busy = sending_seconds(store.batch_spans(session, send_id))
    assert report.rate_per_s == round(40 / busy, 1) and report.rate_per_s > 40 / 600


def test_sending_seconds_counts_overlapping_batches_once() -> None:
    t0 = datetime(2026, 1, 5, 9, 0, 0)
    s = timedelta(seconds=1)
    spans = [(t0, t0 + 2 * s), (t0 + s, t0 + 3 * s), (t0 + 10 * s, t0 + 11 * s)]
    assert sending_seconds(spans) == 4.0  # [0, 3] and [10, 11]; the gap is no sending time
    assert sending_seconds([]) == 0.0
