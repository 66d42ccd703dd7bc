"""The SMTP backend against a local sink, compared with Postfix's ``smtp-source`` ceiling.

The sink is Postfix's ``smtp-sink`` (C, accepts everything); the ceiling is what Postfix's
own load generator ``smtp-source`` pushes into the same sink with as many connections, each
reused for many messages (``-d``), with messages of the same size as ours. Ours is a full
send, ledger included: ``start_send`` with the ``smtp`` backend. Target (PRODUCT.md): at
least 50% of the ceiling.

``smtp-sink``/``smtp-source`` are found on ``PATH``, in ``/usr/sbin`` or in
``$POSTFIX_SBIN`` (with ``$POSTFIX_LIB`` as ``LD_LIBRARY_PATH``): for instance from
``apt-get download postfix && dpkg-deb -x postfix_*.deb /tmp/pfx`` (no daemon installed).
Without them the benchmark says so and measures against an aiosmtpd sink only.
"""

from __future__ import annotations

import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks._runner import peak_rss_mb
from benchmarks.send_sendgrid import add_subscribers, make_project
from newsletter.delivery import RunOptions, start_send
from newsletter.delivery.content import issue_content, render_for_send
from newsletter.delivery.links import Links
from newsletter.delivery.message import Recipient, build_message
from newsletter.services import Services
from newsletter.settings import load_settings

CONNECTIONS = 4


def _tool(name: str) -> str | None:
    folder = os.environ.get("POSTFIX_SBIN")
    candidates = [Path(folder) / name] if folder else []
    candidates.append(Path("/usr/sbin") / name)
    found = shutil.which(name)
    if found:
        return found
    return next((str(p) for p in candidates if p.exists()), None)


def _env() -> dict[str, str]:
    lib = os.environ.get("POSTFIX_LIB")
    return {**os.environ, "LD_LIBRARY_PATH": lib} if lib else dict(os.environ)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"the sink did not listen on {port}")


def _message_size(services: Services) -> int:
    """Bytes of one personalized message of the benchmark issue."""
    rendered = render_for_send(services, "bench")
    links = Links(services.settings, services.tokens, "weekly")
    content = issue_content(services, rendered, links=links, send_id=1)
    values = links.values(1, name="독자")
    recipient = Recipient(
        "r1@example.net", values=values, headers=links.headers(values["unsubscribe_url"])
    )
    return len(build_message(content, recipient, eight_bit=True))  # smtp-sink takes 8BITMIME


def _ceiling(source: str, port: int, messages: int, size: int) -> float:
    command = [
        source,
        "-d",
        "-s",
        str(CONNECTIONS),
        "-m",
        str(messages),
        "-l",
        str(size),
        "-f",
        "editor@example.org",
        "-t",
        "reader@example.net",
        f"127.0.0.1:{port}",
    ]
    started = time.perf_counter()
    subprocess.run(command, check=True, env=_env(), capture_output=True)
    return messages / (time.perf_counter() - started)


def main(quick: bool = False) -> dict[str, Any]:
    """Measure full SMTP sends and the smtp-source ceiling, alternating, on the same sink.

    The development machine is shared: each round measures the ceiling right before our
    send, and the figures are medians over the rounds.
    """
    size, rounds = (2_000, 3) if quick else (20_000, 3)
    helpers = int(os.environ.get("BENCH_HELPERS", "1"))  # a second core for the sender
    sink_bin, source_bin = _tool("smtp-sink"), _tool("smtp-source")
    if sink_bin is None or source_bin is None:
        return {"subscribers": size, "error": "Postfix smtp-sink/smtp-source not found"}
    port = _free_port()
    sink = subprocess.Popen([sink_bin, "-u", "nobody", f"127.0.0.1:{port}", "256"], env=_env())
    ours: list[float] = []
    ceilings: list[float] = []
    try:
        _wait_for(port)
        with tempfile.TemporaryDirectory(prefix="bench-smtp-") as tmp:
            # The same 4 connections in all as smtp-source, split between the processes.
            per_process = max(1, CONNECTIONS // (helpers + 1))
            extra = {"smtp": {"host": "127.0.0.1", "port": port, "connections": per_process}}
            config = make_project(Path(tmp), backend="smtp", extra=extra)
            issue = Path(tmp) / "issues" / "2026-01-05-bench.md"
            services = Services.open(load_settings(config))
            add_subscribers(services, size)
            message_bytes = _message_size(services)
            for n in range(rounds):
                ceilings.append(_ceiling(source_bin, port, size, message_bytes))
                slug = f"bench-{n}"
                (issue.parent / f"2026-01-05-{slug}.md").write_bytes(issue.read_bytes())
                started = time.perf_counter()
                options = RunOptions(helper_processes=helpers)
                result = start_send(services, slug, options=options)
                ours.append(result.counts.get("accepted", 0) / (time.perf_counter() - started))
            services.close()
    finally:
        sink.terminate()
        sink.wait()
    return {
        "subscribers": size,
        "rounds": rounds,
        "message_bytes": message_bytes,
        "connections": CONNECTIONS,
        "helper_processes": helpers,
        "accepted": result.counts.get("accepted", 0),
        "ours_messages_per_s": round(statistics.median(ours)),
        "smtp_source_messages_per_s": round(statistics.median(ceilings)),
        "ratio_of_ceiling": round(statistics.median(ours) / statistics.median(ceilings), 2),
        "rounds_ours": [round(x) for x in ours],
        "rounds_ceiling": [round(x) for x in ceilings],
        "load_average_1m": round(os.getloadavg()[0], 1),
        "peak_rss_mb": peak_rss_mb(),
    }


if __name__ == "__main__":
    from benchmarks._runner import run_one

    run_one(main)
