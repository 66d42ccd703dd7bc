"""The one-click writer: queued unsubscribes committed in groups, each exactly once."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import func, select

from newsletter.services import Services
from newsletter.web import oneclick
from subscribers.models import Event
from tests.fixtures.web import add_subscriber, statuses


def test_concurrent_unsubscribes_are_all_written_once(services: Services) -> None:
    ids = [add_subscriber(services, f"burst{i}@example.com") for i in range(40)]
    writer = oneclick.OneClickWriter(services)
    futures = []
    lock = threading.Lock()

    def fire(subscriber_id: int) -> None:
        for newsletter in ("weekly", "letters", "weekly"):  # a repeat among them
            future = writer.submit(subscriber_id, newsletter)
            with lock:
                futures.append(future)

    threads = [threading.Thread(target=fire, args=(sid,)) for sid in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for future in futures:
        future.result(timeout=30)
    assert all(set(statuses(services, sid).values()) == {"unsubscribed"} for sid in ids)
    with services.sessions() as session:
        events = session.scalar(
            select(func.count()).select_from(Event).where(Event.how == "one-click")
        )
    assert events == 2 * len(ids)


def test_writer_stops_when_idle_and_starts_again(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(oneclick, "IDLE_STOP", 0.05)
    first, second = (add_subscriber(services, f"idle{i}@example.com") for i in range(2))
    writer = oneclick.OneClickWriter(services)
    writer.submit(first, "weekly").result(timeout=10)
    deadline = time.monotonic() + 5
    while writer._running and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not writer._running
    writer.submit(second, "weekly").result(timeout=10)
    assert statuses(services, second)["weekly"] == "unsubscribed"


def test_a_failed_batch_fails_its_requests(services: Services) -> None:
    sid = add_subscriber(services, "fail@example.com")
    writer = oneclick.OneClickWriter(services)
    services.engine.dispose()
    broken = services.engine.url.set(database="/nonexistent/dir/db.sqlite")
    from sqlalchemy import create_engine

    writer.services = Services(
        settings=services.settings, engine=create_engine(broken), sessions=services.sessions
    )
    with pytest.raises(Exception):  # noqa: B017 - whatever the driver raises reaches the caller
        writer.submit(sid, "weekly").result(timeout=10)
    assert statuses(services, sid)["weekly"] == "active"
