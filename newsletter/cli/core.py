"""Commands that run or prepare the service: ``serve``, ``worker``, ``db upgrade``."""

from __future__ import annotations

import typer

from newsletter.cli.base import app, console, services, settings

db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Apply pending database migrations (also done automatically on start)."""
    from newsletter import db

    conf = settings(ctx)
    engine = db.create_db_engine(conf)
    try:
        before = db.current_revision(engine)
        db.upgrade(engine)
        after = db.current_revision(engine)
    finally:
        engine.dispose()
    where = db.describe_database(conf)
    if before is None:
        console.print(f"created the database {where} (schema {after})", highlight=False)
    elif before != after:
        console.print(f"upgraded the database {where} from {before} to {after}", highlight=False)
    else:
        console.print(f"database {where} is up to date (schema {after})", highlight=False)


@app.command()
def serve(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8000, help="Port to listen on."),
    no_scheduler: bool = typer.Option(
        False, "--no-scheduler", help="Web only (for extra web processes)."
    ),
) -> None:
    """Run the web app, the scheduler and outgoing webhooks in one process: the main job."""
    import uvicorn

    from newsletter.web import create_app

    web_app = create_app(services(ctx), scheduler=not no_scheduler, outgoing_webhooks=True)
    # uvicorn's own proxy handling is off: it would believe X-Forwarded-For from any local
    # peer. newsletter.web.clientaddr decides from web.trusted_proxies instead.
    uvicorn.run(web_app, host=host, port=port, log_level="info", proxy_headers=False)
