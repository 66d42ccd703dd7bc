"""Step files, sequence commands: one-line errors naming file and field: check, list, show."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from newsletter.automations.sequences import service
from newsletter.automations.sequences.files import parse_after, read_step_files
from newsletter.cli import app
from newsletter.errors import IssueError
from newsletter.services import Services
from newsletter.settings import Settings
from subscribers.db import utcnow
from tests.scheduler_helpers import NEWSLETTER
from tests.sequence_support import confirmed_reader, write_step

runner = CliRunner()


def _run(config_path: Path, *args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, ["--config", str(config_path), *args])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (0, timedelta(0)),
        ("0", timedelta(0)),
        ("90s", timedelta(seconds=90)),
        ("30m", timedelta(minutes=30)),
        ("12h", timedelta(hours=12)),
        ("3d", timedelta(days=3)),
        ("2w", timedelta(weeks=2)),
        ("1.5h", timedelta(minutes=90)),
        ("3", None),  # no unit: ambiguous
        ("-3d", None),
        ("soon", None),
        (True, None),
        ("", None),
    ],
)
def test_after_values(text: object, expected: timedelta | None) -> None:
    assert parse_after(text) == expected


@pytest.mark.parametrize(
    ("folder", "name", "front", "message"),
    [
        ("weekly", "01-a", 'title: "A"\n', "sequences/weekly/01-a.md:1: no after"),
        (
            "weekly",
            "01-a",
            'title: "A"\nafter: soon\n',
            "sequences/weekly/01-a.md:3: after: 'soon' is not a delay",
        ),
        (
            "weekly",
            "01-a",
            'title: "A"\nafter: 3\n',
            "sequences/weekly/01-a.md:3: after: 3 is not a delay",
        ),
        (
            "weekly",
            "01-a",
            'title: "A"\nafter: 0\nbackfill: maybe\n',
            "sequences/weekly/01-a.md:4: backfill: 'maybe' is not true/false",
        ),
        (
            "weekly",
            "01-a",
            'title: "A"\nafter: 0\nnewsletter: letters\n',
            "sequences/weekly/01-a.md:4: newsletter: 'letters' but the file is in the 'weekly'",
        ),
        ("weekly", "welcome", 'title: "A"\nafter: 0\n', "must start with the step's number"),
        ("nope", "01-a", 'title: "A"\nafter: 0\n', "sequences/nope/01-a.md: the folder names no"),
        ("weekly", "01-a", "after: 0\n", "sequences/weekly/01-a.md:1: no title"),
        (
            "weekly",
            "01-a",
            'title: "A"\nafter: 0\nad: true\n',
            "sequences/weekly/01-a.md:4: ad: true is not for sequence steps",
        ),
        (
            "weekly",
            "01-a",
            'title: "A"\nafter: 0\nsubjects: ["하나", "둘"]\n',
            "sequences/weekly/01-a.md:4: subjects: (an A/B test) is not for sequence steps",
        ),
    ],
)
def test_a_bad_step_file_is_one_line_naming_file_and_field(
    settings: Settings, folder: str, name: str, front: str, message: str
) -> None:
    path = settings.path(settings.sequences.dir) / folder / f"{name}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"---\n{front}---\n본문\n", encoding="utf-8")
    (error,) = read_step_files(settings).errors
    assert message in error and "\n" not in error


def test_two_steps_with_one_number_refuse_the_second(settings: Settings) -> None:
    write_step(settings, "01-a", after="0")
    write_step(settings, "01-b", after="1d")
    found = read_step_files(settings)
    assert [s.name for s in found.steps] == ["01-a"]
    (error,) = found.errors
    assert error == (
        "sequences/weekly/01-b.md: step 1 is already sequences/weekly/01-a.md "
        "(renumber one of them)"
    )


def test_a_broken_file_keeps_its_step_instead_of_removing_it(services: Services) -> None:
    path = write_step(services.settings, "01-a", after="0")
    service.sync_steps(services)
    path.write_text("---\ntitle: A\nafter: later\n---\n", encoding="utf-8")
    report = service.sync_steps(services)
    assert report.removed == [] and len(report.errors) == 1


def test_check_reads_a_step_file_and_refuses_a_bad_after(config_path: Path) -> None:
    settings_dir = config_path.parent
    good = write_step(_settings(config_path), "01-welcome", after="0")
    ok = _run(config_path, "check", str(good), "--json")
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["slug"] == "sequence/weekly/01-welcome"
    bad = write_step(_settings(config_path), "02-next", after="tomorrow")
    env = {**os.environ, "NEWSLETTER_SECRET_KEY": "test-secret-key-0123456789abcdef"}
    done = subprocess.run(
        [*NEWSLETTER, "--config", str(config_path), "check", str(bad)],
        cwd=settings_dir,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0
    (line,) = done.stderr.strip().splitlines()
    assert "sequences/weekly/02-next.md:3: after: 'tomorrow' is not a delay" in line


def _settings(config_path: Path) -> Settings:
    from newsletter.settings import load_settings

    return load_settings(config_path)


def test_sequences_list_and_show(config_path: Path, services: Services) -> None:
    settings = services.settings
    write_step(settings, "01-welcome", after="0", title="환영")
    write_step(settings, "02-tips", after="3d", title="팁", extra="backfill: true\n")
    listed = _run(config_path, "sequences", "list", "--json")
    assert listed.exit_code == 0, listed.output
    (weekly,) = json.loads(listed.stdout)["sequences"]
    assert [(s["name"], s["after"], s["backfill"]) for s in weekly["steps"]] == [
        ("01-welcome", "0", False),
        ("02-tips", "3d", True),
    ]
    confirmed_reader(services, "a@example.net", utcnow())
    confirmed_reader(services, "b@example.net", utcnow())
    service.walk(services)
    shown = _run(config_path, "sequences", "show", "weekly", "--json")
    assert shown.exit_code == 0, shown.output
    figures = json.loads(shown.stdout)
    assert figures["not_started"] == 0
    first, second = figures["steps"]
    assert first["at_step"] == 2 and first["sent"] == 2 and first["clickers"] is None
    assert second["at_step"] == 0 and second["sent"] == 0
    text = _run(config_path, "sequences", "show", "weekly")
    assert "at this step 2; sent 2" in text.stdout
    write_step(settings, "03-bad", after="never")
    failed = _run(config_path, "sequences", "list")
    assert isinstance(failed.exception, IssueError)
    assert "sequences/weekly/03-bad.md:3: after: 'never' is not a delay" in failed.stdout


def test_while_a_step_file_is_refused_the_walk_waits_at_it(services: Services) -> None:
    write_step(services.settings, "01-welcome", after="0")
    broken = write_step(services.settings, "02-tips", after="0")
    service.sync_steps(services, now=utcnow() - timedelta(hours=1))
    confirmed_reader(services, "a@example.net", utcnow())
    text = broken.read_text(encoding="utf-8")
    broken.write_text(text.replace("after: 0", "after: soon"), encoding="utf-8")
    assert service.walk(services).sent == {"weekly/01-welcome": 1}
    broken.write_text(text, encoding="utf-8")
    assert service.walk(services).sent == {"weekly/02-tips": 1}


_HUGE_AFTERS = st.one_of(
    st.sampled_from(
        ["99999999999w", "1e400w", "9" * 400 + "s", "9" * 5000, "3651d", "521w", "1e30d"]
    ),
    st.builds(
        lambda number, unit: f"{number}{unit}",
        st.integers(min_value=0, max_value=10**40),
        st.sampled_from(["s", "m", "h", "d", "w", " w", ".5d"]),
    ),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.text(max_size=20),
)


@hyp_settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(after=_HUGE_AFTERS)
def test_any_after_is_a_delay_or_refuses_only_its_file(settings: Settings, after: str) -> None:
    """Huge or odd ``after:`` values: a delay no longer than ten years, or a one-line error
    naming the file, line and field; the other steps are read all the same."""
    write_step(settings, "01-welcome", after="0")
    odd = write_step(settings, "02-odd", after=after.replace("\n", " ") or "''")
    found = read_step_files(settings)
    assert [step.name for step in found.steps if step.name == "01-welcome"] == ["01-welcome"]
    if ("weekly", "02-odd") in found.broken:
        (error,) = found.errors
        assert error.startswith("sequences/weekly/02-odd.md:") and "\n" not in error
        assert len(error) < 300
    else:
        (step,) = [s for s in found.steps if s.name == "02-odd"]
        assert timedelta(0) <= step.after <= timedelta(days=3650)
    odd.unlink()


def test_a_huge_after_refuses_its_step_and_the_walk_goes_on(services: Services) -> None:
    write_step(services.settings, "01-welcome", after="0")
    service.sync_steps(services, now=utcnow() - timedelta(hours=1))
    confirmed_reader(services, "a@example.net", utcnow())
    write_step(services.settings, "02-far", after="99999999999w")
    report = service.walk(services)
    assert report.sync.errors == [
        "sequences/weekly/02-far.md:3: after: '99999999999w' is too long (at most 3650d)"
    ]
    assert report.sent == {"weekly/01-welcome": 1}
