"""The sunset over a real history: sends through the engine, clicks through ``/l/`` (a
person's and a scanner's), readers who clicked, never clicked, or joined recently; the dry
run, one ask per episode, the grace, removal with the reason ``inactive``, resubscribing."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from newsletter.automations.sunset import service
from newsletter.cli import app as cli_app
from newsletter.db import transaction
from newsletter.services import Services
from subscribers import service as subscriptions
from subscribers.db import utcnow
from subscribers.models import ConsentRecord, Event
from subscribers.privacy import export_person
from tests.fixtures.web import add_subscriber, body_html, body_text, statuses
from tests.sunset_support import (
    SUNSET,
    age,
    asks_to,
    episodes,
    person_clicks,
    scanner_clicks,
    send,
)
from tests.tracking_support import Tracked, app_client, flush, with_tracking

pytestmark = pytest.mark.db


@dataclass
class History:
    """A project after five sends (one untracked) and the readers' clicks."""

    services: Services
    ids: dict[str, int]


READERS = {
    "clicker": "clicker@gmail.com",  # a person's click in the window's last issue
    "never": "never@naver.com",  # never clicked
    "scanned": "scanned@daum.net",  # only a gateway's HEAD+GET of every link
    "early": "early@outlook.com",  # clicked as a person, but before the window
    "recent": "recent@hanmail.net",  # joined after the window's first issue
}


def build_history(services: Services) -> History:
    """s0 tracked, s1 tracked, s2 untracked, s3 tracked, s4 tracked: the window of 3 is
    s1, s3, s4 (s2 gives no evidence)."""
    ids = {
        key: add_subscriber(services, email, ("weekly",))
        for key, email in READERS.items()
        if key != "recent"
    }
    with app_client(services) as client:
        send(services, "s0")
        person_clicks(client, services, READERS["early"], "s0")
        send(services, "s1")
        ids["recent"] = add_subscriber(services, READERS["recent"], ("weekly",))
        send(with_tracking(services, tracking="off"), "s2")
        send(services, "s3")
        send(services, "s4")
        for slug in ("s1", "s3", "s4"):
            scanner_clicks(client, services, READERS["scanned"], slug)
        person_clicks(client, services, READERS["clicker"], "s4")
        flush(client)
    return History(services, ids)


@pytest.fixture
def history(tracked: Tracked) -> History:
    return build_history(tracked(tracking="per_reader", sunset=SUNSET))


def emails(entries: list[service.Entry]) -> list[str]:
    return sorted(e.email for e in entries)


INACTIVE = sorted([READERS["never"], READERS["scanned"], READERS["early"]])


def test_dry_run_lists_exactly_the_inactive_and_changes_nothing(history: History) -> None:
    services = history.services
    (report,) = service.run_all(services, dry_run=True)
    assert report.window == ["s1", "s3", "s4"]
    assert emails(report.ask) == INACTIVE
    assert report.remove == []
    why = {e.email: e for e in report.ask}
    assert why[READERS["never"]].last_click is None
    assert why[READERS["scanned"]].last_click is None  # a machine's hits are no click
    assert why[READERS["early"]].last_click is not None  # the person's click on s0
    assert why[READERS["never"]].issues == ["s1", "s3", "s4"]
    for key in READERS:
        assert asks_to(services, READERS[key]) == []
        assert episodes(services, history.ids[key]) == []


def test_cli_dry_run_json(history: History) -> None:
    config = history.services.settings.base_dir / "config.yaml"
    result = CliRunner().invoke(cli_app, ["--config", str(config), "sunset", "--dry-run", "--json"])
    assert result.exit_code == 0, result.output
    (weekly,) = json.loads(result.output)["newsletters"]
    assert weekly["newsletter"] == "weekly" and weekly["dry_run"] is True
    assert sorted(e["email"] for e in weekly["ask"]) == INACTIVE
    assert weekly["remove"] == []
    text = CliRunner().invoke(cli_app, ["--config", str(config), "sunset", "--dry-run"])
    assert text.exit_code == 0, text.output
    assert "3 would be asked" in text.output and "last click: never" in text.output


def test_fewer_tracked_issues_than_asked_for_judges_nobody(tracked: Tracked) -> None:
    services = tracked(tracking="per_reader", sunset=SUNSET)
    add_subscriber(services, READERS["never"], ("weekly",))
    send(services, "s0")
    send(services, "s1")
    send(with_tracking(services, tracking="off"), "s2")  # no evidence: still two tracked
    (report,) = service.run_all(services)
    assert report.window == [] and report.ask == []
    assert asks_to(services, READERS["never"]) == []


def test_aggregate_sends_give_no_evidence(tracked: Tracked) -> None:
    services = tracked(tracking="per_reader", sunset=SUNSET)
    add_subscriber(services, READERS["never"], ("weekly",))
    for slug in ("s0", "s1", "s2"):
        send(with_tracking(services, tracking="aggregate"), slug)
    (report,) = service.run_all(services, dry_run=True)
    assert report.window == [] and report.ask == []


