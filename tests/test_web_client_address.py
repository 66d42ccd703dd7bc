"""Whose address is the client's: X-Forwarded-For counts only from ``web.trusted_proxies``
(issue 11, point 4). Through a real uvicorn server, and the real ``newsletter serve``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import yaml
from sqlalchemy import select

from newsletter.services import Services
from newsletter.settings import load_settings
from newsletter.web.clientaddr import resolve_client
from subscribers.models import ConsentRecord
from tests.admin_support import OWNER, PASSWORD, csrf_of, open_project
from tests.fixtures.web import add_subscriber, live_server, token_url
from tests.scheduler_helpers import wait_for

NEWSLETTER = [sys.executable, "-c", "from newsletter.cli import main; main()"]


def _trust(config_path: Path, proxies: list[str]) -> None:
    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    config.setdefault("web", {})["trusted_proxies"] = proxies
    config_path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")


@contextmanager
def _site(config_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Services]]:
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", "test-secret-key-0123456789abcdef")
    with live_server(config_path, lambda: Services.open(load_settings(config_path))) as site:
        yield site


def _sign_up(client: httpx.Client, url: str, n: int, forwarded: str) -> int:
    data = {"email": f"r{n}@example.com", "newsletters": ["weekly"]}
    headers = {"X-Forwarded-For": forwarded}
    return client.post(f"{url}/subscribe", data=data, headers=headers).status_code


def _consent_ips(services: Services) -> list[str]:
    with services.sessions() as session:
        return list(session.scalars(select(ConsentRecord.ip).order_by(ConsentRecord.id)))


def test_rotating_forwarded_for_from_an_untrusted_peer_neither_resets_limits_nor_forges_ips(
    config_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with _site(config_path, monkeypatch) as (url, services), httpx.Client() as client:
        codes = [_sign_up(client, url, n, f"198.51.100.{n}") for n in range(12)]
        assert codes == [200] * 10 + [429] * 2  # web.subscribe_rate_limit_per_ip = 10
        assert set(_consent_ips(services)) == {"127.0.0.1"}
        assert not _secure_cookie(client, services, {"X-Forwarded-Proto": "https"})


def _secure_cookie(client: httpx.Client, services: Services, headers: dict[str, str]) -> bool:
    """Whether the preferences page marks its session cookie Secure (an HTTPS request)."""
    sid = add_subscriber(services, f"c{len(headers)}{id(headers)}@example.com")
    page = client.get(token_url(services, "preferences", sid), headers=headers)
    assert page.status_code == 200
    return "secure" in page.headers["set-cookie"].lower()


def test_forwarded_for_from_a_trusted_proxy_names_the_client(
    config_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _trust(config_path, ["127.0.0.0/8", "10.0.0.0/8"])
    with _site(config_path, monkeypatch) as (url, services), httpx.Client() as client:
        # The client wrote the first hop itself; the proxies appended the rest.
        forged = "6.6.6.6, 203.0.113.7, 10.1.2.3"
        codes = [
            _sign_up(client, url, n, f"{forged if n == 0 else f'198.51.100.{n}'}")
            for n in range(12)
        ]
        assert codes == [200] * 12  # a different client each time behind the proxy
        ips = _consent_ips(services)
        assert ips[0] == "203.0.113.7" and ips[1:] == [f"198.51.100.{n}" for n in range(1, 12)]
        assert _secure_cookie(client, services, {"X-Forwarded-Proto": "https"})
        assert not _secure_cookie(client, services, {})


def test_admin_login_limit_holds_against_rotating_forwarded_for(
    config_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    open_project(config_path, monkeypatch, readers=0).close()
    monkeypatch.setenv("NEWSLETTER_ADMIN_PASSWORD", PASSWORD)
    with _site(config_path, monkeypatch) as (url, _services), httpx.Client() as client:
        codes = []
        for n in range(7):
            csrf = csrf_of(client.get(f"{url}/admin/login").text)
            response = client.post(
                f"{url}/admin/login",
                data={"email": OWNER, "password": f"guess {n}", "csrf_token": csrf},
                headers={"X-Forwarded-For": f"192.0.2.{n}"},
            )
            codes.append(response.status_code)
        assert codes == [401] * 5 + [429] * 2  # web.login_rate_limit = 5


@pytest.mark.parametrize(
    ("peer", "hops", "client"),
    [
        ("127.0.0.1", ["1.2.3.4"], "127.0.0.1"),  # nothing trusted
        ("10.0.0.1", ["1.2.3.4", "5.6.7.8"], "5.6.7.8"),
        ("10.0.0.1", ["1.2.3.4", "10.0.0.9"], "1.2.3.4"),
        ("10.0.0.1", ["10.0.0.8", "10.0.0.9"], "10.0.0.8"),  # all proxies: the left-most
        ("10.0.0.1", ["not an ip"], "10.0.0.1"),
        ("10.0.0.1", [], "10.0.0.1"),
        ("::ffff:10.0.0.1", ["2001:db8::1"], "2001:db8::1"),
        ("10.0.0.1", ["1.2.3.4", "5.6.7.8:5678"], "5.6.7.8"),  # a port some proxies add
        ("10.0.0.1", ["[2001:db8::2]:443"], "2001:db8::2"),
    ],
)
def test_right_most_untrusted_hop(peer: str, hops: list[str], client: str) -> None:
    import ipaddress

    trusted = [] if peer == "127.0.0.1" else [ipaddress.ip_network("10.0.0.0/8")]
    assert resolve_client(peer, hops, trusted) == client


def test_serve_does_not_believe_forwarded_for_from_loopback(
    config_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real ``newsletter serve`` (uvicorn trusts local proxies by default)."""
    env = {**os.environ, "NEWSLETTER_SECRET_KEY": "test-secret-key-0123456789abcdef"}
    process = subprocess.Popen(
        [*NEWSLETTER, "--config", str(config_path), "serve", "--port", "0", "--no-scheduler"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout or []), daemon=True)
    reader.start()
    try:
        assert wait_for(lambda: "Uvicorn running on" in "".join(lines), timeout=30), lines
        match = re.search(r"Uvicorn running on (http://\S+)", "".join(lines))
        assert match
        with httpx.Client() as client:
            response = client.post(
                f"{match[1]}/subscribe",
                data={"email": "serve@example.com", "newsletters": ["weekly"]},
                headers={"X-Forwarded-For": "203.0.113.99"},
            )
        assert response.status_code == 200
        services = Services.open(load_settings(config_path))
        try:
            assert _consent_ips(services) == ["127.0.0.1"]
        finally:
            services.close()
    finally:
        process.terminate()
        process.wait(timeout=15)
        reader.join(timeout=5)
