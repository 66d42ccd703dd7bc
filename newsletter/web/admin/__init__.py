"""The editors' dashboard under /admin, one package.

``routes`` (login, issues, sends) includes ``subscribers`` (people) and ``integrations``
(API keys, webhooks); each route is thin and calls ``actions``. ``auth`` (sessions, login
form), ``deps`` (FastAPI dependencies, rendering), ``store`` (all admin SQL), ``models``
(server-side sessions, failed logins) and ``charts`` sit below them.
"""

from __future__ import annotations

from newsletter.web.admin.routes import router

__all__ = ["router"]
