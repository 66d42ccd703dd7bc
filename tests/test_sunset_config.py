"""``sunset:`` in config.yaml (validated, one-line errors naming the key), the command's
errors, and the run that ``serve``'s scheduler starts on its own."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from newsletter.cli import app as cli_app
from newsletter.errors import ConfigError, NewsletterError
from newsletter.scheduler import build_scheduler
from newsletter.settings import load_settings
from tests.conftest import base_config, write_config
from tests.fixtures.web import add_subscriber
from tests.sunset_support import asks_to, send
from tests.tracking_support import Tracked


def _load(tmp_path: Path, weekly: dict[str, Any], **top: Any) -> None:
    config = base_config(tmp_path)
    config["newsletters"][0].update(weekly)
    config.update(top)
    load_settings(write_config(tmp_path, config))


@pytest.mark.parametrize(
    ("weekly", "message"),
    [
        (
            {"sunset": {"after_issues": 10, "grace": "14d"}},
            "config.yaml: newsletters.0.sunset: Value error, needs tracking: per_reader",
        ),
        (
            {"tracking": "aggregate", "sunset": {"after_issues": 10, "grace": "14d"}},
            "newsletters.0.sunset: Value error, needs tracking: per_reader",
        ),
        (
            {"tracking": "per_reader", "sunset": {"after_issues": 0, "grace": "14d"}},
            "newsletters.0.sunset.after_issues: Input should be greater than or equal to 1",
        ),
        (
            {"tracking": "per_reader", "sunset": {"after_issues": 10, "grace": "two weeks"}},
            "newsletters.0.sunset.grace:",
        ),
        (
            {"tracking": "per_reader", "sunset": {"after_issues": 10, "grace": "5m"}},
            "newsletters.0.sunset.grace: Value error, must be between 1h and 365d",
        ),
        (
            {"tracking": "per_reader", "sunset": {"after_issues": 10}},
            "newsletters.0.sunset.grace: Field required",
        ),
        (
            {"tracking": "per_reader", "sunset": {"after_issues": 10, "grace": "14d", "x": 1}},
            "newsletters.0.sunset.x: Extra inputs are not permitted",
        ),
    ],
)
def test_bad_sunset_names_the_key(tmp_path: Path, weekly: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, weekly)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_a_good_sunset_and_interval_load(tmp_path: Path) -> None:
    _load(
        tmp_path,
        {"tracking": "per_reader", "sunset": {"after_issues": 10, "grace": "14d"}},
        scheduler={"sunset_interval": "30m"},
    )
    with pytest.raises(ConfigError, match=r"scheduler\.sunset_interval: Value error, must be"):
        _load(tmp_path, {}, scheduler={"sunset_interval": "0s"})


@pytest.mark.db
def test_the_command_refuses_a_newsletter_without_sunset(tracked: Tracked) -> None:
    services = tracked(tracking="per_reader", sunset={"after_issues": 3, "grace": "14d"})
    config = str(services.settings.base_dir / "config.yaml")
    runner = CliRunner()
    no_sunset = runner.invoke(cli_app, ["--config", config, "sunset", "--newsletter", "letters"])
    assert no_sunset.exit_code != 0 and isinstance(no_sunset.exception, NewsletterError)
    unknown = runner.invoke(cli_app, ["--config", config, "sunset", "--newsletter", "nope"])
    assert unknown.exit_code != 0 and isinstance(unknown.exception, ConfigError)
    bad_at = runner.invoke(cli_app, ["--config", config, "sunset", "--at", "2026-12-01T10:00"])
    assert bad_at.exit_code != 0 and "needs an offset" in bad_at.output


@pytest.mark.db
def test_the_scheduler_runs_the_sunset_on_its_own(tracked: Tracked) -> None:
    services = tracked(tracking="per_reader", sunset={"after_issues": 1, "grace": "14d"})
    settings = services.settings
    fast = settings.scheduler.model_copy(update={"sunset_interval": timedelta(seconds=1)})
    services = type(services)(
        settings=settings.model_copy(update={"scheduler": fast}),
        engine=services.engine,
        sessions=services.sessions,
    )
    add_subscriber(services, "quiet@naver.com", ("weekly",))
    send(services, "s0")
    scheduler = build_scheduler(services, sync=None)
    scheduler.start()
    try:
        deadline = time.monotonic() + 20
        while not asks_to(services, "quiet@naver.com") and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.5)  # another pass or two: still one email
    finally:
        scheduler.shutdown()
    assert len(asks_to(services, "quiet@naver.com")) == 1
