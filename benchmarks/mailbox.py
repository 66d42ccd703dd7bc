"""The bounce mailbox: messages processed per second by ``newsletter mailbox process``.

A SQLite project with ``count`` readers and a send ledger row each; a Maildir filled with
the hand-written samples of ``tests/data/mailbox`` (Postfix, Exim, Exchange, Gmail DSNs,
soft bounces, a delay, ARF complaints, out-of-office answers, mailto unsubscribes, plain
replies), one message per reader, each naming that reader's row through a VERP token.
Measured: the first pass (classify, verify, store, apply, move; one transaction per
message) and a second pass over the same messages put back (all duplicates).
"""

from __future__ import annotations

import mailbox
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from benchmarks._webhook_seed import seed

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "tests" / "data" / "mailbox"
DOMAIN = "bounce.example.org"
#: The mix, per ten messages: what a bounce mailbox after a send mostly holds.
MIX = [
    "postfix_hard",
    "gmail_hard",
    "exchange_hard",
    "exim_hard",
    "gmail_full",
    "postfix_delayed",
    "out_of_office",
    "out_of_office",
    "mailto_unsubscribe",
    "arf_complaint",
]


def _project(tmp: Path) -> Path:
    config = {
        "site": {"name": "Bench", "url": "https://bench.example.org"},
        "database": {"url": f"sqlite:///{tmp / 'bench.db'}"},
        "delivery": {"bounce_domain": DOMAIN, "mailbox": {"maildir": str(tmp / "bounces")}},
        "newsletters": [{"id": "weekly", "name": "Weekly", "default": True}],
        "templates_dir": str(REPO / "templates"),
    }
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def _messages(services: Any, count: int) -> list[bytes]:
    from newsletter.delivery.verp import VerpPurpose

    templates = {name: (SAMPLES / f"{name}.eml").read_text(encoding="utf-8") for name in MIX}
    out = []
    for n in range(count):
        delivery_id = n + 1
        text = templates[MIX[n % len(MIX)]]
        text = text.replace(
            "{{BOUNCE}}", services.verp.address(VerpPurpose.BOUNCE, delivery_id, DOMAIN)
        )
        text = text.replace(
            "{{UNSUB}}", services.verp.address(VerpPurpose.UNSUBSCRIBE, delivery_id, DOMAIN)
        )
        text = text.replace("{{RCPT}}", f"reader{n}@example.org")
        # Each message its own Message-ID, as real ones have.
        text = text.replace("Message-I", f"X-Bench: {n}\nMessage-I", 1)
        text = text.replace("@mx.", f".{n}@mx.").replace("@mail.", f".{n}@mail.")
        out.append(text.replace("\n", "\r\n").encode("utf-8"))
    return out


def _fill(maildir: Path, messages: list[bytes]) -> None:
    box = mailbox.Maildir(maildir, create=True)
    for data in messages:
        box.add(data)


def main(quick: bool = False) -> dict[str, Any]:
    """Messages per second, first pass and duplicates, and what each pass counted."""
    from newsletter.mailbox.service import process_maildir
    from newsletter.services import Services
    from newsletter.settings import load_settings

    count = 300 if quick else 3000
    with tempfile.TemporaryDirectory() as temp:
        tmp = Path(temp)
        config = _project(tmp)
        seed(config, count=count)
        os.environ.setdefault("NEWSLETTER_SECRET_KEY", "bench-secret-key-0123456789abcdef")
        services = Services.open(load_settings(config))
        try:
            messages = _messages(services, count)
            maildir = tmp / "bounces"
            _fill(maildir, messages)
            started = time.perf_counter()
            first = process_maildir(services, path=maildir)
            first_s = time.perf_counter() - started
            _fill(maildir, messages)
            started = time.perf_counter()
            again = process_maildir(services, path=maildir)
            again_s = time.perf_counter() - started
        finally:
            services.close()
    return {
        "messages": count,
        "messages_per_s": round(count / first_s, 1),
        "duplicates_per_s": round(count / again_s, 1),
        "first_pass": dict(sorted(first.outcomes.items())),
        "second_pass": dict(sorted(again.outcomes.items())),
        "load_average_1min": round(os.getloadavg()[0], 1),
    }


if __name__ == "__main__":
    from benchmarks._runner import run_one

    run_one(main)
