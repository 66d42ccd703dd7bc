"""Mailbox providers by MX: a company domain on Google Workspace or Naver Works counts under
Gmail or Naver, for its clicks and its deliveries alike; a DNS server that does not answer
leaves the send unharmed and the domain ``other``.

A real UDP DNS server in the test (dnspython's wire format) answers the MX lookups. The
domains below are only ever asked of it (``tracking.dns_servers``); email-validator refuses
the reserved ``.test`` names, so they are made-up ``.kr`` names.
"""

from __future__ import annotations

import socket
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest
from pydantic import ValidationError

from newsletter.settings import Settings, TrackingSettings
from newsletter.tracking.mx import MxLookup, clear_cache
from newsletter.tracking.report import engagement_for_issue
from tests.tracking_support import (
    Tracked,
    app_client,
    delivered,
    flush,
    path_of,
    send_issue,
    tracked_links,
)

pytestmark = pytest.mark.db
BROWSER = {
    "user-agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15"
    " (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
}
#: Domain → its MX records (preference, exchange); a domain not here is NXDOMAIN.
ZONE: dict[str, list[tuple[int, str]]] = {
    "example-corp.kr": [(1, "aspmx.l.google.com."), (5, "alt1.aspmx.l.google.com.")],
    "naver-works.kr": [(10, "mx1.worksmobile.com."), (20, "mx2.worksmobile.com.")],
    # Its own gateway first, Google only as a backup: not Gmail.
    "own-gateway.kr": [(10, "mx.own-gateway.kr."), (20, "aspmx.l.google.com.")],
}
READERS = (
    "boss@example-corp.kr",
    "staff@Example-Corp.kr",  # the same domain: looked up once
    "kim@naver-works.kr",
    "lee@unknown-host.kr",
    "park@own-gateway.kr",
    "minji@naver.com",  # well known: never looked up
)


@dataclass
class DnsServer:
    """A UDP DNS server on 127.0.0.1 answering MX questions from :data:`ZONE`."""

    answer: bool = True
    asked: Counter[str] = field(default_factory=Counter)
    sock: socket.socket = field(default_factory=lambda: socket.socket(type=socket.SOCK_DGRAM))

    @property
    def address(self) -> str:
        host, port = self.sock.getsockname()
        return f"{host}:{port}"

    def serve(self) -> None:
        while True:
            try:
                wire, peer = self.sock.recvfrom(4096)
            except OSError:  # closed: the test is over
                return
            query = dns.message.from_wire(wire)
            name = query.question[0].name.to_text(omit_final_dot=True).lower()
            self.asked[name] += 1
            if not self.answer:
                continue  # a server that never answers: the lookup times out
            response = dns.message.make_response(query)
            records = ZONE.get(name)
            if records is None:
                response.set_rcode(dns.rcode.NXDOMAIN)
            elif query.question[0].rdtype == dns.rdatatype.MX:
                texts = [f"{preference} {host}" for preference, host in records]
                response.answer.append(dns.rrset.from_text(f"{name}.", 300, "IN", "MX", *texts))
            self.sock.sendto(response.to_wire(), peer)


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    clear_cache()
    yield
    clear_cache()


@pytest.fixture
def dns_server() -> Iterator[DnsServer]:
    server = DnsServer()
    server.sock.bind(("127.0.0.1", 0))
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    yield server
    server.sock.close()
    thread.join(5)


@pytest.fixture
def silent_server() -> Iterator[DnsServer]:
    server = DnsServer(answer=False)
    server.sock.bind(("127.0.0.1", 0))
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    yield server
    server.sock.close()
    thread.join(5)


def closed_port() -> str:
    """A local UDP port nothing listens on (bound, then closed)."""
    with socket.socket(type=socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        host, port = sock.getsockname()
    return f"{host}:{port}"


def click_each(services: object, readers: tuple[str, ...]) -> None:
    """Every reader but the last clicks their first link once, as a person."""
    from newsletter.services import Services

    assert isinstance(services, Services)
    with app_client(services) as client:
        for email in readers[:-1]:
            first = path_of(tracked_links(delivered(services, email))[0])
            assert client.get(first, headers=BROWSER).status_code == 302
        flush(client)


def by_provider(services: object) -> dict[str, tuple[int, int]]:
    from newsletter.services import Services

    assert isinstance(services, Services)
    report = engagement_for_issue(services, "hello")
    return {p.provider: (p.delivered, p.clickers) for p in report.providers}


@pytest.mark.parametrize("mode", ["per_reader", "aggregate"])
def test_a_company_domain_counts_under_the_provider_of_its_mx(
    tracked: Tracked, dns_server: DnsServer, mode: str
) -> None:
    services = tracked(tracking=mode, dns={"dns_servers": [dns_server.address]})
    send_issue(services, readers=READERS)
    click_each(services, READERS)  # minji@naver.com, last, does not click
    assert by_provider(services) == {
        "gmail": (2, 2),  # both example-corp.kr readers: Google Workspace
        "naver": (2, 1),  # naver-works.kr (Naver Works) clicked; naver.com did not
        "daum": (0, 0),
        "outlook": (0, 0),
        "icloud": (0, 0),
        "other": (2, 2),  # unknown-host.kr (no such domain), own-gateway.kr (own MX first)
    }
    # One lookup per domain and send; none for a well-known domain.
    assert dict(dns_server.asked) == {
        "example-corp.kr": 1,
        "naver-works.kr": 1,
        "unknown-host.kr": 1,
        "own-gateway.kr": 1,
    }


def test_the_process_cache_spares_the_next_send_the_lookup(dns_server: DnsServer) -> None:
    settings = TrackingSettings(dns_servers=[dns_server.address])
    assert MxLookup(settings).provider("example-corp.kr") == "gmail"
    assert MxLookup(settings).provider("example-corp.kr") == "gmail"  # another send
    assert dns_server.asked["example-corp.kr"] == 1


@pytest.mark.parametrize("server", ["closed port", "never answers"])
def test_a_dns_server_that_does_not_answer_leaves_the_send_unharmed(
    tracked: Tracked, silent_server: DnsServer, server: str
) -> None:
    address = closed_port() if server == "closed port" else silent_server.address
    services = tracked(tracking="per_reader", dns={"dns_servers": [address], "dns_timeout": 0.3})
    send_issue(services, readers=READERS)  # asserts the send finished "sent"
    click_each(services, READERS)
    assert by_provider(services) == {
        "gmail": (0, 0),
        "naver": (1, 0),  # naver.com needs no lookup
        "daum": (0, 0),
        "outlook": (0, 0),
        "icloud": (0, 0),
        "other": (5, 5),
    }


@pytest.mark.parametrize(
    "bad", ["dns.example.org", "10.0.0.1:99999", "[::1", "[::1]53", "1.2.3.4:x"]
)
def test_a_bad_dns_server_setting_is_refused_by_name(bad: str) -> None:
    with pytest.raises(ValidationError, match="is not a DNS server address"):
        Settings.model_validate({"tracking": {"dns_servers": [bad]}})
