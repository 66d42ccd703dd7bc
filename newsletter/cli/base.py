"""The ``newsletter`` command's root: global options, shared state, error mapping.

Command modules register on :data:`app` (or a sub-app added to it) and get their
settings and database through :func:`services`.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from newsletter.errors import NewsletterError
from newsletter.services import Services
from newsletter.settings import Settings, load_settings
from subscribers.errors import SubscriberError

app = typer.Typer(
    name="newsletter",
    help="A self-hosted email newsletter delivery service.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()
err_console = Console(stderr=True)


@dataclass
class CliState:
    """What the root callback parsed; settings and services are built on first use."""

    config_path: Path | None
    _settings: Settings | None = None
    _services: Services | None = None


@app.callback()
def _root(
    ctx: typer.Context,
    config: Path | None = typer.Option(
        None, "--config", "-c", envvar="NEWSLETTER_CONFIG", help="Path to config.yaml."
    ),
) -> None:
    ctx.obj = CliState(config_path=config)


def settings(ctx: typer.Context) -> Settings:
    """The settings for this invocation, loaded once."""
    state: CliState = ctx.find_root().obj
    if state._settings is None:
        state._settings = load_settings(state.config_path)
    return state._settings


def services(ctx: typer.Context) -> Services:
    """Settings plus a migrated database, opened once and closed when the command ends."""
    state: CliState = ctx.find_root().obj
    if state._services is None:
        state._services = Services.open(settings(ctx))
        ctx.find_root().call_on_close(state._services.close)
    return state._services


def print_json(data: Any) -> None:
    """Write ``data`` as JSON on stdout, for scripts (``--json``)."""
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


def run() -> None:
    """Run the CLI; project errors become one line on stderr and a non-zero exit code."""
    try:
        app()
    except (NewsletterError, SubscriberError) as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise SystemExit(exc.exit_code) from None
    except KeyboardInterrupt:
        err_console.print("interrupted")
        raise SystemExit(130) from None
