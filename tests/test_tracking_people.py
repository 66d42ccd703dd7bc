"""Only people counted: a tracked issue to Naver, Daum, Hanmail, Gmail and Outlook readers,
a person's click, a scanner's HEAD-then-GET of every link, a trap hit; by provider."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from newsletter.cli import app as cli_app
from newsletter.tracking.models import Hit
from newsletter.tracking.report import engagement_csv, engagement_for_issue
from tests.tracking_support import (
    READERS,
    Tracked,
    app_client,
    delivered,
    flush,
    path_of,
    send_issue,
    tracked_links,
)

pytestmark = pytest.mark.db
BROWSER = {
    "user-agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15"
    " (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
}
# A gateway that poses as a desktop browser: only its behaviour gives it away.
POSING = {"user-agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/126.0 Safari/537.36"}


@pytest.mark.parametrize("mode", ["per_reader", "aggregate"])
def test_only_the_person_is_counted_under_their_provider(tracked: Tracked, mode: str) -> None:
    services = tracked(tracking=mode)
    send_issue(services)
    naver, daum, hanmail, gmail, outlook = (
        [path_of(u) for u in tracked_links(delivered(services, email))] for email in READERS
    )
    with app_client(services) as client:
        # A person on Naver reads, clicks one link, later another.
        assert client.get(naver[0], headers=BROWSER).status_code == 302
        # A security gateway at Daum: HEAD then GET of every link (trap included), at once.
        for path in daum:
            assert client.head(path, headers=POSING).status_code == 302
            assert client.get(path, headers=POSING).status_code == 302
        # Something at Hanmail follows the hidden trap link, and a link next to it.
        client.get(hanmail[-1], headers=POSING)
        client.get(hanmail[1], headers=POSING)
        # A known scanner's agent at Gmail; a link preview prefetch at Outlook.
        client.get(gmail[0], headers={"user-agent": "Mozilla/5.0 (compatible; Barracuda)"})
        client.get(outlook[1], headers={**BROWSER, "sec-purpose": "prefetch"})
        flush(client)
        # The Outlook reader then clicks for real.
        client.get(outlook[1], headers=BROWSER)
    report = engagement_for_issue(services, "hello")
    assert report.delivered == 5
    assert report.clickers == 2 and report.click_rate == 0.4
    by_provider = {p.provider: (p.delivered, p.clickers) for p in report.providers}
    assert by_provider == {
        "gmail": (1, 0),
        "naver": (1, 1),
        "daum": (2, 0),
        "outlook": (1, 1),
        "icloud": (0, 0),
        "other": (0, 0),
    }
    reasons = report.machine_reasons
    # Daum's five HEADs (the one on the trap counts as trap), three trap hits in all.
    assert reasons["head"] == 4 and reasons["trap"] == 3
    assert reasons["agent:Barracuda"] == 1 and reasons["prefetch"] == 1
    windowed = ("after-head", "trap-window", "burst")
    # Daum's GETs of the four links, Hanmail's link next to the trap.
    assert sum(reasons.get(reason, 0) for reason in windowed) == 4 + 1
    assert report.machine_hits == 10 + 2 + 1 + 1
    first = next(link for link in report.links if link.index == 2)
    assert first.clickers == 1 and first.machine_hits >= 3
    with services.sessions() as session:
        stored = session.execute(select(Hit.subscriber_id, Hit.delivery_id)).all()
    if mode == "aggregate":  # no subscriber (nor ledger row) with any hit
        assert stored and all(row == (None, None) for row in stored)
    else:
        assert all(row[0] is not None and row[1] is not None for row in stored)
    csv_text = engagement_csv(report)
    assert "provider,Naver,1,1,1.0" in csv_text


def test_a_trap_hit_later_turns_earlier_hits_of_that_email_into_machine(tracked: Tracked) -> None:
    services = tracked(tracking="per_reader")
    send_issue(services, readers=READERS[:1])
    links = [path_of(u) for u in tracked_links(delivered(services, READERS[0]))]
    with app_client(services) as client:
        client.get(links[0], headers=POSING)
        flush(client)
        assert engagement_for_issue(services, "hello").clickers == 1
        client.get(links[-1], headers=POSING)  # the trap, in the next batch
        flush(client)
    report = engagement_for_issue(services, "hello")
    assert report.clickers == 0
    assert report.machine_reasons == {"trap": 1, "trap-window": 1}


def test_hits_are_written_by_the_lifespan_at_shutdown(tracked: Tracked) -> None:
    services = tracked(tracking="aggregate")
    send_issue(services, readers=READERS[:1])
    link = path_of(tracked_links(delivered(services, READERS[0]))[0])
    with app_client(services) as client:
        client.get(link, headers=BROWSER)
    assert engagement_for_issue(services, "hello").clickers == 1


def test_stats_command_prints_people_and_machines_apart(tracked: Tracked, tmp_path: Path) -> None:
    services = tracked(tracking="per_reader")
    send_issue(services, readers=READERS[:2])
    naver = [path_of(u) for u in tracked_links(delivered(services, READERS[0]))]
    with app_client(services) as client:
        client.get(naver[0], headers=BROWSER)
        client.head(naver[0], headers=BROWSER)
    runner = CliRunner()
    config = str(tmp_path / "config.yaml")
    result = runner.invoke(cli_app, ["--config", config, "stats", "hello", "--json"])
    assert result.exit_code == 0, result.output
    (data,) = json.loads(result.stdout)
    engagement = data["engagement"]
    assert engagement["clickers"] == 1 and engagement["machine_reasons"] == {"head": 1}
    naver_row = next(p for p in engagement["providers"] if p["provider"] == "naver")
    assert naver_row == {
        "provider": "naver",
        "name": "Naver",
        "delivered": 1,
        "clickers": 1,
        "click_rate": 1.0,
    }
    text = runner.invoke(cli_app, ["--config", config, "stats", "hello"]).stdout
    assert "people who clicked: 1 of 2 delivered (50.0%)" in text
    assert "Naver: 1 of 1" in text and "head 1" in text
    csv_out = runner.invoke(cli_app, ["--config", config, "stats", "hello", "--csv"]).stdout
    assert csv_out.startswith("section,key,delivered")
