"""A/B sends end to end: the sample split between subjects, people's clicks through real
/l/ tokens (and opens through /o/) decide after a short real wait, the rest gets the winner
exactly once; no data → the first subject; tracking off → the first subject at once.

The first test waits in real time (5 s: the sample must be out before the wait ends, on a
busy machine too); the others move the engine's clock by hand instead."""

from __future__ import annotations

import json
import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from newsletter.abtest import service as abtest
from newsletter.api import keys
from newsletter.api.scopes import SCOPES
from newsletter.cli import app as cli_app
from newsletter.db import transaction
from newsletter.delivery import engine, start_send
from newsletter.delivery.reports import send_report
from newsletter.services import Services
from newsletter.web import create_app
from subscribers.db import utcnow
from tests.abtest_support import (
    BROWSER,
    SUBJECTS,
    ab_row,
    admin_client,
    click,
    first_link,
    inbox,
    ledger,
    one_each,
    open_pixel,
    wait_until_due,
    write_ab_issue,
)
from tests.admin_support import PASSWORD
from tests.fixtures.api import bearer
from tests.fixtures.delivery import add_audience
from tests.timing_support import patch_clock
from tests.tracking_support import Tracked, app_client, flush

pytestmark = pytest.mark.db
SCANNER = {"user-agent": "Mozilla/5.0 (compatible; Barracuda Sentinel)"}


def _sample_by_variant(services: Services, send_id: int) -> dict[int, list[str]]:
    groups: dict[int, list[str]] = {}
    for email, (variant, in_sample, _status) in sorted(ledger(services, send_id).items()):
        if in_sample:
            assert variant is not None
            groups.setdefault(variant, []).append(email)
    return groups


@pytest.mark.parametrize("mode", ["per_reader", "aggregate"])
def test_people_clicking_b_make_b_win_and_the_rest_get_b_once(
    tracked: Tracked, mode: str, tmp_path: Path
) -> None:
    services = tracked(tracking=mode, opens=True)
    add_audience(services, 21, domain="gmail.com")
    write_ab_issue(services, sample="40%", wait="5s")

    first = start_send(services, "hello")
    # The sample (40% of 21, rounded up: 9) went out, split 5/4; the rest waits.
    assert first.status == "waiting", first
    assert first.counts["accepted"] == 9 and first.counts["pending"] == 12
    groups = _sample_by_variant(services, first.send_id)
    assert sorted(len(g) for g in groups.values()) == [4, 5]
    messages = inbox(services)
    assert len(messages) == 9
    for variant, emails in groups.items():
        assert {str(messages[e][0]["Subject"]) for e in emails} == {SUBJECTS[variant]}
    a, b = groups[0], groups[1]
    with app_client(services) as client:
        # Two people on B click; one on A; a scanner follows every A reader's link
        # (machines never count, however many).
        assert click(client, messages[b[0]][0], headers=BROWSER) == 302
        assert click(client, messages[b[1]][0], headers=BROWSER) == 302
        assert click(client, messages[b[1]][0], headers=BROWSER) == 302  # the same person
        assert click(client, messages[a[0]][0], headers=BROWSER) == 302
        for email in a:
            client.head(first_link(messages[email][0]), headers=SCANNER)
            assert click(client, messages[email][0], headers=SCANNER) == 302
        # A's readers open more: opens only break a tie in clicks.
        for email in a:
            assert open_pixel(client, messages[email][0]) == 200
        flush(client)

    wait_until_due(services, first.send_id)
    rest = engine.take_over(services, first.send_id)
    assert rest is not None and rest.status == "sent", rest
    assert rest.counts["accepted"] == 21

    received = one_each(services, first.send_id)
    rows = ledger(services, first.send_id)
    rest_emails = [e for e, (_, in_sample, _) in rows.items() if not in_sample]
    assert len(rest_emails) == 12
    assert {received[e] for e in rest_emails} == {SUBJECTS[1]}
    row = ab_row(services, first.send_id)
    assert (row.winner, row.reason) == (1, "clicks")
    at_decision = json.loads(row.figures)
    assert [f["clickers"] for f in at_decision] == [1, 2]

    report = send_report(services, first.send_id)
    assert report.ab_test is not None
    assert [(v.subject, v.recipients, v.clickers) for v in report.ab_test.variants] == [
        (SUBJECTS[0], 5 if len(a) == 5 else 4, 1),
        (SUBJECTS[1], len(b), 2),
    ]
    assert report.ab_test.variants[1].click_rate == round(2 / len(b), 4)
    assert report.ab_test.rest is not None and report.ab_test.rest.recipients == 12
    assert report.ab_test.reason_text == "most people clicked"

    runner = CliRunner()
    config = ["--config", str(services.settings.base_dir / "config.yaml")]
    shown = runner.invoke(cli_app, [*config, "stats", "hello", "--json"])
    assert shown.exit_code == 0, shown.output
    ab = json.loads(shown.stdout)[0]["ab_test"]
    assert ab["winner"] == 1 and ab["reason"] == "clicks"
    assert ab["variants"][1]["clickers"] == 2 and ab["variants"][1]["subject"] == SUBJECTS[1]
    text = runner.invoke(cli_app, [*config, "sends", "show", str(first.send_id)]).stdout
    assert "winner: B (most people clicked)" in text
    assert f"B: {SUBJECTS[1]!r}: {len(b)} readers, 2 people clicked" in text


