"""Person or machine: every hit gets a verdict and, for a machine, the reason.

Two kinds of rule (docs/tracking.md):

- about the request alone (:func:`request_reason`, decided when it arrives): ``head``
  (a HEAD request), ``prefetch`` (``Purpose``/``Sec-Purpose``/``X-Purpose``/``X-Moz``
  say prefetch or preview), ``agent:NAME`` (a known link scanner, proxy or security
  gateway), and for the pixel ``proxy:NAME`` (an image proxy: Google's, Apple Mail Privacy
  Protection's);
- about one reader's hits together (:func:`verdicts`, re-run over a reader's hits whenever
  new ones arrive): ``trap`` (the hidden link), ``trap-window`` (any hit within
  :data:`TRAP_WINDOW` of a trap hit by the same email), ``after-head`` (a GET of a link
  the same email HEADed just before), ``burst`` (:data:`BURST_LINKS` or more different
  links of one email within :data:`BURST_SECONDS`).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from newsletter.tracking.models import LinkKind

TRAP_WINDOW = 60.0
BURST_SECONDS = 3.0
BURST_LINKS = 2
HEAD_THEN_GET_SECONDS = 30.0

#: Link scanners, preview proxies and security gateways, by a word of their User-Agent
#: (case-insensitive). Small on purpose: the other rules catch the scanners that pose as
#: browsers. Names are what reports show.
SCANNER_AGENTS: Mapping[str, str] = {
    "barracuda": "Barracuda",
    "mimecast": "Mimecast",
    "proofpoint": "Proofpoint",
    "safelinks": "Microsoft Safe Links",
    "microsoft office": "Microsoft Office preview",
    "ms-office": "Microsoft Office preview",
    "bingpreview": "Bing preview",
    "forcepoint": "Forcepoint",
    "trendmicro": "Trend Micro",
    "sophos": "Sophos",
    "fortiguard": "FortiGuard",
    "symantec": "Symantec",
    "cisco": "Cisco",
    "ironport": "Cisco IronPort",
    "zscaler": "Zscaler",
    "paloalto": "Palo Alto",
    "virustotal": "VirusTotal",
    "urlscan": "urlscan",
    "googleimageproxy": "Google image proxy",
    "yahoomailproxy": "Yahoo image proxy",
    "slackbot": "Slack preview",
    "facebookexternalhit": "Facebook preview",
    "twitterbot": "Twitter preview",
    "kakaotalk-scrap": "KakaoTalk preview",
    "python-requests": "script",
    "curl/": "script",
    "wget/": "script",
    "go-http-client": "script",
    "bot": "bot",
    "spider": "bot",
    "crawler": "bot",
}
_SCANNER = re.compile("|".join(re.escape(word) for word in SCANNER_AGENTS), re.IGNORECASE)
#: Apple Mail Privacy Protection fetches images from Apple's own network.
APPLE_NETWORK = ipaddress.ip_network("17.0.0.0/8")
_PREFETCH = re.compile(r"prefetch|preview|prerender", re.IGNORECASE)


def request_reason(
    *, method: str, kind: str, user_agent: str, headers: Mapping[str, str], client: str
) -> str:
    """Why this request alone is a machine's, or "" (``headers`` with lower-case names)."""
    if method == "HEAD":
        return "head"
    for name in ("purpose", "sec-purpose", "x-purpose", "x-moz"):
        if _PREFETCH.search(headers.get(name, "")):
            return "prefetch"
    if not user_agent.strip():
        return "agent:none"
    found = _SCANNER.search(user_agent)
    if kind == LinkKind.OPEN:
        if found and found[0].lower() in ("googleimageproxy", "yahoomailproxy"):
            return f"proxy:{SCANNER_AGENTS[found[0].lower()]}"
        if _in_apple_network(client):
            return "proxy:Apple Mail Privacy Protection"
    if found:
        return f"agent:{SCANNER_AGENTS[found[0].lower()]}"
    return ""


def _in_apple_network(client: str) -> bool:
    try:
        return ipaddress.ip_address(client) in APPLE_NETWORK
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class ReaderHit:
    """One hit of a reader, as the window rules need it."""

    id: int
    at: datetime
    kind: str
    index: int
    method: str
    hit_reason: str


def verdicts(hits: Sequence[ReaderHit]) -> dict[int, str]:
    """Hit id → final reason ("" for a person) for one reader's hits of one send."""
    ordered = sorted(hits, key=lambda hit: (hit.at, hit.id))
    result = {hit.id: hit.hit_reason for hit in ordered}
    traps = [hit.at for hit in ordered if hit.kind == LinkKind.TRAP]
    for hit in ordered:
        if hit.kind == LinkKind.TRAP:
            result[hit.id] = "trap"
        elif not result[hit.id] and any(
            abs((hit.at - at).total_seconds()) <= TRAP_WINDOW for at in traps
        ):
            result[hit.id] = "trap-window"
    _after_head(ordered, result)
    _bursts(ordered, result)
    return result


def _after_head(ordered: Sequence[ReaderHit], result: dict[int, str]) -> None:
    heads: dict[int, datetime] = {}
    for hit in ordered:
        if hit.method == "HEAD":
            heads[hit.index] = hit.at
        elif (
            hit.index in heads
            and not result[hit.id]
            and (hit.at - heads[hit.index]).total_seconds() <= HEAD_THEN_GET_SECONDS
        ):
            result[hit.id] = "after-head"


def _bursts(ordered: Sequence[ReaderHit], result: dict[int, str]) -> None:
    clicks = [hit for hit in ordered if hit.kind == LinkKind.LINK]
    for start, first in enumerate(clicks):
        window = [
            hit for hit in clicks[start:] if (hit.at - first.at).total_seconds() <= BURST_SECONDS
        ]
        if len({hit.index for hit in window}) >= BURST_LINKS:
            for hit in window:
                if not result[hit.id]:
                    result[hit.id] = "burst"
