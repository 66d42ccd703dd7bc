"""The editors' login: one password from the environment, a signed session cookie, CSRF.

- No ``NEWSLETTER_ADMIN_PASSWORD``, no dashboard: every ``/admin`` route answers 404.
- The session cookie (``nl_admin``) is signed with itsdangerous, HttpOnly, SameSite=Strict,
  ``Secure`` on https, valid for :data:`SESSION_MAX_AGE`. It carries a random session id, a
  random CSRF token and a fingerprint of the password, so changing the password logs every
  session out. The session id is also recorded server-side (``admin_sessions``, by hash):
  the dependencies accept a cookie only while its row is active, so logout ends it for good.
- Every form carries the session's CSRF token (the login form a token bound to a
  pre-login cookie), checked in constant time.
- Logins are limited per client address: ``web.login_rate_limit`` attempts per
  :data:`LOGIN_WINDOW` (kept in memory: a restart forgets them, which only helps the owner).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException, Request
from fastapi.responses import Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

SESSION_COOKIE = "nl_admin"
LOGIN_COOKIE = "nl_admin_login"
CSRF_FIELD = "csrf_token"
SESSION_MAX_AGE = 12 * 3600
LOGIN_WINDOW = 15 * 60.0


@dataclass(frozen=True)
class AdminSession:
    """A logged-in editor: the session's id and the CSRF token its forms must carry."""

    csrf: str
    sid: str

    @property
    def key(self) -> str:
        """What ``admin_sessions`` stores for this session: the hash of its id."""
        return session_key(self.sid)


def session_key(sid: str) -> str:
    """The server-side key of a session id (sha256): the table never holds the id itself."""
    return hashlib.sha256(sid.encode()).hexdigest()


class AdminAuth:
    """Password check, session cookies, CSRF tokens and the login rate limit."""

    def __init__(self, *, password: str, secret_key: str, login_limit: int) -> None:
        self._password = password.encode()
        self._fingerprint = hmac.new(
            secret_key.encode(), b"admin-password:" + self._password, hashlib.sha256
        ).hexdigest()[:32]
        self._serializer = URLSafeTimedSerializer(secret_key, salt="newsletter-admin-session")
        self._login_key = hmac.new(
            secret_key.encode(), b"admin-login-csrf", hashlib.sha256
        ).digest()
        self._limit = login_limit
        self._attempts: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check_password(self, given: str) -> bool:
        """Whether ``given`` is the admin password (constant time)."""
        return hmac.compare_digest(given.encode(), self._password)

    def allow_login_attempt(self, client: str, *, now: float | None = None) -> bool:
        """Count one login attempt from ``client``; False when over the limit."""
        if self._limit <= 0:
            return True
        moment = time.monotonic() if now is None else now
        with self._lock:
            recent = self._attempts.setdefault(client, deque())
            while recent and recent[0] <= moment - LOGIN_WINDOW:
                recent.popleft()
            if len(recent) >= self._limit:
                return False
            recent.append(moment)
            return True

    def forget_attempts(self, client: str) -> None:
        """A successful login clears the client's count."""
        with self._lock:
            self._attempts.pop(client, None)

    def new_session(self, response: Response, *, secure: bool) -> AdminSession:
        """Start a session: set the signed cookie on ``response`` (the caller records it)."""
        session = AdminSession(csrf=secrets.token_urlsafe(24), sid=secrets.token_urlsafe(32))
        value = self._serializer.dumps(
            {"csrf": session.csrf, "sid": session.sid, "pw": self._fingerprint}
        )
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
        if not isinstance(data, dict) or data.get("pw") != self._fingerprint:
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
