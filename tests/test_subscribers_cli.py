"""The subscriber commands through the real CLI: add, remove, list, import, export, data."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from newsletter.cli import app
from newsletter.settings import Settings
from subscribers.errors import SubscriberNotFound

runner = CliRunner()


def _run(config_path: Path, *args: str):  # type: ignore[no-untyped-def]
    result = runner.invoke(app, ["--config", str(config_path), *args])
    return result


def test_add_is_pending_with_a_confirm_link(config_path: Path, settings: Settings) -> None:
    result = _run(config_path, "subscribers", "add", "kim@example.org", "--name", "김", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["pending"] == ["weekly"]
    assert data["confirm_url"].startswith("https://news.example.org/confirm/")


def test_add_confirmed_then_list_and_remove(config_path: Path, settings: Settings) -> None:
    args = ("subscribers", "add", "kim@example.org", "--confirmed", "-n", "letters")
    assert _run(config_path, *args).exit_code == 0
    listed = json.loads(_run(config_path, "subscribers", "list", "--json").stdout)
    assert [(r["email"], r["newsletter_id"], r["status"]) for r in listed] == [
        ("kim@example.org", "letters", "active")
    ]
    assert _run(config_path, "subscribers", "remove", "KIM@example.org").exit_code == 0
    listed = json.loads(_run(config_path, "subscribers", "list", "--json").stdout)
    assert listed[0]["status"] == "unsubscribed"


def test_import_export_round_trip(config_path: Path, settings: Settings, tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_bytes("이메일,이름\na@example.org,가\nb@example.org,나\n".encode("cp949"))
    result = _run(config_path, "subscribers", "import", str(source), "--confirmed", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["imported"] == 2
    out = tmp_path / "out.csv"
    assert _run(config_path, "subscribers", "export", "--out", str(out)).exit_code == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert [(r["email"], r["name"], r["status"]) for r in rows] == [
        ("a@example.org", "가", "active"),
        ("b@example.org", "나", "active"),
    ]
    again = _run(config_path, "subscribers", "import", str(out), "-n", "letters", "--json")
    assert json.loads(again.stdout)["imported"] == 2


def test_export_filters_by_status(config_path: Path, settings: Settings) -> None:
    _run(config_path, "subscribers", "add", "a@example.org", "--confirmed")
    _run(config_path, "subscribers", "add", "b@example.org")
    result = _run(config_path, "subscribers", "export", "--status", "pending")
    assert result.exit_code == 0
    assert "b@example.org" in result.stdout and "a@example.org" not in result.stdout
    assert _run(config_path, "subscribers", "export", "--status", "nope").exit_code != 0


def test_dry_run_writes_nothing(config_path: Path, settings: Settings, tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text("email\na@example.org\n", encoding="utf-8")
    result = _run(config_path, "subscribers", "import", str(source), "--dry-run", "--json")
    assert json.loads(result.stdout)["imported"] == 1
    assert json.loads(_run(config_path, "subscribers", "list", "--json").stdout) == []


def test_remove_erase_and_data_request(config_path: Path, settings: Settings) -> None:
    _run(config_path, "subscribers", "add", "a@example.org", "--confirmed", "--name", "Ann")
    data = json.loads(_run(config_path, "subscribers", "data", "a@example.org").stdout)
    assert data["subscriber"]["name"] == "Ann" and data["consent_records"][0]["source"] == "admin"
    assert _run(config_path, "subscribers", "remove", "a@example.org", "--erase").exit_code == 0
    assert _run(config_path, "subscribers", "list", "--json").stdout.strip() == "[]"
    refused = _run(config_path, "subscribers", "add", "a@example.org", "--confirmed")
    assert refused.exit_code != 0


def test_errors_are_one_line_with_exit_codes(
    config_path: Path, settings: Settings, tmp_path: Path
) -> None:
    source = tmp_path / "bad.csv"
    source.write_text("email\nok@example.org\nbroken@\n", encoding="utf-8")
    env = {**os.environ, "NEWSLETTER_CONFIG": str(config_path)}
    command = [sys.executable, "-c", "from newsletter.cli import main; main()"]
    done = subprocess.run(
        [*command, "subscribers", "import", str(source)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 65
    assert done.stderr.count("\n") == 1 and "line 3" in done.stderr
    assert (tmp_path / "bad.rejects.csv").exists()
    missing = _run(config_path, "subscribers", "remove", "nobody@example.org")
    assert isinstance(missing.exception, SubscriberNotFound)
    assert missing.exception.exit_code == 66 and "nobody@example.org" in str(missing.exception)
