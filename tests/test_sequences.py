"""Sequences walked in one process over the real database and the outbox backend (issue 19).

Readers are confirmed at chosen instants and the steps' first sighting is put in the past
(``sync_steps(now=…)``), so "due" is decided by the real clock without waiting.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from newsletter.automations.sequences import service
from newsletter.automations.sequences.models import SequenceStep
from newsletter.db import transaction
from newsletter.delivery import engine
from newsletter.delivery.backends.outbox import OutboxBackend
from newsletter.delivery.loop import RunOptions
from newsletter.delivery.message import Batch, RecipientResult
from newsletter.delivery.models import Delivery, Send
from newsletter.services import Services
from subscribers import service as subscriber_service
from subscribers.db import utcnow
from subscribers.models import Subscription
from tests.fixtures.web import Outbox
from tests.sequence_support import confirmed_reader, received, step_ledger, write_step

HOUR = timedelta(hours=1)


def _three_steps(services: Services) -> None:
    settings = services.settings
    write_step(settings, "01-welcome", after="0", title="환영합니다")
    write_step(settings, "02-tips", after="30m", title="두 번째: 팁")
    write_step(settings, "03-more", after="1h", title="세 번째: 더 보기")


def _readers(services: Services, count: int, *, first_seen: timedelta) -> list[int]:
    """``count`` readers confirmed one minute apart after the steps were first seen."""
    start = utcnow() - first_seen
    return [
        confirmed_reader(services, f"r{n}@example.net", start + timedelta(minutes=1 + n))
        for n in range(count)
    ]


def test_each_reader_walks_every_due_step_once_in_order(services: Services, outbox: Outbox) -> None:
    _three_steps(services)
    service.sync_steps(services, now=utcnow() - 2 * HOUR)
    early = _readers(services, 3, first_seen=2 * HOUR)  # confirmed ~2 h ago: all three due
    late = confirmed_reader(services, "late@example.net", utcnow() - timedelta(minutes=40))
    fresh = confirmed_reader(services, "fresh@example.net", utcnow())

    report = service.walk(services)
    again = service.walk(services)

    assert report.sent == {"weekly/01-welcome": 5, "weekly/02-tips": 4, "weekly/03-more": 3}
    assert again.sent == {}  # nothing twice
    ledger = step_ledger(services)
    assert set(ledger["01-welcome"]) == {*early, late, fresh}
    assert set(ledger["02-tips"]) == {*early, late}
    assert set(ledger["03-more"]) == set(early)
    assert {s for step in ledger.values() for s in step.values()} == {"accepted"}
    got = received(outbox)
    assert got["r0@example.net"] == ["환영합니다", "두 번째: 팁", "세 번째: 더 보기"]
    assert got["late@example.net"] == ["환영합니다", "두 번째: 팁"]
    assert got["fresh@example.net"] == ["환영합니다"]
    _assert_in_order(services)


def _assert_in_order(services: Services) -> None:
    """Each reader's rows were added step after step (ledger ids grow along the walk)."""
    with services.sessions() as session:
        rows = session.execute(
            select(Delivery.subscriber_id, SequenceStep.position, Delivery.id).join(
                SequenceStep, SequenceStep.send_id == Delivery.send_id
            )
        ).all()
    by_reader: dict[int, list[tuple[int, int]]] = {}
    for subscriber_id, position, delivery_id in rows:
        by_reader.setdefault(subscriber_id, []).append((position, delivery_id))
    for walked in by_reader.values():
        ids_by_position = [d for _p, d in sorted(walked)]
        assert ids_by_position == sorted(ids_by_position)
        positions = sorted(p for p, _d in walked)
        assert positions == list(range(1, len(positions) + 1)), "a step was skipped"