def test_ask_goes_once_per_episode(history: History) -> None:
    services = history.services
    first = service.run_all(services)
    second = service.run_all(services)
    assert emails(first[0].ask) == INACTIVE
    assert second[0].ask == [] and emails(second[0].waiting) == INACTIVE
    for email in INACTIVE:
        (ask,) = asks_to(services, email)
        assert "/keep/" in body_text(ask) and "/keep/" in body_html(ask)
    for key in ("clicker", "recent"):
        assert asks_to(services, READERS[key]) == []
    assert episodes(services, history.ids["never"]) == [(1, "asked")]


def test_the_ask_email(history: History) -> None:
    services = history.services
    service.run_all(services)
    (ask,) = asks_to(services, READERS["never"])
    assert ask["Subject"] == "[Test Letters] 계속 받아 보시겠어요?"
    assert "editor@example.org" in ask["From"]
    assert ask["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "/unsubscribe/" in ask["List-Unsubscribe"] and "<weekly." in ask["List-Id"]
    text = body_text(ask)
    assert "네, 계속 받을게요" in text and "최근 3번" in text
    assert '<html lang="ko"' in body_html(ask) or 'lang="ko"' in body_html(ask)


def test_grace_passing_removes_with_reason_inactive(history: History) -> None:
    services = history.services
    service.run_all(services)
    age(services, timedelta(days=13))  # asked 13 days ago: still waiting (grace 14d)
    (still,) = service.run_all(services)
    assert still.remove == [] and emails(still.waiting) == INACTIVE
    (dry,) = service.run_all(services, now=utcnow() + timedelta(days=2), dry_run=True)
    assert emails(dry.remove) == INACTIVE
    assert statuses(services, history.ids["never"]) == {"weekly": "active"}
    age(services, timedelta(days=2))
    (report,) = service.run_all(services)
    assert emails(report.remove) == INACTIVE
    never = history.ids["never"]
    assert statuses(services, never) == {"weekly": "unsubscribed"}
    assert statuses(services, history.ids["clicker"]) == {"weekly": "active"}
    assert episodes(services, never) == [(1, "removed")]
    with services.sessions() as session:
        (record,) = session.scalars(
            select(ConsentRecord).where(
                ConsentRecord.subscriber_id == never, ConsentRecord.reason != ""
            )
        )
        assert record.reason == "inactive" and record.newsletters == ["weekly"]
        assert record.source == "sunset"
        event = session.scalars(
            select(Event)
            .where(Event.subscriber_id == never, Event.kind == "unsubscribed")
            .order_by(Event.id.desc())
        ).first()
        assert event is not None and event.detail == {"reason": "inactive"}
        exported = export_person(session, subscriber_id=never)
    assert {"newsletters": ["weekly"], "reason": "inactive"}.items() <= next(
        c for c in exported["consent_records"] if c["reason"]
    ).items()


def test_a_human_click_on_a_newer_issue_ends_the_episode(history: History) -> None:
    services = history.services
    service.run_all(services)
    age(services, timedelta(days=15))
    with app_client(services) as client:
        send(services, "s5")
        person_clicks(client, services, READERS["scanned"], "s5")
        scanner_clicks(client, services, READERS["never"], "s5")  # a machine: no
        flush(client)
    (report,) = service.run_all(services)
    assert emails(report.clicked) == [READERS["scanned"]]
    assert emails(report.remove) == sorted([READERS["never"], READERS["early"]])
    assert statuses(services, history.ids["scanned"]) == {"weekly": "active"}
    assert episodes(services, history.ids["scanned"]) == [(1, "active")]


def test_resubscribing_works_and_starts_a_fresh_episode(history: History) -> None:
    services = history.services
    never = history.ids["never"]
    service.run_all(services)
    age(services, timedelta(days=15))
    service.run_all(services)
    assert statuses(services, never) == {"weekly": "unsubscribed"}
    with transaction(services.sessions) as session:
        assert subscriptions.resubscribe(session, subscriber_id=never, newsletter_id="weekly")
    assert statuses(services, never) == {"weekly": "active"}
    # The old window does not judge them again.
    (again,) = service.run_all(services)
    assert READERS["never"] not in emails(again.ask)
    # Three new tracked issues without a click: a new episode, a second ask.
    for slug in ("s5", "s6", "s7"):
        send(services, slug)
    (later,) = service.run_all(services)
    assert READERS["never"] in emails(later.ask)
    assert episodes(services, never) == [(1, "removed"), (2, "asked")]
    assert len(asks_to(services, READERS["never"])) == 2


def test_a_crash_mid_ask_never_sends_a_second(
    history: History, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = history.services

    class Died(BaseException):
        """The process dies after the claim was committed, before the email went out."""

    def die(*_args: object, **_kwargs: object) -> None:
        raise Died

    monkeypatch.setattr(service, "send_ask", die)
    with pytest.raises(Died):
        service.run_all(services)
    monkeypatch.undo()
    (report,) = service.run_all(services)
    first = min(history.ids[k] for k in ("never", "scanned", "early"))
    assert episodes(services, first) == [(1, "asking")]
    assert [e.subscriber_id for e in report.unknown] == [first]
    assert first not in [e.subscriber_id for e in report.ask]
    age(services, timedelta(days=30))
    (later,) = service.run_all(services)
    assert first not in [e.subscriber_id for e in later.remove]  # never removed on an unknown
    assert episodes(services, first) == [(1, "asking")]
    # A person's click still ends the unknown episode.
    email = next(e for k, e in READERS.items() if history.ids[k] == first)
    with app_client(services) as client:
        send(services, "s5")
        person_clicks(client, services, email, "s5")
        flush(client)
    (clicked,) = service.run_all(services)
    assert [e.subscriber_id for e in clicked.clicked] == [first]
    assert episodes(services, first) == [(1, "active")]
    assert len(asks_to(services, email)) == 0


def test_runs_at_once_send_one_email_each(history: History) -> None:
    import threading

    services = history.services
    threads = [threading.Thread(target=service.run_all, args=(services,)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for email in INACTIVE:
        sid = next(history.ids[k] for k, e in READERS.items() if e == email)
        assert len(asks_to(services, email)) == 1, (email, episodes(services, sid))


def test_a_claim_committed_between_the_read_and_the_check_wins(history: History) -> None:
    """The interleaving that once sent two emails, made to happen: another runner commits
    its claim right after this one's first read of the ledger."""
    import threading

    from sqlalchemy import event

    from newsletter.automations.sunset import store

    services = history.services
    never = history.ids["never"]
    with services.sessions() as session:
        window = store.tracked_window(session, "weekly", 3)

    def claim() -> int | None:
        with transaction(services.sessions) as session:
            return store.claim_episode(
                session, subscriber_id=never, newsletter_id="weekly", window=window
            )

    other: list[int | None] = []
    fired: list[bool] = []

    def between(*args: object) -> None:
        statement = str(args[2])
        if "sunset_episodes" in statement and not fired:
            fired.append(True)
            thread = threading.Thread(target=lambda: other.append(claim()))
            thread.start()
            thread.join()

    event.listen(services.engine, "after_cursor_execute", between)
    try:
        mine = claim()
    finally:
        event.remove(services.engine, "after_cursor_execute", between)
    assert other and other[0] is not None
    assert mine is None
    assert episodes(services, never) == [(1, "asking")]


def test_a_refusal_fails_one_ask_and_a_backend_down_stops_the_run(
    history: History, monkeypatch: pytest.MonkeyPatch
) -> None:
    from newsletter.errors import PermanentBackendError, TransientBackendError

    services = history.services
    real = service.send_ask
    first, second, third = sorted(history.ids[k] for k in ("never", "scanned", "early"))

    def backend(services: Services, outgoing: object, ask: service.Ask) -> None:
        if ask.subscriber_id == first:
            raise PermanentBackendError(f"{ask.email} refused: 550 no such user")
        if ask.subscriber_id == second:
            raise TransientBackendError("421 try again later")
        real(services, outgoing, ask)  # type: ignore[arg-type]

    monkeypatch.setattr(service, "send_ask", backend)
    (report,) = service.run_all(services)
    assert [(e.subscriber_id, e.outcome) for e in report.ask] == [
        (first, "failed"),
        (second, "stopped"),
    ]
    assert episodes(services, first) == [(1, "failed")]
    assert episodes(services, second) == [(1, "failed")]
    assert episodes(services, third) == []  # not tried: the next run asks them
    monkeypatch.undo()
    (later,) = service.run_all(services)
    assert [(e.subscriber_id, e.outcome) for e in later.ask] == [(third, "asked")]


def test_a_reader_who_unsubscribes_during_the_run_gets_no_ask(
    history: History, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run picks its readers once; one of them unsubscribes before their turn: no
    email, no episode (the claim checks eligibility again). The others are still asked."""
    from newsletter.automations.sunset import store

    services = history.services
    leaver = history.ids["never"]
    picked = store.inactive_readers

    def pick_then_leave(*args: object, **kwargs: object) -> list[store.Reader]:
        readers = picked(*args, **kwargs)  # type: ignore[arg-type]
        with transaction(services.sessions) as session:
            subscriptions.unsubscribe(session, subscriber_id=leaver, newsletter_id="weekly")
        return readers

    monkeypatch.setattr(store, "inactive_readers", pick_then_leave)
    (report,) = service.run_all(services)

    assert asks_to(services, READERS["never"]) == []
    assert episodes(services, leaver) == []
    outcome = {e.email: e.outcome for e in report.ask}
    assert outcome[READERS["never"]] != "asked"
    for key in ("scanned", "early"):
        assert len(asks_to(services, READERS[key])) == 1
        assert episodes(services, history.ids[key]) == [(1, "asked")]
