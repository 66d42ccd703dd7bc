"""Commands: dkim keygen (the signing key of the SMTP and outbox backends, its DNS record)."""

from __future__ import annotations

from pathlib import Path

import typer

from newsletter.cli.base import app, console, settings

dkim_app = typer.Typer(help="DKIM: make the signing key and print its DNS record.")
app.add_typer(dkim_app, name="dkim", no_args_is_help=True)


@dkim_app.command("keygen")
def keygen(
    ctx: typer.Context,
    selector: str = typer.Option(..., "--selector", "-s", help="The DKIM selector (s=)."),
    domain: str = typer.Option(
        "",
        "--domain",
        "-d",
        help="Signing domain (d=); default delivery.dkim.domain or the sender's.",
    ),
    key_file: Path | None = typer.Option(
        None,
        "--key-file",
        help="Where to write the key; default delivery.dkim.key_file or dkim/SELECTOR.pem.",
    ),
    force: bool = typer.Option(False, "--force", help="Replace an existing key file."),
) -> None:
    """Write a new RSA 2048 private key (mode 0600) and print the TXT record to publish."""
    from newsletter.delivery.dkim import (
        dns_record,
        generate_private_key,
        signing_domain,
        write_private_key,
    )
    from newsletter.errors import ConfigError

    config = settings(ctx)
    if not _is_label(selector):
        raise ConfigError(f"--selector: {selector!r} is not a DNS label (letters, digits, -)")
    name = (domain or signing_domain(config)).strip().lower().rstrip(".")
    if not name or not name.isascii() or "." not in name:
        raise ConfigError(f"--domain: {name!r} is not a domain name (set --domain)")
    target = key_file or config.delivery.dkim.key_file or Path("dkim") / f"{selector}.pem"
    path = config.path(target) if key_file is None else target
    key = generate_private_key()
    write_private_key(path, key, overwrite=force)
    console.print(f"wrote {path} (mode 0600)", highlight=False)
    console.print("Publish this DNS record:", highlight=False)
    typer.echo(dns_record(selector, name, key))
    console.print(
        "and configure delivery.dkim: "
        f"{{selector: {selector}, domain: {name}, key_file: {target}}}",
        highlight=False,
        soft_wrap=True,
    )


def _is_label(value: str) -> bool:
    return (
        0 < len(value) <= 63
        and value.isascii()
        and value.replace("-", "").isalnum()
        and not value.startswith("-")
        and not value.endswith("-")
    )