def test_an_unsubscribed_reader_leaves_the_sequence(services: Services, outbox: Outbox) -> None:
    _three_steps(services)
    service.sync_steps(services, now=utcnow() - 3 * HOUR)
    ten_minutes_ago = utcnow() - timedelta(minutes=10)
    stays = confirmed_reader(services, "stays@example.net", ten_minutes_ago)
    leaves = confirmed_reader(services, "leaves@example.net", ten_minutes_ago)
    service.walk(services)  # the welcome only: the rest is not due yet
    with transaction(services.sessions) as session:
        subscriber_service.unsubscribe(session, subscriber_id=leaves, newsletter_id="weekly")
        # Two hours pass.
        session.execute(update(Subscription).values(confirmed_at=ten_minutes_ago - 2 * HOUR))
    service.walk(services)
    ledger = step_ledger(services)
    assert set(ledger["02-tips"]) == {stays} and set(ledger["03-more"]) == {stays}
    assert received(outbox)["leaves@example.net"] == ["환영합니다"]
    shown = service_show(services)
    assert shown["steps"][0]["unsubscribes"] == 1


def service_show(services: Services) -> dict[str, object]:
    from newsletter.automations.sequences.report import sequence_report

    return sequence_report(services, "weekly").as_dict()


def test_unsubscribed_between_claim_and_batch_is_skipped(services: Services) -> None:
    """Eligibility is checked when the batch is claimed, as for issues."""
    write_step(services.settings, "01-welcome", after="0")
    service.sync_steps(services, now=utcnow() - HOUR)
    (reader,) = _readers(services, 1, first_seen=HOUR)
    (step,) = _steps(services)
    with transaction(services.sessions) as session:
        from newsletter.automations.sequences import store

        assert store.enqueue_due(session, step, earlier=[], now=utcnow()) == 1
        subscriber_service.unsubscribe(session, subscriber_id=reader, newsletter_id="weekly")
    service.walk(services)
    assert step_ledger(services)["01-welcome"] == {reader: "skipped"}


def _steps(services: Services) -> list[SequenceStep]:
    from newsletter.automations.sequences import store

    with services.sessions() as session:
        return store.live_steps(session)


def test_a_step_added_later_skips_earlier_readers_unless_backfilled(
    services: Services, outbox: Outbox
) -> None:
    settings = services.settings
    write_step(settings, "01-welcome", after="0", title="환영합니다")
    write_step(settings, "03-more", after="1h", title="세 번째")
    service.sync_steps(services, now=utcnow() - 3 * HOUR)
    before = _readers(services, 2, first_seen=3 * HOUR)
    service.walk(services)
    # A step between them, and one at the end, written today.
    write_step(settings, "02-tips", after="30m", title="새 두 번째")
    write_step(settings, "04-last", after="2h", title="새 네 번째")
    added = service.sync_steps(services)
    assert added.added == ["weekly/02-tips", "weekly/04-last"]
    after = confirmed_reader(
        services, "after@example.net", utcnow() - timedelta(hours=2, minutes=5)
    )
    # The new files were first seen 2 h 30 ago (the clock put back): after the first two
    # readers confirmed, before the third did.
    with transaction(services.sessions) as session:
        session.execute(
            update(SequenceStep)
            .where(SequenceStep.name.in_(["02-tips", "04-last"]))
            .values(first_seen_at=utcnow() - timedelta(hours=2, minutes=30))
        )
    service.walk(services)
    ledger = step_ledger(services)
    assert set(ledger.get("02-tips", {})) == {after}
    assert set(ledger.get("04-last", {})) == {after}
    assert received(outbox)["r0@example.net"] == ["환영합니다", "세 번째"]
    assert received(outbox)["after@example.net"] == [
        "환영합니다",
        "새 두 번째",
        "세 번째",
        "새 네 번째",
    ]

    # The editor backfills the last step: earlier readers get it, once, after step 3.
    write_step(settings, "04-last", after="2h", title="새 네 번째", extra="backfill: true\n")
    service.walk(services)
    service.walk(services)
    assert set(step_ledger(services)["04-last"]) == {*before, after}
    assert received(outbox)["r0@example.net"] == ["환영합니다", "세 번째", "새 네 번째"]
    assert received(outbox)["after@example.net"].count("새 네 번째") == 1


