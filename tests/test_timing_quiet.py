"""Quiet hours: the window's arithmetic (a property test), an issue's instant moved to the
window's end (also across midnight and with `deliver: local`), `issues list` noting it,
`schedule --at` moved the same way, `send --now` refused inside the window without
--force, and windows refused with a clear config error."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from newsletter.catalog import sync_issues
from newsletter.cli import app
from newsletter.errors import ConfigError, IssueError, QuietHoursError
from newsletter.issues import find_issue, parse_issue_text
from newsletter.scheduler.instants import EARLIEST, LATEST
from newsletter.services import Services
from newsletter.settings import load_settings
from newsletter.timing.plan import first_possible
from newsletter.timing.quiet import QuietHours, parse_window
from tests.conftest import base_config, write_config
from tests.fixtures.delivery import add_audience

runner = CliRunner()


# --- the window's arithmetic ----------------------------------------------------------------

times = st.times().map(lambda t: t.replace(second=0, microsecond=0))
walls = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1))


@given(start=times, end=times, wall=walls, data=st.data())
def test_moving_lands_on_the_window_end_and_skips_only_the_window(
    start: time, end: time, wall: datetime, data: st.DataObject
) -> None:
    if start == end:
        return
    window = QuietHours(start, end)
    moved = window.move(wall)
    if moved is None:
        assert not window.contains(wall.time())
        return
    assert window.contains(wall.time())
    assert moved.time() == end and not window.contains(moved.time())
    assert wall < moved <= wall + timedelta(days=1)
    # Every moment between the wall time and the new one is inside the window: the
    # earliest moment out of it is the end.
    span = (moved - wall) // timedelta(microseconds=1)
    step = data.draw(st.integers(0, span - 1))
    assert window.contains((wall + timedelta(microseconds=step)).time())


@pytest.mark.parametrize(
    ("window", "wall", "moved"),
    [
        ("21:00-08:00", "2026-03-02 23:30", "2026-03-03 08:00"),  # across midnight
        ("21:00-08:00", "2026-03-02 03:00", "2026-03-02 08:00"),  # after midnight
        ("21:00-08:00", "2026-03-02 21:00", "2026-03-03 08:00"),  # the start is inside
        ("21:00-08:00", "2026-03-02 08:00", None),  # the end is not
        ("21:00-08:00", "2026-03-02 12:00", None),
        ("12:00-13:30", "2026-03-02 12:45", "2026-03-02 13:30"),  # same day
        ("12:00-13:30", "2026-03-02 11:59", None),
    ],
)
def test_examples(window: str, wall: str, moved: str | None) -> None:
    got = parse_window(window).move(datetime.fromisoformat(wall))
    assert got == (datetime.fromisoformat(moved) if moved else None)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("25:00-08:00", "a time that does not exist"),
        ("21:00-21:00", "starts and ends at the same time"),
        ("9pm-8am", "write HH:MM-HH:MM"),
        ("21:00", "write HH:MM-HH:MM"),
    ],
)
def test_a_bad_window_is_a_one_line_config_error(tmp_path: Path, text: str, reason: str) -> None:
    config = base_config(tmp_path)
    config["newsletters"][0]["quiet_hours"] = text
    path = write_config(tmp_path, config)
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    message = str(caught.value)
    assert "\n" not in message
    assert "newsletters.0.quiet_hours" in message and reason in message


# --- through a project -----------------------------------------------------------------------


@pytest.fixture
def quiet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Services]:
    """A project whose ``weekly`` has quiet hours 21:00-08:00 (Asia/Seoul)."""
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", "test-secret-key-0123456789abcdef")
    config = base_config(tmp_path)
    config["newsletters"][0]["quiet_hours"] = "21:00-08:00"
    services = Services.open(load_settings(write_config(tmp_path, config)))
    yield services
    services.close()


def _write(services: Services, slug: str, *lines: str) -> None:
    folder = services.settings.path(services.settings.issues_dir)
    (folder / f"{slug}.md").write_text(
        "\n".join(["---", f'title: "소식 {slug}"', *lines, "---", "본문.", ""]), encoding="utf-8"
    )


def _cli(services: Services, *args: str) -> Any:
    config = services.settings.base_dir / "config.yaml"
    return runner.invoke(app, ["--config", str(config), *args])


def _kst(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC) - timedelta(hours=9)


def test_an_issue_inside_quiet_hours_moves_to_their_end_and_issues_list_says_so(
    quiet: Services,
) -> None:
    _write(quiet, "late", "date: 2030-03-02 23:30")  # Seoul, inside 21:00-08:00
    _write(quiet, "early", "date: 2030-03-03 03:00 +0900")  # an explicit offset too
    _write(quiet, "noon", "date: 2030-03-02 12:00")
    _write(quiet, "other", "date: 2030-03-02 23:30", "newsletter: letters")  # no window
    sync_issues(quiet)
    late = find_issue(quiet.settings, "late")
    assert late.publish_at == _kst(2030, 3, 3, 8, 0)
    assert late.moved_from == _kst(2030, 3, 2, 23, 30)
    assert find_issue(quiet.settings, "early").publish_at == _kst(2030, 3, 3, 8, 0)
    assert find_issue(quiet.settings, "noon").moved_from is None
    assert find_issue(quiet.settings, "other").publish_at == _kst(2030, 3, 2, 23, 30)

    result = _cli(quiet, "issues", "list", "--json")
    assert result.exit_code == 0, result.stdout
    rows = {row["slug"]: row for row in json.loads(result.stdout)}
    assert rows["late"]["send_at"] == "2030-03-02T23:00:00+00:00"
    assert rows["late"]["moved_from"] == "2030-03-02T14:30:00+00:00"
    assert rows["late"]["quiet_note"] == (
        "moved from 2030-03-02 23:30:00 KST (14:30:00 UTC) by quiet hours 21:00-08:00"
    )
    assert rows["noon"]["moved_from"] == "" and rows["noon"]["quiet_note"] == ""
    text = _cli(quiet, "issues", "list")
    assert text.exit_code == 0 and "quiet" in text.stdout


def test_changing_the_window_replans_synced_issues(quiet: Services, tmp_path: Path) -> None:
    _write(quiet, "late", "date: 2030-03-02 23:30")
    sync_issues(quiet)
    config = base_config(tmp_path)  # the same project without quiet hours
    again = Services.open(load_settings(write_config(tmp_path, config)))
    try:
        report = sync_issues(again)
        assert "late" in report.updated
        result = _cli(again, "issues", "list", "--json")
        row = json.loads(result.stdout)[0]
        assert row["send_at"] == "2030-03-02T14:30:00+00:00" and row["moved_from"] == ""
    finally:
        again.close()


def test_deliver_local_reads_the_window_in_each_readers_zone(quiet: Services) -> None:
    _write(quiet, "night", "date: 2030-03-02 22:00", "deliver: local")
    issue = find_issue(quiet.settings, "night")
    assert issue.local_wall == datetime(2030, 3, 3, 8, 0)  # 08:00 wherever the reader is
    assert issue.publish_at == first_possible(datetime(2030, 3, 3, 8, 0))
    assert issue.moved_from == _kst(2030, 3, 2, 22, 0)


def test_schedule_at_inside_quiet_hours_moves_too(quiet: Services) -> None:
    _write(quiet, "noon", "date: 2030-03-02 12:00")
    sync_issues(quiet)
    result = _cli(quiet, "schedule", "noon", "--at", "2030-03-05T22:15", "--json")
    assert result.exit_code == 0, result.stdout
    shown = json.loads(result.stdout)
    assert shown["send_at"] == "2030-03-05T23:00:00+00:00"  # 08:00 KST on the 6th
    assert "inside quiet hours 21:00-08:00" in shown["note"]


def test_send_now_inside_quiet_hours_asks_for_force(
    quiet: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    import newsletter.timing.guard as guard

    add_audience(quiet, 2)
    _write(quiet, "noon", "date: 2030-03-02 12:00")
    sync_issues(quiet)
    monkeypatch.setattr(guard, "utcnow", lambda: _kst(2030, 3, 1, 23, 45))
    refused = _cli(quiet, "send", "noon", "--now")
    # `run()` prints a project error as one line on stderr; the runner hands it over.
    assert isinstance(refused.exception, QuietHoursError)
    message = str(refused.exception)
    assert "\n" not in message
    assert "weekly is in its quiet hours (21:00-08:00, Asia/Seoul) until 08:00" in message
    assert "use --force" in message
    with quiet.sessions() as session:
        from newsletter.delivery import store

        assert store.send_for_issue(session, "noon") is None  # nothing started
    forced = _cli(quiet, "send", "noon", "--now", "--force", "--json")
    assert forced.exit_code == 0, forced.output
    assert json.loads(forced.stdout)["counts"]["accepted"] == 2
    # Outside the window no --force is needed.
    _write(quiet, "day", "date: 2030-03-04 12:00")
    sync_issues(quiet)
    monkeypatch.setattr(guard, "utcnow", lambda: _kst(2030, 3, 2, 8, 0))
    assert _cli(quiet, "send", "day", "--now", "--json").exit_code == 0


# --- dates at the calendar's edges ----------------------------------------------------------


def _edge_project(tmp_path: Path, zone: str, window: str) -> Services:
    config = base_config(tmp_path)
    config["site"]["timezone"] = zone
    config["newsletters"][0]["quiet_hours"] = window
    return Services.open(load_settings(write_config(tmp_path, config)))


def test_a_date_quiet_hours_push_past_the_calendar_refuses_only_its_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """9998-12-31 18:00 in New York is in the quiet hours; their end (08:00 the next day)
    is past the last instant kept: that file is a one-line error naming its line and
    field, and the rest syncs."""
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", "test-secret-key-0123456789abcdef")
    services = _edge_project(tmp_path, "America/New_York", "17:00-08:00")
    try:
        _write(services, "edge", "date: 9998-12-31 18:00")
        _write(services, "fine", "date: 2030-03-02 10:00")
        report = sync_issues(services)
        assert report.created == ["fine"]
        (error,) = report.errors
        assert str(error).startswith("issues/edge.md:3: date: '9998-12-31 18:00' cannot be sent")
        assert "\n" not in str(error)
    finally:
        services.close()


_ZONES = ["America/New_York", "Etc/GMT+12", "Pacific/Kiritimati", "Asia/Seoul", "UTC"]
_WINDOWS = ["21:00-08:00", "17:00-08:00", "00:30-23:30", "23:59-00:01"]
_EDGE_DATES = st.one_of(
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(1, 1, 2)),
    st.datetimes(min_value=datetime(1969, 12, 31), max_value=datetime(1970, 1, 1, 23, 59)),
    st.datetimes(min_value=datetime(9998, 12, 31), max_value=datetime(9999, 1, 1, 23, 59)),
    st.datetimes(min_value=datetime(9999, 12, 31), max_value=datetime(9999, 12, 31, 23, 59)),
).map(lambda moment: moment.replace(second=0, microsecond=0))


@pytest.fixture
def edge_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Settings with quiet hours for sites in zones from UTC-12 to UTC+14, by (zone, window)."""
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", "test-secret-key-0123456789abcdef")
    found = {}
    for n, (zone, window) in enumerate((z, w) for z in _ZONES for w in _WINDOWS):
        folder = tmp_path / str(n)
        folder.mkdir()
        config = base_config(folder)
        config["site"]["timezone"] = zone
        config["newsletters"][0]["quiet_hours"] = window
        found[f"{zone} {window}"] = load_settings(write_config(folder, config))
    return found


