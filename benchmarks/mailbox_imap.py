"""The bounce mailbox over IMAP: messages processed per second by ``mailbox process --imap``.

The same project and message mix as ``benchmarks/mailbox.py`` (one message per reader,
each naming that reader's row through a VERP token), appended into a private Dovecot
(``tests/dovecot_support.py``, Debian's ``dovecot-imapd``) and read over ``imaps://``
(TLS on loopback): list, fetch (``BODY.PEEK[]``, batches of 100), classify, verify, store,
apply, ``UID MOVE`` to Processed. Then the same messages appended again: all duplicates.
Also the copy path (a server without MOVE or UIDPLUS: ``UID COPY``, ``\\Deleted``,
``EXPUNGE``) over plain IMAP on loopback. Without Dovecot: ``skipped``.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from benchmarks._webhook_seed import seed
from benchmarks.mailbox import DOMAIN, REPO, _messages


def _project(tmp: Path) -> Path:
    config = {
        "site": {"name": "Bench", "url": "https://bench.example.org"},
        "database": {"url": f"sqlite:///{tmp / 'bench.db'}"},
        "delivery": {"bounce_domain": DOMAIN},
        "newsletters": [{"id": "weekly", "name": "Weekly", "default": True}],
        "templates_dir": str(REPO / "templates"),
    }
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def _append(server: Any, user: str, messages: list[bytes]) -> None:
    with server.client(user) as box:
        for data in messages:
            box.append(data, "INBOX")


def _timed_pass(services: Any, url: str) -> tuple[Any, float]:
    from newsletter.mailbox.imap import process_imap
    from newsletter.mailbox.imap_url import parse_imap_url

    started = time.perf_counter()
    report = process_imap(services, url=parse_imap_url(url))
    return report, time.perf_counter() - started


def main(quick: bool = False) -> dict[str, Any]:
    """Messages per second over IMAP: first pass, duplicates, and the copy path."""
    from newsletter.services import Services
    from newsletter.settings import load_settings
    from tests.dovecot_support import BASIC, PASSWORD, Dovecot, dovecot_binary

    binary = dovecot_binary()
    if binary is None:
        return {"skipped": "dovecot not installed (apt-get install dovecot-imapd)"}
    count = 300 if quick else 3000
    server = Dovecot(binary).start()
    os.environ["SSL_CERT_FILE"] = str(server.cert)
    try:
        with tempfile.TemporaryDirectory() as temp:
            config = _project(Path(temp))
            seed(config, count=count)
            env = {"NEWSLETTER_SECRET_KEY": "bench-secret-key-0123456789abcdef"}
            env["NEWSLETTER_IMAP_PASSWORD"] = PASSWORD
            services = Services.open(load_settings(config, environ=env))
            try:
                messages = _messages(services, count)
                _append(server, "bench", messages)
                first, first_s = _timed_pass(services, server.url("bench"))
                _append(server, "bench", messages)
                again, again_s = _timed_pass(services, server.url("bench"))
                _append(server, "copy", messages)
                url = server.url("copy", transport="none", host=BASIC)
                copied, copy_s = _timed_pass(services, url)
            finally:
                services.close()
    finally:
        server.close()
    return {
        "messages": count,
        "messages_per_s": round(count / first_s, 1),
        "duplicates_per_s": round(count / again_s, 1),
        "copy_path_duplicates_per_s": round(count / copy_s, 1),
        "first_pass": dict(sorted(first.outcomes.items())),
        "second_pass": dict(sorted(again.outcomes.items())),
        "copy_pass_read": copied.read,
        "load_average_1min": round(os.getloadavg()[0], 1),
    }


if __name__ == "__main__":
    from benchmarks._runner import run_one

    run_one(main)