def test_first_seen_is_kept_when_a_file_is_removed_and_comes_back(services: Services) -> None:
    path = write_step(services.settings, "01-welcome", after="0")
    seen = utcnow() - HOUR
    service.sync_steps(services, now=seen)
    text = path.read_text(encoding="utf-8")
    path.unlink()
    assert service.sync_steps(services).removed == ["weekly/01-welcome"]
    assert _steps(services) == []
    path.write_text(text, encoding="utf-8")
    report = service.sync_steps(services)
    assert report.changed == ["weekly/01-welcome"] and report.added == []
    (step,) = _steps(services)
    assert step.first_seen_at == seen


class CrashingBackend(OutboxBackend):
    """Writes the batch to the outbox, then dies as a SIGKILL would: nothing is settled."""

    def send(self, batch: Batch) -> list[RecipientResult]:
        super().send(batch)
        raise KeyboardInterrupt("killed after the provider took the batch")


def test_a_crash_mid_step_never_resends_and_the_walk_goes_on(
    services: Services, outbox: Outbox
) -> None:
    _three_steps(services)
    service.sync_steps(services, now=utcnow() - 2 * HOUR)
    readers = _readers(services, 4, first_seen=2 * HOUR)
    crashing = CrashingBackend(services.settings.path(services.settings.delivery.outbox_dir))
    with pytest.raises(KeyboardInterrupt):
        service.walk(services, options=RunOptions(backend=crashing))
    ledger = step_ledger(services)
    assert set(ledger["01-welcome"].values()) == {"sending"}  # in flight at the "kill"

    report = service.walk(services)  # a new runner: the dead one's lock is free
    ledger = step_ledger(services)
    assert set(ledger["01-welcome"].values()) == {"unknown"}  # never resent
    assert report.sent == {"weekly/02-tips": 4, "weekly/03-more": 4}
    got = received(outbox)
    for n in range(len(readers)):
        assert got[f"r{n}@example.net"] == ["환영합니다", "두 번째: 팁", "세 번째: 더 보기"]
    with services.sessions() as session:
        statuses = set(
            session.scalars(select(Send.status).where(Send.issue_slug.like("sequence/%")))
        )
    assert statuses == {"sent"}


def test_two_walks_at_once_send_each_step_once(services: Services, outbox: Outbox) -> None:
    _three_steps(services)
    service.sync_steps(services, now=utcnow() - 2 * HOUR)
    _readers(services, 12, first_seen=2 * HOUR)
    errors: list[BaseException] = []

    def walk() -> None:
        try:
            service.walk(services)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=walk) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    service.walk(services)
    assert not errors, errors
    got = received(outbox)
    assert len(got) == 12
    assert all(len(subjects) == 3 == len(set(subjects)) for subjects in got.values()), got


def test_a_step_send_is_never_fanned_out_to_the_whole_audience(services: Services) -> None:
    """A takeover or resume of an empty step send adds nobody (only the walk adds readers)."""
    write_step(services.settings, "01-welcome", after="0")
    service.sync_steps(services)  # first seen now: the readers below were confirmed before
    _readers(services, 3, first_seen=HOUR)
    (step,) = _steps(services)
    with transaction(services.sessions) as session:
        session.execute(update(Send).where(Send.id == step.send_id).values(status="queued"))
    result = engine.resume_send(services, step.send_id)
    assert result.total == 0 and result.status == "sent"
    assert step_ledger(services) == {}


