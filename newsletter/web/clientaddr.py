"""The client's address and scheme: decided here, once per request, for every caller.

Behind a reverse proxy the TCP peer is the proxy; the client is in ``X-Forwarded-For``.
That header is whatever the sender wrote, so it is believed only when the peer is one of
``web.trusted_proxies`` (empty by default: nobody's). Then the client is the right-most
hop that is not itself a trusted proxy (proxies append the address they saw; everything
left of the last untrusted hop was written by the client). ``X-Forwarded-Proto`` is
believed on the same terms. ``serve`` runs uvicorn with its own proxy handling off, so
this middleware sees the real peer.

Rate limits, admin login throttling and consent records all read ``request.client``
(:func:`newsletter.web.deps.client_ip`), which this middleware has set.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from starlette.types import ASGIApp, Receive, Scope, Send

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_ip(text: str) -> Address | None:
    """``text`` as an IP address (v4-mapped IPv6 as IPv4), or ``None``. A port some proxies
    add (``192.0.2.1:5678``, ``[2001:db8::1]:443``) is dropped."""
    host = text.strip()
    if host.startswith("[") and "]" in host:
        host = host[1 : host.index("]")]
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def is_trusted(host: str, trusted: Sequence[Network]) -> bool:
    """Whether ``host`` is an address inside one of the ``trusted`` networks."""
    address = parse_ip(host)
    return address is not None and any(address in network for network in trusted)


def resolve_client(peer: str, forwarded_for: Sequence[str], trusted: Sequence[Network]) -> str:
    """The client's address given the TCP ``peer`` and the ``X-Forwarded-For`` hops (left to
    right): the peer itself unless it is trusted, else the right-most untrusted hop."""
    if not is_trusted(peer, trusted):
        return peer
    client = peer
    for hop in reversed(forwarded_for):
        address = parse_ip(hop)
        if address is None:
            break  # garbage where a proxy should have written an address: stop believing
        client = str(address)
        if not any(address in network for network in trusted):
            break
    return client


class ClientAddress:
    """ASGI middleware: sets ``scope["client"]`` and ``scope["scheme"]`` as decided above."""

    def __init__(self, app: ASGIApp, *, trusted: Sequence[Network]) -> None:
        self.app = app
        self.trusted = list(trusted)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and self.trusted and scope.get("client"):
            host, port = scope["client"]
            if is_trusted(host, self.trusted):
                self._apply_forwarded(scope, host, port)
        await self.app(scope, receive, send)

    def _apply_forwarded(self, scope: Scope, host: str, port: int) -> None:
        headers = _header_values(scope)
        hops = [hop.strip() for value in headers.get(b"x-forwarded-for", []) for hop in value]
        scope["client"] = (resolve_client(host, [h for h in hops if h], self.trusted), port)
        protos = [p.strip().lower() for v in headers.get(b"x-forwarded-proto", []) for p in v]
        if protos and protos[-1] in ("http", "https"):
            scope["scheme"] = protos[-1] if scope["type"] == "http" else _ws(protos[-1])


def _header_values(scope: Scope) -> dict[bytes, list[list[str]]]:
    found: dict[bytes, list[list[str]]] = {}
    for name, value in scope.get("headers", []):
        key = name.lower()
        if key in (b"x-forwarded-for", b"x-forwarded-proto"):
            found.setdefault(key, []).append(value.decode("latin-1").split(","))
    return found


def _ws(scheme: str) -> str:
    return "wss" if scheme == "https" else "ws"
