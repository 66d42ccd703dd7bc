"""The ``newsletter`` command's root: global options, shared state, error mapping.

Command modules register on :data:`app` (or a sub-app added to it) and get their
settings and database through :func:`services`.

Start-up stays fast (``newsletter --help`` in well under a second): the command modules
import only ``typer`` and the standard library at module level. SQLAlchemy, FastAPI,
pydantic, the renderer and the delivery engine are imported inside the commands that use
them, and the rich consoles are built on first use; help is Click's plain help (rich's
help formatting costs as much as everything else). ``tests/test_cli_startup.py`` guards it.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from newsletter import __version__
from newsletter.errors import NewsletterError
from subscribers.errors import SubscriberError

if TYPE_CHECKING:
    from rich.console import Console

    from newsletter.services import Services
    from newsletter.settings import Settings

app = typer.Typer(
    name="newsletter",
    help="A self-hosted email newsletter delivery service.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # Plain Click help and usage errors: typer's rich help imports rich's Markdown, Pygments
    # and more, which doubled the start-up time of `newsletter --help` (docs/benchmarks.md).
    rich_markup_mode=None,
    context_settings={"max_content_width": 100},
)


class LazyConsole:
    """A ``rich`` console built on first use (importing rich costs start-up time)."""

    def __init__(self, *, stderr: bool = False) -> None:
        self._stderr = stderr
        self._console: Console | None = None

    def get(self) -> Console:
        """The console itself (for rich's progress bars and live displays)."""
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=self._stderr)
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.get(), name)


console: Any = LazyConsole()
err_console: Any = LazyConsole(stderr=True)


@dataclass
class CliState:
    """What the root callback parsed; settings and services are built on first use."""

    config_path: Path | None
    _settings: Settings | None = None
    _services: Services | None = None


def _print_version(value: bool) -> None:
    if value:
        sys.stdout.write(f"newsletter {__version__}\n")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    config: Path | None = typer.Option(
        None, "--config", "-c", envvar="NEWSLETTER_CONFIG", help="Path to config.yaml."
    ),
    version: bool = typer.Option(
        False,
        "--version",
        callback=_print_version,
        is_eager=True,
        help="Print the version and exit.",
    ),
) -> None:
    ctx.obj = CliState(config_path=config)


def settings(ctx: typer.Context) -> Settings:
    """The settings for this invocation, loaded once."""
    state: CliState = ctx.find_root().obj
    if state._settings is None:
        from newsletter.settings import load_settings

        state._settings = load_settings(state.config_path)
    return state._settings


def services(ctx: typer.Context) -> Services:
    """Settings plus a migrated database, opened once and closed when the command ends."""
    state: CliState = ctx.find_root().obj
    if state._services is None:
        from newsletter.services import Services

        state._services = Services.open(settings(ctx))
        ctx.find_root().call_on_close(state._services.close)
    return state._services


def print_json(data: Any) -> None:
    """Write ``data`` as JSON on stdout, for scripts (``--json``)."""
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


def print_secret_once(heading: str, secret: str) -> None:
    """Print a new secret under ``heading``, with the warning that it is not shown again."""
    console.print(heading, highlight=False)
    console.print(secret, highlight=False, soft_wrap=True)
    console.print("Store it now: it is not shown again.", style="bold", highlight=False)


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
