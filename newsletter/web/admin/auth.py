"""The editors' login: accounts (newsletter.accounts), a signed session cookie, CSRF.

- No account (and no ``NEWSLETTER_ADMIN_PASSWORD`` to bootstrap the first owner), no
  dashboard: every ``/admin`` route answers 404.
- The session cookie (``nl_admin``) is signed with itsdangerous, HttpOnly, SameSite=Strict,
  ``Secure`` on https, valid for :data:`SESSION_MAX_AGE`. It carries a random session id
  and a random CSRF token. The session id is recorded server-side (``admin_sessions``, by
  hash, with its account): the dependencies accept a cookie only while its row is active,
  so logout, removal, a role or password change end it for good.
- Every form carries the session's CSRF token (the login form a token bound to a
  pre-login cookie), checked in constant time.
- Logins are throttled in the database (newsletter.accounts.throttle).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException, Request
from fastapi.responses import Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from newsletter.accounts.models import Role

SESSION_COOKIE = "nl_admin"
LOGIN_COOKIE = "nl_admin_login"
CSRF_FIELD = "csrf_token"
SESSION_MAX_AGE = 12 * 3600


@dataclass(frozen=True)
class AdminSession:
    """A logged-in editor: the session's id, the CSRF token its forms must carry, and (once
    checked server-side) the account: its id, email and role."""

    csrf: str
    sid: str
    account_id: int = 0
    email: str = ""
    role: Role = Role.VIEWER
    has_totp: bool = False

    @property
    def actor(self) -> str:
        """How the audit log names whoever acts through this session."""
        return self.email[:64]  # the audit columns hold 64 characters

    @property
    def key(self) -> str:
        """What ``admin_sessions`` stores for this session: the hash of its id."""
        return session_key(self.sid)


def session_key(sid: str) -> str:
    """The server-side key of a session id (sha256): the table never holds the id itself."""
    return hashlib.sha256(sid.encode()).hexdigest()


class AdminAuth:
    """Session cookies and CSRF tokens."""

    def __init__(self, *, secret_key: str) -> None:
        self._serializer = URLSafeTimedSerializer(secret_key, salt="newsletter-admin-session")
        self._login_key = hmac.new(
            secret_key.encode(), b"admin-login-csrf", hashlib.sha256
        ).digest()

    def new_session(self, response: Response, *, secure: bool) -> AdminSession:
        """Start a session: set the signed cookie on ``response`` (the caller records it)."""
        session = AdminSession(csrf=secrets.token_urlsafe(24), sid=secrets.token_urlsafe(32))
        value = self._serializer.dumps({"csrf": session.csrf, "sid": session.sid})
        response.set_cookie(
            SESSION_COOKIE,
            value,
            max_age=SESSION_MAX_AGE,
            httponly=True,
            samesite="strict",
            secure=secure,
            path="/admin",
        )
        response.delete_cookie(LOGIN_COOKIE, path="/admin")
        return session

    def session(self, request: Request) -> AdminSession | None:
        """The request's validly signed session, if any (not yet checked server-side)."""
        raw = request.cookies.get(SESSION_COOKIE)
        if not raw:
            return None
        try:
            data: Any = self._serializer.loads(raw, max_age=SESSION_MAX_AGE)
        except BadSignature:
            return None
        if not isinstance(data, dict):
            return None
        csrf, sid = data.get("csrf"), data.get("sid")
        if not (isinstance(csrf, str) and csrf and isinstance(sid, str) and sid):
            return None  # a cookie from before server-side sessions: log in again
        return AdminSession(csrf=csrf, sid=sid)

    @staticmethod
    def end_session(response: Response) -> None:
        """Log out: drop the cookie."""
        response.delete_cookie(SESSION_COOKIE, path="/admin")

    @staticmethod
    def check_csrf(session: AdminSession, given: str | None) -> None:
        """403 unless the form carried this session's CSRF token."""
        if not given or not hmac.compare_digest(given, session.csrf):
            raise HTTPException(status_code=403, detail="missing or invalid CSRF token")

    def login_form(self, request: Request) -> tuple[str, str | None]:
        """(the login form's CSRF token, a new pre-login nonce to set as cookie or None)."""
        nonce = request.cookies.get(LOGIN_COOKIE) or ""
        fresh = None
        if len(nonce) < 16:
            nonce = fresh = secrets.token_urlsafe(18)
        return self._login_token(nonce), fresh

    @staticmethod
    def set_login_cookie(response: Response, nonce: str) -> None:
        """Send the pre-login nonce the login form's token is bound to."""
        response.set_cookie(
            LOGIN_COOKIE, nonce, max_age=3600, httponly=True, samesite="strict", path="/admin"
        )

    def _login_token(self, nonce: str) -> str:
        return hmac.new(self._login_key, nonce.encode(), hashlib.sha256).hexdigest()

    def check_login_token(self, request: Request, given: str | None) -> None:
        """403 unless the login form's token matches this browser's pre-login cookie."""
        nonce = request.cookies.get(LOGIN_COOKIE) or ""
        if len(nonce) < 16 or not given:
            raise HTTPException(status_code=403, detail="missing or invalid CSRF token")
        if not hmac.compare_digest(given, self._login_token(nonce)):
            raise HTTPException(status_code=403, detail="missing or invalid CSRF token")