@hyp_settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    zone=st.sampled_from(_ZONES),
    window=st.sampled_from(_WINDOWS),
    moment=_EDGE_DATES,
    offset=st.sampled_from(["", " +14:00", " -12:00", " Z", " +09:00"]),
    local=st.booleans(),
)
@example("Asia/Seoul", "21:00-08:00", datetime(9998, 12, 31, 23, 0), "", False)
@example("America/New_York", "17:00-08:00", datetime(9998, 12, 31, 18, 0), "", False)
@example("Etc/GMT+12", "21:00-08:00", datetime(9998, 12, 31, 11, 0), "", True)
def test_dates_near_year_1_and_9999_parse_or_refuse_their_file(
    edge_settings: dict[str, Any],
    zone: str,
    window: str,
    moment: datetime,
    offset: str,
    local: bool,
) -> None:
    settings = edge_settings[f"{zone} {window}"]
    path = settings.path(settings.issues_dir) / "edge.md"
    lines = ["---", "title: t", f"date: {moment:%Y-%m-%d %H:%M}{offset}"]
    lines += ["deliver: local"] if local else []
    raw = "\n".join([*lines, "---", "body", ""]).encode()
    try:
        issue = parse_issue_text(settings, path, raw)
    except IssueError as exc:
        assert str(exc).startswith("issues/edge.md:3: ") and "date" in str(exc)
        assert "\n" not in str(exc)
        return
    # deliver: local starts when the wall time first comes on Earth (UTC+14), so its start
    # can be a day from the bounds; every instant kept can still be shown in any zone.
    day = timedelta(days=1, hours=2)
    for instant in (issue.publish_at, issue.moved_from):
        if instant is not None:
            assert EARLIEST - day <= instant < LATEST + day
            for hours in (14, -12):
                instant.astimezone(timezone(timedelta(hours=hours)))
