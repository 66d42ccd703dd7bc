"""A real `newsletter serve`, SIGKILLed while a `deliver: local` send waits for its next
wave, and a second serve started after it: the wave goes out at its instant, once.

The issue's wall time is ~25 s ahead in UTC: readers in `UTC` get it then; readers in
`Asia/Seoul` reached that wall time 9 hours ago, beyond `scheduler.max_lateness` (6 h), so
their wave is missed (lateness per wave) while the send itself goes on. The first serve
fans the send out and leaves it `waiting`; it is killed before the wave; the second serve
takes the waiting send at the wave's instant. Nothing here asserts a wall-clock time."""

from __future__ import annotations

import mailbox
import os
import signal
from collections.abc import Iterator
from datetime import timedelta
from email.utils import parseaddr
from pathlib import Path

import pytest
from sqlalchemy import select, update

from newsletter import db
from newsletter.delivery.models import Delivery, Send
from newsletter.services import Services
from subscribers.db import utcnow
from subscribers.models import Subscriber
from tests.fixtures.delivery import add_audience
from tests.scheduler_helpers import Serve, status_of, wait_for

pytestmark = pytest.mark.slow
AHEAD = timedelta(seconds=25)


@pytest.fixture
def serves() -> Iterator[list[Serve]]:
    started: list[Serve] = []
    yield started
    for serve in started:
        serve.stop()


def _env() -> dict[str, str]:
    return {
        **os.environ,
        "NEWSLETTER_SECRET_KEY": "test-secret-key-0123456789abcdef",
        "NEWSLETTER_SCHEDULER__SYNC_INTERVAL": "1s",
        "PYTHONUNBUFFERED": "1",
    }


def _send(services: Services) -> Send | None:
    with services.sessions() as session:
        return session.scalars(select(Send)).one_or_none()


def _outbox(services: Services) -> list[str]:
    root = services.settings.path(services.settings.delivery.outbox_dir)
    if not root.exists():
        return []
    box = mailbox.Maildir(root)
    return sorted(parseaddr(str(box[key]["To"]))[1] for key in box.iterkeys())


def test_a_serve_killed_between_waves_is_replaced_and_the_wave_goes_once(
    services: Services, config_path: Path, serves: list[Serve]
) -> None:
    utc = add_audience(services, 5)
    seoul = add_audience(services, 3, start=100)
    with db.transaction(services.sessions) as session:
        session.execute(update(Subscriber).where(Subscriber.id.in_(utc)).values(timezone="UTC"))
        session.execute(
            update(Subscriber).where(Subscriber.id.in_(seoul)).values(timezone="Asia/Seoul")
        )
    wall = (utcnow() + AHEAD).strftime("%Y-%m-%d %H:%M:%S")
    (config_path.parent / "issues" / "local.md").write_text(
        f'---\ntitle: "현지 시각 / Local time"\ndate: {wall}\ndeliver: local\n---\n본문.\n',
        encoding="utf-8",
    )

    first = Serve(config_path, _env())
    serves.append(first)
    assert wait_for(lambda: (s := _send(services)) is not None and s.status == "waiting", 20), (
        first.log
    )
    first.process.send_signal(signal.SIGKILL)
    first.process.wait()
    with services.sessions() as session:
        at_kill = dict(
            session.execute(select(Delivery.subscriber_id, Delivery.status)).tuples().all()
        )
    # The kill came before the UTC wave: nothing of it went out with the first serve.
    assert [at_kill[sid] for sid in utc] == ["pending"] * 5, first.log
    assert [at_kill[sid] for sid in seoul] == ["skipped"] * 3
    assert _outbox(services) == []

    second = Serve(config_path, _env())
    serves.append(second)
    assert wait_for(lambda: (s := _send(services)) is not None and s.status == "sent", 60), (
        second.log
    )
    assert wait_for(lambda: status_of(services, "local") == "sent", 10), second.log
    assert _outbox(services) == sorted(f"reader{n}@example.net" for n in range(1, 6))
    with services.sessions() as session:
        rows = session.execute(
            select(Delivery.subscriber_id, Delivery.status, Delivery.error)
        ).all()
    by_id = {sid: (status, error or "") for sid, status, error in rows}
    assert all(by_id[sid][0] == "accepted" for sid in utc)
    assert all(
        by_id[sid][0] == "skipped" and by_id[sid][1].startswith("missed: its wave's instant")
        for sid in seoul
    )
