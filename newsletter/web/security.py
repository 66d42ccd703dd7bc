"""Security headers on every response, in one place (an ASGI middleware).

Every response gets ``X-Content-Type-Options: nosniff`` and ``Referrer-Policy:
no-referrer`` (token pages must not leak their URL; nothing else needs a referrer). Every
HTML response also gets a Content-Security-Policy and ``X-Frame-Options: DENY``: no
script, no external host for styles, fonts or frames, forms only to this site, and
``frame-ancestors 'none'`` (no page is meant to be framed). A route that needs another
policy sets its own header, and the middleware then adds neither it nor
``X-Frame-Options``: the pages showing an issue (``/archive/{slug}``, the admin preview)
use :data:`ISSUE_CONTENT_POLICY`, which also allows the issue's https images; the
embeddable sign-up snippet (``/embed/{newsletter}``), the one thing meant to live on other
sites, uses :data:`EMBED_POLICY`, which any site may frame.
"""

from __future__ import annotations

import base64
import hashlib

from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: The policy of every HTML page: nothing but inline styles and this site's images.
PAGE_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
#: Pages that show an issue's content: its images may live on any https host.
ISSUE_CONTENT_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data: https:; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
#: The embeddable sign-up snippet: its own small script, posting to this site; any site
#: may frame it (a sign-up only mails a confirmation to the address typed).
EMBED_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors *"
)
#: The sign-up page's one script: the browser's timezone into the form's hidden hint
#: (``Intl``; an unknown name is dropped by the server, never refusing the sign-up).
TIMEZONE_HINT_SCRIPT = (
    'document.querySelectorAll("input[data-nl-timezone]").forEach(function (input) {'
    " try { input.value = Intl.DateTimeFormat().resolvedOptions().timeZone || ''; }"
    " catch (error) { input.value = ''; } });"
)
#: The sign-up page: the page policy plus exactly that script (by its hash).
SUBSCRIBE_POLICY = PAGE_POLICY + (
    "; script-src 'sha256-"
    + base64.b64encode(hashlib.sha256(TIMEZONE_HINT_SCRIPT.encode()).digest()).decode()
    + "'"
)
_EVERY_RESPONSE = ((b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"))


class SecurityHeaders:
    """Adds the headers above to each HTTP response that does not set them itself."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; add the missing headers to the response's start."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = with_security_headers(list(message.get("headers", [])))
            await send(message)

        await self.app(scope, receive, send_with_headers)


def with_security_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """``headers`` plus whichever security headers they lack (CSP only for HTML)."""
    given = {name.lower(): value for name, value in headers}
    wanted: list[tuple[bytes, bytes]] = list(_EVERY_RESPONSE)
    if given.get(b"content-type", b"").startswith(b"text/html"):
        policy = given.get(b"content-security-policy", PAGE_POLICY.encode())
        wanted.append((b"content-security-policy", policy))
        if b"frame-ancestors 'none'" in policy:  # a route's own policy decides its framing
            wanted.append((b"x-frame-options", b"DENY"))
    return headers + [(name, value) for name, value in wanted if name not in given]
