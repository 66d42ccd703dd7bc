from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from newsletter.errors import ConfigError
from newsletter.settings import load_settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_apply_without_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(environ={})
    assert settings.delivery.backend == "outbox"
    assert settings.scheduler.max_lateness == timedelta(hours=6)
    assert settings.default_newsletter.id == "weekly"


def test_env_overrides_nested_key(tmp_path: Path) -> None:
    path = write(tmp_path, "delivery:\n  backend: outbox\n  batch_size: 500\n")
    settings = load_settings(
        path,
        environ={
            "NEWSLETTER_DELIVERY__BACKEND": "sendgrid",
            "NEWSLETTER_DELIVERY__SMTP__PORT": "2525",
        },
    )
    assert settings.delivery.backend == "sendgrid"
    assert settings.delivery.batch_size == 500
    assert settings.delivery.smtp.port == 2525


def test_env_override_of_a_list_as_json(tmp_path: Path) -> None:
    path = write(tmp_path, "")
    settings = load_settings(
        path, environ={"NEWSLETTER_NEWSLETTERS": '[{"id": "daily", "name": "Daily"}]'}
    )
    assert [n.id for n in settings.newsletters] == ["daily"]


@pytest.mark.parametrize(
    ("text", "env", "key"),
    [
        ("delivery:\n  batch_size: many\n", {}, "delivery.batch_size"),
        ("delivery:\n  backend: pigeon\n", {}, "delivery.backend"),
        ("site:\n  timezone: Mars/Olympus\n", {}, "site.timezone"),
        ("", {"NEWSLETTER_SCHEDULER__MAX_LATENESS": "soon"}, "scheduler.max_lateness"),
        ("sitee:\n  name: x\n", {}, "sitee"),
    ],
)
def test_bad_value_names_the_key(tmp_path: Path, text: str, env: dict[str, str], key: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ=env)
    assert f"config.yaml: {key}:" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_secrets_only_from_environment(tmp_path: Path) -> None:
    path = write(tmp_path, "secret_key: hunter2\n")
    with pytest.raises(ConfigError, match="secret_key"):
        load_settings(path, environ={})
    settings = load_settings(write(tmp_path, ""), environ={"SENDGRID_API_KEY": "SG.x"})
    assert settings.secrets.sendgrid_api_key == "SG.x"


def test_invalid_yaml_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "site:\n  name: [unclosed\n")
    with pytest.raises(ConfigError, match=r"config.yaml:\d+: invalid YAML"):
        load_settings(path, environ={})


def test_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.yaml", environ={})


def test_durations_accept_units(tmp_path: Path) -> None:
    path = write(tmp_path, "scheduler:\n  max_lateness: 90m\n  sync_interval: 15s\n")
    settings = load_settings(path, environ={})
    assert settings.scheduler.max_lateness == timedelta(minutes=90)
    assert settings.scheduler.sync_interval == timedelta(seconds=15)
