"""The hit queue is bounded: a flood drops hits (counted) instead of eating memory."""

from __future__ import annotations

import pytest

from newsletter.tracking import recorder
from newsletter.tracking.recorder import HitRecorder, PendingHit
from newsletter.tracking.report import engagement_for_issue
from newsletter.tracking.tokens import TrackToken
from subscribers.db import utcnow
from tests.tracking_support import READERS, Tracked, send_issue

pytestmark = pytest.mark.db


def test_a_full_queue_drops_and_the_rest_is_written(
    tracked: Tracked, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = tracked(tracking="aggregate")
    send_id = send_issue(services, readers=READERS[:1])
    monkeypatch.setattr(recorder, "MAX_QUEUE", 3)
    hits = HitRecorder(services)
    token = TrackToken(send_id=send_id, who=5, mode="a", provider="naver", index=2)
    accepted = [hits.record(PendingHit(token, "link", utcnow(), "GET", "")) for _ in range(5)]
    assert accepted == [True, True, True, False, False] and hits.dropped == 2
    assert hits.flush() == 3 and hits.dropped == 0
    report = engagement_for_issue(services, "hello")
    assert report.clickers == 1 and report.links[0].clicks == 3
