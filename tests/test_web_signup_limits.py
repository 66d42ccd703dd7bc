"""Sign-up limits hold against spellings, parallel requests and IPv6 rotation; suppressed
addresses get no automated mail (issue 11, point 3). Real uvicorn, real database."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import yaml

from newsletter.db import transaction
from newsletter.services import Services
from newsletter.settings import load_settings
from subscribers.addresses import address_hash, mailbox_key
from subscribers.models import Suppression
from subscribers.privacy import mark_bounced, mark_complained
from tests.fixtures.web import LiveSite, Outbox, live_server

ONE = {"newsletters": ["weekly"]}


@contextmanager
def _site(
    config_path: Path, monkeypatch: pytest.MonkeyPatch, *, behind_proxy: bool = False
) -> Iterator[LiveSite]:
    """The site served for real; ``behind_proxy`` trusts loopback's X-Forwarded-For, so a
    test can speak as many clients."""
    if behind_proxy:
        config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
        config["web"] = {"trusted_proxies": ["127.0.0.1"]}
        config_path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", "test-secret-key-0123456789abcdef")
    with live_server(config_path, lambda: Services.open(load_settings(config_path))) as (
        url,
        services,
    ):
        settings = services.settings
        yield LiveSite(url, services, Outbox(settings.path(settings.delivery.outbox_dir)))


def _parallel(count: int, post: Callable[[int], int]) -> Counter[int]:
    """``post(n)`` for n in range(count), all released at once; status code → how many."""
    barrier = threading.Barrier(count)

    def run(n: int) -> int:
        barrier.wait()
        return post(n)

    with ThreadPoolExecutor(count) as pool:
        return Counter(pool.map(run, range(count)))


SPELLINGS = [
    "target@example.net",
    "target@ｅxample.net",
    "target@example。net",
    "TARGET@EXAMPLE.NET",
    "ｔａｒｇｅｔ@example.net",
    "target+news@example.net",
    "target@example．net",
    "Target@Example。Net",
]


def test_every_spelling_of_one_mailbox_shares_one_key() -> None:
    assert {mailbox_key(s) for s in SPELLINGS} == {"target@example.net"}
    assert mailbox_key("t.a.r.g.e.t+x@GMAIL.com") == mailbox_key("target@gmail.com")
    assert mailbox_key("other@example.net") != mailbox_key("target@example.net")


def test_spellings_of_one_mailbox_share_its_limit(
    config_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with _site(config_path, monkeypatch, behind_proxy=True) as site, httpx.Client() as client:
        codes = [
            client.post(
                f"{site.url}/subscribe",
                data={"email": spelling, **ONE},
                headers={"X-Forwarded-For": f"198.51.100.{n}"},
            ).status_code
            for n, spelling in enumerate(SPELLINGS)
        ]
    assert codes == [200] * 3 + [429] * 5  # web.subscribe_rate_limit_per_address = 3


def test_parallel_sign_ups_from_one_client_get_exactly_the_cap(
    config_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with _site(config_path, monkeypatch) as site:

        def post(n: int) -> int:
            with httpx.Client(timeout=60) as client:
                data = {"email": f"p{n}@example.com", **ONE}
                return client.post(f"{site.url}/subscribe", data=data).status_code

        assert _parallel(40, post) == Counter({200: 10, 429: 30})


def test_parallel_sign_ups_of_one_address_get_exactly_the_cap_and_no_error(
    config_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with _site(config_path, monkeypatch, behind_proxy=True) as site:

        def post(n: int) -> int:
            with httpx.Client(timeout=60) as client:
                return client.post(
                    f"{site.url}/subscribe",
                    data={"email": SPELLINGS[n % len(SPELLINGS)], **ONE},
                    headers={"X-Forwarded-For": f"198.51.100.{n}"},
                ).status_code

        assert _parallel(30, post) == Counter({200: 3, 429: 27})
        assert len(site.outbox.wait_for("@example.net", 3)) == 3  # one mailbox, 3 emails
        assert len(site.outbox.wait_for("@example.net", 4, timeout=1)) == 3


def test_ipv6_clients_are_limited_per_64(
    config_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with _site(config_path, monkeypatch, behind_proxy=True) as site, httpx.Client() as client:

        def post(n: int, client_ip: str) -> int:
            return client.post(
                f"{site.url}/subscribe",
                data={"email": f"v6-{n}@example.com", **ONE},
                headers={"X-Forwarded-For": client_ip},
            ).status_code

        same_64 = [post(n, f"2001:db8:1:2::{n + 1:x}") for n in range(11)]
        other_64 = post(99, "2001:db8:1:3::1")
    assert same_64 == [200] * 10 + [429]
    assert other_64 == 200


def _suppressed_since(services: Services, email: str, days: int) -> None:
    with transaction(services.sessions) as session:
        row = session.get(Suppression, address_hash(email))
        assert row is not None
        row.created_at = row.created_at - timedelta(days=days)


def test_a_complained_address_gets_no_confirmation_email_ever(
    config_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with _site(config_path, monkeypatch) as site, httpx.Client() as client:
        with transaction(site.services.sessions) as session:
            mark_complained(session, email="angry@example.com")
        _suppressed_since(site.services, "angry@example.com", 3650)
        page = client.post(f"{site.url}/subscribe", data={"email": "angry@example.com", **ONE})
        fresh = client.post(f"{site.url}/subscribe", data={"email": "fresh@example.com", **ONE})
        assert page.status_code == 200 and page.text == fresh.text  # the same answer
        assert "editor@example.org" in page.text  # whom to write to instead
        assert site.outbox.wait_for("fresh@example.com")
        assert site.outbox.to("angry@example.com") == []


def test_a_hard_bounce_means_no_mail_for_30_days_then_one_try(
    config_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    address = "gone@example.com"
    with _site(config_path, monkeypatch, behind_proxy=True) as site, httpx.Client() as client:

        def sign_up(n: int) -> None:
            response = client.post(
                f"{site.url}/subscribe",
                data={"email": address, **ONE},
                headers={"X-Forwarded-For": f"198.51.100.{n}"},
            )
            assert response.status_code == 200

        with transaction(site.services.sessions) as session:
            mark_bounced(session, email=address)
        _suppressed_since(site.services, address, 29)
        sign_up(1)
        _suppressed_since(site.services, address, 2)  # day 31 since the bounce
        sign_up(2)
        assert len(site.outbox.wait_for(address)) == 1
        sign_up(3)  # the try restarted the quiet period
        assert len(site.outbox.wait_for(address, 2, timeout=1)) == 1
