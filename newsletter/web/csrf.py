"""CSRF tokens for the preferences forms, tied to both the page token and the browser.

The form token is ``HMAC(secret, page token + browser session id)``. The session id is a
random, HttpOnly, SameSite=Lax cookie set when the page is shown. A form token therefore
only works in the browser that loaded the page, for the subscriber whose link it was: a
session of someone else cannot change the owner's settings, and a page loaded for one
subscriber cannot post for another.

One-click unsubscribe (RFC 8058) deliberately needs neither cookie nor token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from starlette.requests import Request
from starlette.responses import Response

COOKIE = "nl_session"
FIELD = "csrf_token"
_LABEL = b"newsletter-web-csrf-v1"


class CsrfKey:
    """Makes and checks form tokens with a key derived from the site's secret key."""

    def __init__(self, secret_key: str) -> None:
        self._key = hmac.new(secret_key.encode(), _LABEL, hashlib.sha256).digest()

    def token(self, page_token: str, session_id: str) -> str:
        """The form token for ``page_token`` in the browser session ``session_id``."""
        message = f"{page_token}\0{session_id}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def check(self, page_token: str, session_id: str | None, form_token: str | None) -> bool:
        """Whether ``form_token`` was made for this page token in this browser session."""
        if not session_id or not form_token:
            return False
        return hmac.compare_digest(self.token(page_token, session_id), form_token)


def session_id(request: Request) -> str | None:
    """The browser session id from the cookie, if the browser sent a well-formed one."""
    value = request.cookies.get(COOKIE)
    if value and 20 <= len(value) <= 64 and value.replace("-", "").replace("_", "").isalnum():
        return value
    return None


def new_session_id() -> str:
    """A fresh, unguessable browser session id."""
    return secrets.token_urlsafe(32)


def set_session_cookie(response: Response, value: str, *, secure: bool) -> None:
    """Send the browser session cookie (HttpOnly, SameSite=Lax, one day)."""
    response.set_cookie(
        COOKIE, value, max_age=86400, httponly=True, samesite="lax", secure=secure, path="/"
    )
