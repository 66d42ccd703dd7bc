"""Person or machine, with the reason: the rules one by one, and tokens with key rotation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from newsletter.tracking.classify import ReaderHit, request_reason, verdicts
from newsletter.tracking.tokens import TrackSigner

SAFARI = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) Version/17.5 Safari/604.1"
T0 = datetime(2026, 12, 7, 0, 0, tzinfo=UTC)


def _reason(method: str = "GET", kind: str = "link", ua: str = SAFARI, **headers: str) -> str:
    client = headers.pop("client", "203.0.113.9")
    return request_reason(method=method, kind=kind, user_agent=ua, headers=headers, client=client)


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        ({}, ""),
        ({"method": "HEAD"}, "head"),
        ({"purpose": "prefetch"}, "prefetch"),
        ({"sec-purpose": "prefetch;prerender"}, "prefetch"),
        ({"x-moz": "prefetch"}, "prefetch"),
        ({"ua": ""}, "agent:none"),
        ({"ua": "Mozilla/5.0 (compatible; BingPreview/1.0b)"}, "agent:Bing preview"),
        ({"ua": "Mimecast-URL-Protect/1.0"}, "agent:Mimecast"),
        ({"ua": "curl/8.5.0"}, "agent:script"),
        (
            {"kind": "open", "ua": "Mozilla/5.0 (via ggpht.com GoogleImageProxy)"},
            "proxy:Google image proxy",
        ),
        ({"kind": "open", "client": "17.58.101.4"}, "proxy:Apple Mail Privacy Protection"),
        ({"kind": "open"}, ""),
    ],
)
def test_request_rules(request_: dict[str, str], expected: str) -> None:
    assert _reason(**request_) == expected


def _hit(n: int, seconds: float, index: int, method: str = "GET", kind: str = "link") -> ReaderHit:
    reason = "head" if method == "HEAD" else ""
    return ReaderHit(n, T0 + timedelta(seconds=seconds), kind, index, method, reason)


def test_a_reader_reading_slowly_is_a_person() -> None:
    hits = [_hit(1, 0, 2), _hit(2, 40, 3), _hit(3, 41, 3)]
    assert verdicts(hits) == {1: "", 2: "", 3: ""}


def test_two_links_within_seconds_are_a_burst() -> None:
    assert verdicts([_hit(1, 0, 2), _hit(2, 1.5, 3), _hit(3, 90, 4)]) == {
        1: "burst",
        2: "burst",
        3: "",
    }


def test_a_get_after_a_head_of_the_same_link_is_the_scanner_again() -> None:
    assert verdicts([_hit(1, 0, 2, "HEAD"), _hit(2, 0.3, 2)]) == {1: "head", 2: "after-head"}


def test_the_trap_marks_the_window_around_it_both_ways() -> None:
    hits = [_hit(1, 0, 2), _hit(2, 50, 0, kind="trap"), _hit(3, 100, 3), _hit(4, 200, 4)]
    assert verdicts(hits) == {1: "trap-window", 2: "trap", 3: "trap-window", 4: ""}


def test_an_old_key_still_verifies_and_a_new_one_signs() -> None:
    old = TrackSigner(["old-key"])
    token = old.reader_part(7, 42, mode="p", provider="n") + old.link_part(7, 3)
    rotated = TrackSigner(["new-key", "old-key"])
    verified = rotated.loads(token)
    assert verified is not None and (verified.send_id, verified.who, verified.index) == (7, 42, 3)
    assert verified.provider == "naver" and verified.delivery_id == 42
    assert TrackSigner(["new-key"]).loads(token) is None
    fresh = rotated.reader_part(7, 42, mode="p", provider="n") + rotated.link_part(7, 3)
    assert fresh != token and old.loads(fresh) is None
