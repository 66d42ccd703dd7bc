"""Publication instants across DST: Europe/Berlin's gap and overlap, Asia/Seoul without DST."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from newsletter.errors import SchedulerError
from newsletter.scheduler.instants import describe, local_instant, parse_instant

BERLIN = ZoneInfo("Europe/Berlin")
SEOUL = ZoneInfo("Asia/Seoul")
NEW_YORK = ZoneInfo("America/New_York")


def test_a_wall_time_in_the_spring_gap_moves_forward_by_the_gap() -> None:
    instant = local_instant(datetime(2026, 3, 29, 2, 30), BERLIN)
    assert instant.utc == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert instant.utc.astimezone(BERLIN).strftime("%H:%M %Z") == "03:30 CEST"
    assert "does not exist" in instant.note


def test_a_wall_time_in_the_autumn_overlap_is_its_first_occurrence() -> None:
    instant = local_instant(datetime(2026, 10, 25, 2, 30), BERLIN)
    assert instant.utc == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert instant.utc.astimezone(BERLIN).strftime("%H:%M %Z") == "02:30 CEST"
    assert "happens twice" in instant.note


def test_wall_times_around_the_berlin_transitions_are_exact() -> None:
    assert local_instant(datetime(2026, 3, 29, 1, 59), BERLIN).utc == datetime(
        2026, 3, 29, 0, 59, tzinfo=UTC
    )
    assert local_instant(datetime(2026, 3, 29, 3, 0), BERLIN).utc == datetime(
        2026, 3, 29, 1, 0, tzinfo=UTC
    )
    after = local_instant(datetime(2026, 10, 25, 3, 0), BERLIN)
    assert after.utc == datetime(2026, 10, 25, 2, 0, tzinfo=UTC)
    assert after.note == ""


def test_seoul_has_no_dst_so_the_same_wall_times_are_plain() -> None:
    for wall in (datetime(2026, 3, 29, 2, 30), datetime(2026, 10, 25, 2, 30)):
        instant = local_instant(wall, SEOUL)
        assert instant.utc == (wall - timedelta(hours=9)).replace(tzinfo=UTC)
        assert instant.note == ""


def test_an_explicit_offset_is_never_adjusted() -> None:
    wall = datetime(2026, 3, 29, 2, 30, tzinfo=timezone(timedelta(hours=1)))
    instant = local_instant(wall, BERLIN)
    assert instant.utc == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert instant.note == ""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-08-18T20:00:09+09:00", datetime(2025, 8, 18, 11, 0, 9, tzinfo=UTC)),
        ("2025-08-18 20:00:09 +09:00", datetime(2025, 8, 18, 11, 0, 9, tzinfo=UTC)),
        ("2025-08-18T11:00:09Z", datetime(2025, 8, 18, 11, 0, 9, tzinfo=UTC)),
        ("2025-08-18T20:00", datetime(2025, 8, 18, 11, 0, tzinfo=UTC)),
        ("2025-08-18", datetime(2025, 8, 17, 15, 0, tzinfo=UTC)),
    ],
)
def test_parse_instant_reads_iso_8601_with_or_without_offset(text: str, expected: datetime) -> None:
    assert parse_instant(text, SEOUL).utc == expected


@pytest.mark.parametrize("text", ["tomorrow", "2025-13-01T00:00", "", "18/08/2025 20:00"])
def test_parse_instant_refuses_what_is_not_iso_8601(text: str) -> None:
    with pytest.raises(SchedulerError, match="ISO-8601"):
        parse_instant(text, SEOUL)


def test_describe_shows_local_time_and_utc() -> None:
    instant = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert describe(instant, BERLIN) == "2026-10-25 02:30:00 CEST (00:30:00 UTC)"


@given(
    st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2037, 12, 31)),
    st.sampled_from([BERLIN, SEOUL, NEW_YORK]),
)
def test_every_wall_time_maps_to_one_utc_instant_that_reads_back(
    wall: datetime, zone: ZoneInfo
) -> None:
    instant = local_instant(wall, zone)
    assert instant.utc.tzinfo is UTC
    back = instant.utc.astimezone(zone).replace(tzinfo=None)
    if "does not exist" in instant.note:
        assert timedelta(0) < back - wall <= timedelta(hours=1)
    else:
        assert back == wall
    if "happens twice" in instant.note:
        later = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
        assert instant.utc < later


@pytest.mark.parametrize(
    "wall",
    [
        datetime(1, 1, 1, 0, 0),
        datetime(1, 1, 1, 0, 0, tzinfo=timezone(timedelta(hours=9))),
        datetime(9999, 12, 31, 23, 59),
        datetime(9999, 12, 31, 23, 59, tzinfo=timezone(timedelta(hours=-12))),
        datetime(1969, 12, 31, 0, 0),
    ],
)
def test_instants_at_the_ends_of_the_calendar_are_refused_not_overflowed(wall: datetime) -> None:
    with pytest.raises(SchedulerError, match="out of range"):
        local_instant(wall, ZoneInfo("Asia/Seoul"))
    with pytest.raises(SchedulerError, match="out of range"):
        parse_instant(wall.isoformat(), ZoneInfo("Asia/Seoul"))