@pytest.mark.parametrize("mode", ["per_reader", "aggregate"])
def test_tied_clicks_are_broken_by_opens(
    tracked: Tracked, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = patch_clock(monkeypatch, utcnow())
    services = tracked(tracking=mode, opens=True)
    add_audience(services, 12, domain="naver.com")
    write_ab_issue(services, sample="8", wait="10m")
    first = start_send(services, "hello")
    assert first.status == "waiting"
    groups = _sample_by_variant(services, first.send_id)
    assert [len(groups[0]), len(groups[1])] == [4, 4]
    messages = inbox(services)
    with app_client(services) as client:
        click(client, messages[groups[0][0]][0], headers=BROWSER)
        click(client, messages[groups[1][0]][0], headers=BROWSER)
        for email in groups[1][:3]:
            open_pixel(client, messages[email][0])
        open_pixel(client, messages[groups[0][1]][0])
        flush(client)
    assert engine.abandoned_sends(services) == []
    clock.advance(timedelta(minutes=10))
    assert engine.take_over(services, first.send_id) is not None
    received = one_each(services, first.send_id)
    row = ab_row(services, first.send_id)
    assert (row.winner, row.reason) == (1, "opens")
    assert Counter(received.values())[SUBJECTS[1]] == 4 + 4


def test_no_data_sends_the_first_subject(tracked: Tracked, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = patch_clock(monkeypatch, utcnow())
    services = tracked(tracking="per_reader")
    add_audience(services, 10, domain="daum.net")
    write_ab_issue(services, sample="50%", wait="4h")
    first = start_send(services, "hello")
    assert first.status == "waiting" and first.counts["accepted"] == 5
    clock.advance(timedelta(hours=4))
    assert engine.take_over(services, first.send_id) is not None
    received = one_each(services, first.send_id)
    row = ab_row(services, first.send_id)
    assert (row.winner, row.reason) == (0, "no_data")
    rows = ledger(services, first.send_id)
    assert {received[e] for e, (_, s, _) in rows.items() if not s} == {SUBJECTS[0]}


def test_without_tracking_everyone_gets_the_first_subject_at_once(services: Services) -> None:
    add_audience(services, 7)
    write_ab_issue(services, sample="50%", wait="4h")
    result = start_send(services, "hello")
    assert result.status == "sent" and result.counts["accepted"] == 7
    assert set(one_each(services, result.send_id).values()) == {SUBJECTS[0]}
    row = ab_row(services, result.send_id)
    assert (row.winner, row.reason, row.sample_size) == (0, "tracking_off", 0)
    report = send_report(services, result.send_id)
    assert report.ab_test is not None and report.ab_test.rest is not None
    assert report.ab_test.rest.recipients == 7
    assert "tracking is off" in report.ab_test.reason_text


def test_the_dashboard_and_the_api_show_each_subject_and_the_verdict(
    tracked: Tracked, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSLETTER_ADMIN_PASSWORD", PASSWORD)
    clock = patch_clock(monkeypatch, utcnow())
    services = tracked(tracking="aggregate")
    add_audience(services, 10, domain="icloud.com")
    write_ab_issue(services, sample="4", wait="1h")
    first = start_send(services, "hello")
    groups = _sample_by_variant(services, first.send_id)
    messages = inbox(services)
    with app_client(services) as client:
        click(client, messages[groups[1][0]][0], headers=BROWSER)
        flush(client)
    with admin_client(services) as client:
        page = client.get(f"/admin/sends/{first.send_id}").text
    assert 'id="ab-test"' in page and SUBJECTS[1] in page
    assert '<p id="ab-verdict">' in page and 'class="winner"' not in page  # not decided yet

    clock.advance(timedelta(hours=1))
    assert engine.take_over(services, first.send_id) is not None
    with admin_client(services) as client:
        page = client.get(f"/admin/sends/{first.send_id}").text
    assert 'data-reason="clicks"' in page and "클릭한 사람이 가장 많음" in page
    row = re.search(r'<tr data-variant="1" class="winner">(.*?)</tr>', page)
    assert row is not None
    assert re.findall(r"<td>([^<]*)</td>", row[1])[2:5] == ["2", "2", "1"]
    assert re.search(r'<tr id="ab-rest">.*?<td>6</td>', page)

    with transaction(services.sessions) as session:
        secret = keys.create_key(session, "crm", scopes=SCOPES).secret
    with TestClient(create_app(services), base_url="https://news.example.org") as client:
        client.headers.update(bearer(secret))
        data = client.get(f"/api/v1/sends/{first.send_id}/engagement").json()
    ab = data["ab_test"]
    assert ab["winner"] == 1 and ab["reason"] == "clicks" and ab["subjects"] == list(SUBJECTS)
    assert [(v["recipients"], v["clickers"]) for v in ab["variants"]] == [(2, 0), (2, 1)]
    assert ab["rest"]["recipients"] == 6 and ab["rest"]["subject"] == SUBJECTS[1]
    assert data["clickers"] == 1


def test_dry_run_and_test_copies_show_every_subject(services: Services) -> None:
    add_audience(services, 30)
    write_ab_issue(services, sample="20%", wait="4h")
    runner = CliRunner()
    config = ["--config", str(services.settings.base_dir / "config.yaml")]
    planned = runner.invoke(cli_app, [*config, "send", "hello", "--dry-run", "--json"])
    assert planned.exit_code == 0, planned.output
    plan = json.loads(planned.stdout)
    assert plan["subjects"] == list(SUBJECTS) and plan["sample_size"] == 6
    assert plan["audience"] == 30 and plan["subject"] == SUBJECTS[0]
    tested = runner.invoke(cli_app, [*config, "send", "hello", "--test", "editor@example.org"])
    assert tested.exit_code == 0, tested.output
    copies = inbox(services)["editor@example.org"]
    assert sorted(str(m["Subject"]) for m in copies) == sorted(f"[테스트] {s}" for s in SUBJECTS)


def test_a_whole_audience_sample_is_decided_once_when_its_wait_has_passed(
    tracked: Tracked, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = patch_clock(monkeypatch, utcnow())
    monkeypatch.setattr("subscribers.db.utcnow", clock)  # what the report reads
    services = tracked(tracking="per_reader")
    add_audience(services, 6, domain="gmail.com")
    write_ab_issue(services, sample="100%", wait="1h")
    result = start_send(services, "hello")
    assert result.status == "sent"  # no rest: nothing waits
    groups = _sample_by_variant(services, result.send_id)
    messages = inbox(services)
    with app_client(services) as client:
        click(client, messages[groups[1][0]][0], headers=BROWSER)
        flush(client)
    early = abtest.report(services, result.send_id)
    assert early is not None and early.winner is None  # the wait has not passed
    clock.advance(timedelta(hours=1))
    # Four readers of the report at once: one decision, the same answer for all.
    with ThreadPoolExecutor(4) as pool:
        reports = list(pool.map(lambda _: abtest.report(services, result.send_id), range(4)))
    assert {(r.winner, r.reason) for r in reports if r} == {(1, "clicks")}
    decided = ab_row(services, result.send_id).decided_at
    assert abtest.report(services, result.send_id) is not None
    assert ab_row(services, result.send_id).decided_at == decided