def test_paused_readers_wait_and_go_on_after_the_pause(services: Services) -> None:
    _three_steps(services)
    service.sync_steps(services, now=utcnow() - 2 * HOUR)
    (reader,) = _readers(services, 1, first_seen=2 * HOUR)
    with transaction(services.sessions) as session:
        session.execute(
            update(Subscription)
            .where(Subscription.subscriber_id == reader)
            .values(paused_until=utcnow() + HOUR)
        )
    service.walk(services)
    assert step_ledger(services) == {}
    with transaction(services.sessions) as session:
        session.execute(update(Subscription).values(paused_until=None))
    service.walk(services)
    assert {name: set(rows.values()) for name, rows in step_ledger(services).items()} == {
        "01-welcome": {"accepted"},
        "02-tips": {"accepted"},
        "03-more": {"accepted"},
    }


def test_in_quiet_hours_only_the_welcome_goes_the_rest_waits(services: Services) -> None:
    _three_steps(services)
    service.sync_steps(services, now=utcnow() - 3 * HOUR)
    (reader,) = _readers(services, 1, first_seen=3 * HOUR)
    local = utcnow().astimezone(services.settings.site.tz)
    window = f"{(local - HOUR):%H:%M}-{(local + HOUR):%H:%M}"  # now is inside it
    quiet = _with_quiet_hours(services, window)
    assert service.in_quiet_hours(quiet, "weekly")
    assert service.walk(quiet).sent == {"weekly/01-welcome": 1}
    assert service.walk(services).sent == {"weekly/02-tips": 1, "weekly/03-more": 1}
    assert set(step_ledger(services)) == {"01-welcome", "02-tips", "03-more"}
    assert reader in step_ledger(services)["03-more"]


def _with_quiet_hours(services: Services, window: str) -> Services:
    settings = services.settings
    newsletters = [
        n.model_copy(update={"quiet_hours": window}) if n.id == "weekly" else n
        for n in settings.newsletters
    ]
    changed = settings.model_copy(update={"newsletters": newsletters})
    return Services(settings=changed, engine=services.engine, sessions=services.sessions)


def test_a_cancelled_step_is_out_of_the_sequence_and_the_rest_goes_on(
    services: Services, outbox: Outbox
) -> None:
    _three_steps(services)
    service.sync_steps(services, now=utcnow() - 2 * HOUR)
    _readers(services, 2, first_seen=2 * HOUR)
    tips = next(step for step in _steps(services) if step.name == "02-tips")
    with transaction(services.sessions) as session:  # paused by the pause rule, say
        session.execute(update(Send).where(Send.id == tips.send_id).values(status="paused"))
    engine.cancel_send(services, tips.send_id)
    report = service.walk(services)
    assert report.sent == {"weekly/01-welcome": 2, "weekly/03-more": 2}
    assert received(outbox)["r0@example.net"] == ["환영합니다", "세 번째: 더 보기"]


def test_a_refused_step_holds_up_the_steps_after_it_until_it_is_fixed(
    services: Services, outbox: Outbox
) -> None:
    """Step 02 saved with a typo: nobody gets 03 past it; once fixed, 02 then 03."""
    _three_steps(services)
    service.sync_steps(services, now=utcnow() - 2 * HOUR)
    readers = _readers(services, 2, first_seen=2 * HOUR)  # all three steps are due
    tips = services.settings.path(services.settings.sequences.dir) / "weekly" / "02-tips.md"
    good = tips.read_text(encoding="utf-8")
    tips.write_text(good.replace("after: 30m", "after: 30mn"), encoding="utf-8")  # refused

    broken = service.walk(services)

    assert broken.sync.errors and "02-tips" in broken.sync.errors[0]
    assert broken.sent == {"weekly/01-welcome": 2}
    assert set(step_ledger(services)) == {"01-welcome"}
    tips.write_text(good, encoding="utf-8")
    fixed = service.walk(services)
    assert fixed.sent == {"weekly/02-tips": 2, "weekly/03-more": 2}
    assert received(outbox)["r0@example.net"] == ["환영합니다", "두 번째: 팁", "세 번째: 더 보기"]
    assert set(step_ledger(services)["03-more"]) == set(readers)
    _assert_in_order(services)
