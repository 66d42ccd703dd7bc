"""End to end: `newsletter serve` sends the advertising notices as a periodic job, once,
even with two serves side by side on one database."""

from __future__ import annotations

import mailbox
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from newsletter.db import transaction
from newsletter.services import Services
from newsletter.settings import Settings
from subscribers import ad_consent
from subscribers.service import Source, subscribe
from tests.scheduler_helpers import Serve, wait_for

pytestmark = pytest.mark.slow


@pytest.fixture
def serves() -> Iterator[list[Serve]]:
    started: list[Serve] = []
    yield started
    for serve in started:
        serve.stop()


def _notices(settings: Settings) -> list[str]:
    folder = settings.path(settings.delivery.outbox_dir)
    if not (folder / "cur").exists():
        return []
    box = mailbox.Maildir(folder, create=False)
    return [str(box.get_message(key)["To"]) for key in box.iterkeys()]


def test_two_serves_send_a_pending_result_notice_once(
    settings: Settings, tmp_path: Path, serves: list[Serve]
) -> None:
    services = Services.open(settings)
    with transaction(services.sessions) as session:
        result = subscribe(
            session,
            email="ad@example.org",
            newsletters=["weekly"],
            source=Source.ADMIN,
            confirmed=True,
        )
        ad_consent.give(
            session, subscriber_id=result.subscriber_id, newsletter_ids=["weekly"], source="admin"
        )
    services.close()
    env = dict(os.environ)
    env.update(
        NEWSLETTER_SECRET_KEY="test-secret-key-0123456789abcdef",
        NEWSLETTER_SCHEDULER__AD_NOTICE_INTERVAL="1s",
        PYTHONUNBUFFERED="1",
    )
    for _ in range(2):
        serves.append(Serve(tmp_path / "config.yaml", env))
    for serve in serves:
        serve.wait_started()
    assert wait_for(lambda: len(_notices(settings)) >= 1, timeout=30), serves[0].log
    # Both keep running their job every second: still one notice.
    assert not wait_for(lambda: len(_notices(settings)) > 1, timeout=4)
    assert _notices(settings) == ["ad@example.org"]
