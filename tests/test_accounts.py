"""Editors' accounts through the real app and CLI: users add|list|set-role|remove|reset,
one-time links, roles on every admin route, sessions that end, throttling, TOTP."""

from __future__ import annotations

import json
import re
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from newsletter.accounts import service as account_service
from newsletter.accounts.models import AdminAccount
from newsletter.cli import app as cli_app
from newsletter.services import Services
from newsletter.web import create_app
from newsletter.web.admin import deps as admin_deps
from newsletter.web.admin import router as admin_router
from subscribers.db import Base
from subscribers.models import Event
from tests.admin_support import (
    OWNER,
    PASSWORD,
    SLUG,
    add_account,
    admin_services,
    csrf_of,
    login_as,
    outbox_files,
)

__all__ = ["admin_services"]
runner = CliRunner()
VIEWER, EDITOR = "viewer@example.org", "editor@example.org"
#: POST routes every logged-in account may use: about itself, or before a session exists.
SELF_SERVICE = {
    "/admin/login",
    "/admin/logout",
    "/admin/password",
    "/admin/forgot",
    "/admin/account/sessions/end-others",
    "/admin/account/password",
    "/admin/account/totp",
    "/admin/account/totp/disable",
}


@pytest.fixture
def app(admin_services: Services) -> Any:
    """The app (its first start bootstraps OWNER), with a viewer and an editor added."""
    application = create_app(admin_services)
    add_account(admin_services, VIEWER, "viewer")
    add_account(admin_services, EDITOR, "editor")
    return application


def client_of(app: Any, address: str = "testclient") -> TestClient:
    return TestClient(app, follow_redirects=False, client=(address, 50000))


def admin_posts(app: Any) -> list[tuple[str, APIRoute]]:
    """(path, route) of every POST route under /admin, from the app itself: a new route is
    covered without touching this test."""
    found = []
    for context in iter_route_contexts(app.routes):
        path, methods = context.path or "", context.methods or set()
        if path.startswith("/admin") and "POST" in methods:
            assert isinstance(context.original_route, APIRoute)
            found.append((path, context.original_route))
    return found


def needs(route: APIRoute, dependency: Any) -> bool:
    """Whether ``dependency`` is anywhere in the route's dependency tree."""
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        if dep.call is dependency:
            return True
        stack.extend(dep.dependencies)
    return False


def concrete(path: str) -> str:
    values = {"slug": SLUG, "send_id": "1", "subscriber_id": "1", "endpoint_id": "1", "name": "k"}
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)


def snapshot(services: Services) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table but the sessions' (what a refused action must not change)."""
    skip = {"admin_sessions"}
    with services.sessions() as session:
        return {
            table.name: sorted(map(tuple, session.execute(table.select()).all()), key=repr)
            for table in Base.metadata.sorted_tables
            if table.name not in skip
        }


def _run(services: Services, *args: str) -> Any:
    config = services.settings.base_dir / "config.yaml"
    return runner.invoke(cli_app, ["--config", str(config), *args])


# --- the CLI and one-time links -------------------------------------------------------------


def test_users_add_prints_a_one_time_link_and_the_cli_manages_roles(
    app: Any, admin_services: Services
) -> None:
    added = _run(admin_services, "users", "add", "Kim@Example.org", "--role", "editor")
    assert added.exit_code == 0, added.output
    link = re.search(r"https?://\S+/admin/password\?token=\S+", added.output)
    assert link, added.output
    token = parse_qs(urlsplit(link.group(0)).query)["token"][0]
    with client_of(app) as client:
        page = client.get(f"/admin/password?token={token}")
        assert page.status_code == 200 and "kim@example.org" in page.text
        form = {"token": token, "password": "a new long password", "csrf_token": ""}
        form["csrf_token"] = csrf_of(page.text)
        assert client.post("/admin/password", data=form).status_code == 303
        # Single use: the same link again is refused and changes nothing.
        again = client.post("/admin/password", data={**form, "password": "another password!"})
        assert again.status_code == 422 and "used already" in again.text
        login_as(client, "kim@example.org", "a new long password")
    listed = _run(admin_services, "users", "list", "--json")
    roles = {row["email"]: row["role"] for row in json.loads(listed.stdout)}
    assert roles == {
        OWNER: "owner",
        VIEWER: "viewer",
        EDITOR: "editor",
        "kim@example.org": "editor",
    }
    assert _run(admin_services, "users", "set-role", "kim@example.org", "viewer").exit_code == 0
    bad = _run(admin_services, "users", "set-role", "kim@example.org", "admin")
    # (run() prints the one-line message and exits 1; the runner keeps the exception.)
    assert bad.exit_code != 0 and "owner, editor or viewer" in str(bad.exception)
    last = _run(admin_services, "users", "remove", OWNER)
    assert last.exit_code != 0 and "last owner" in str(last.exception)
    assert _run(admin_services, "users", "remove", "kim@example.org").exit_code == 0
    assert "kim@example.org" not in _run(admin_services, "users", "list").output
    with admin_services.sessions() as session:
        hashes = [a.password_hash or "" for a in session.scalars(select(AdminAccount))]
    assert hashes and all(h.startswith("$argon2id$") for h in hashes)


def test_bootstrap_makes_one_owner_and_says_so(
    admin_services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("WARNING"):
        create_app(admin_services)
        create_app(admin_services)  # a second start creates nobody
    assert caplog.text.count(f"created the first owner account {OWNER}") == 1
    assert [(a.email, a.role) for a in account_service.list_users(admin_services)] == [
        (OWNER, "owner")
    ]


def test_an_expired_or_forged_link_is_refused(app: Any, admin_services: Services) -> None:
    with client_of(app) as client:
        for token in ("", "nonsense", "eyJhIjoxfQ.forged.sig"):
            page = client.get(f"/admin/password?token={token}")
            assert page.status_code == 422 and 'name="password"' not in page.text


# --- roles ----------------------------------------------------------------------------------


def test_every_admin_post_route_is_classified(app: Any) -> None:
    routes = admin_posts(app)
    assert {path for path, _ in routes} >= SELF_SERVICE
    for path, route in routes:
        if path in SELF_SERVICE:
            continue
        # Every other write needs the editor or the owner level (and so a CSRF token).
        assert needs(route, admin_deps.get_form_editor) or needs(
            route, admin_deps.get_form_owner
        ), path
    owner_only = {path for path, r in routes if needs(r, admin_deps.get_form_owner)}
    assert {
        "/admin/subscribers/{subscriber_id}/erase",
        "/admin/subscribers/import",
        "/admin/users",
        "/admin/users/role",
        "/admin/users/remove",
        "/admin/integrations/keys",
        "/admin/integrations/webhooks/{endpoint_id}/remove",
    } <= owner_only


def _refused(app: Any, services: Services, email: str, path: str) -> None:
    with client_of(app) as client:
        token = login_as(client, email)
        before = snapshot(services)
        answer = client.post(
            concrete(path),
            data={"csrf_token": token, "confirm": "yes", "email": OWNER, "role": "viewer"},
            files={"file": ("a.csv", b"email\nx@example.org\n", "text/csv")},
        )
        assert answer.status_code == 403, (path, answer.status_code)
        assert snapshot(services) == before, path  # nothing done, nothing logged


def _router_posts() -> list[tuple[str, APIRoute]]:
    # The admin router as the app includes it, read at collection time so that each
    # route is its own test case; test_the_parameters_are_the_apps_routes keeps it honest.
    holder = FastAPI()
    holder.include_router(admin_router)
    return admin_posts(holder)


WRITES = [path for path, _ in _router_posts() if path not in SELF_SERVICE]
OWNER_WRITES = [path for path, r in _router_posts() if needs(r, admin_deps.get_form_owner)]


def test_the_parameters_are_the_apps_routes(app: Any) -> None:
    assert len(WRITES) >= 15
    assert sorted(WRITES) == sorted(p for p, _ in admin_posts(app) if p not in SELF_SERVICE)


@pytest.mark.parametrize("path", WRITES)
def test_a_viewer_is_refused_every_write(app: Any, admin_services: Services, path: str) -> None:
    _refused(app, admin_services, VIEWER, path)


@pytest.mark.parametrize("path", OWNER_WRITES)
def test_an_editor_is_refused_every_owner_action(
    app: Any, admin_services: Services, path: str
) -> None:
    _refused(app, admin_services, EDITOR, path)


def test_an_editor_cannot_open_the_owners_pages(app: Any) -> None:
    with client_of(app) as client:
        login_as(client, EDITOR)
        assert client.get("/admin/users").status_code == 403
        assert client.get("/admin/integrations").status_code == 403
        assert client.get("/admin/issues").status_code == 200


def test_an_editor_writes_issues_and_the_log_names_them(app: Any, admin_services: Services) -> None:
    with client_of(app) as client:
        token = login_as(client, EDITOR)
        assert (
            client.post(f"/admin/issues/{SLUG}/cancel", data={"csrf_token": token}).status_code
            == 303
        )
    with admin_services.sessions() as session:
        rows = session.execute(
            select(Event.how, Event.actor).where(
                Event.kind == "admin_action", Event.how == "cancel"
            )
        ).all()
    assert rows == [("cancel", EDITOR)]


# --- sessions that end ------------------------------------------------------------------------


def test_removal_role_change_and_password_change_end_sessions(
    app: Any, admin_services: Services
) -> None:
    with client_of(app) as viewer, client_of(app) as editor, client_of(app) as owner:
        login_as(viewer, VIEWER)
        login_as(editor, EDITOR)
        token = login_as(owner, OWNER)
        owner.post("/admin/users/remove", data={"csrf_token": token, "email": VIEWER})
        assert viewer.get("/admin/issues").status_code == 303  # refused at its next request
        owner.post(
            "/admin/users/role", data={"csrf_token": token, "email": EDITOR, "role": "viewer"}
        )
        assert editor.get("/admin/issues").status_code == 303
        assert login_as(editor, EDITOR)  # logs in again, now a viewer
        assert (
            editor.post(
                f"/admin/issues/{SLUG}/cancel",
                data={"csrf_token": csrf_of(editor.get("/admin/issues").text)},
            ).status_code
            == 403
        )
        changed = owner.post(
            "/admin/account/password",
            data={"csrf_token": token, "current": PASSWORD, "new": "a brand new password"},
        )
        assert changed.status_code == 303
        assert owner.get("/admin/issues").status_code == 303
        login_as(owner, OWNER, "a brand new password")


def test_the_sessions_page_lists_and_ends_the_others(app: Any, admin_services: Services) -> None:
    with client_of(app, "198.51.100.1") as home, client_of(app, "198.51.100.2") as work:
        token = login_as(home, OWNER)
        login_as(work, OWNER)
        page = home.get("/admin/account").text
        assert "198.51.100.1" in page and "198.51.100.2" in page
        assert (
            home.post("/admin/account/sessions/end-others", data={"csrf_token": token}).status_code
            == 303
        )
        assert work.get("/admin/issues").status_code == 303
        assert home.get("/admin/issues").status_code == 200


def test_forgot_password_mails_a_one_hour_link(app: Any, admin_services: Services) -> None:
    with client_of(app) as client:
        page = client.get("/admin/forgot")
        for email in (EDITOR, "nobody@example.org"):
            answer = client.post(
                "/admin/forgot", data={"email": email, "csrf_token": csrf_of(page.text)}
            )
            assert answer.status_code == 200 and 'role="status"' in answer.text
    mails = [p.read_text(encoding="utf-8", errors="replace") for p in outbox_files(admin_services)]
    assert len(mails) == 1 and EDITOR in mails[0]
    token = re.search(r"/admin/password\?token=([\w.\-]+)", mails[0].replace("=\n", ""))
    assert token
    account_service.use_password_link(admin_services, token.group(1), "reset by email!")
    with client_of(app) as client:
        login_as(client, EDITOR, "reset by email!")


# --- throttling -------------------------------------------------------------------------------


def _try(client: TestClient, email: str, password: str) -> Any:
    page = client.get("/admin/login")
    return client.post(
        "/admin/login",
        data={"email": email, "password": password, "csrf_token": csrf_of(page.text)},
    )


def test_guessing_slows_down_without_locking_out_the_owner(
    app: Any, admin_services: Services
) -> None:
    limit = admin_services.settings.web.login_rate_limit
    with client_of(app, "198.51.100.7") as usual:
        login_as(usual, OWNER)  # the owner's usual address
    with client_of(app, "203.0.113.66") as guesser:
        codes = [_try(guesser, OWNER, f"guess {n}").status_code for n in range(limit - 1)]
        before_last_failure = time.monotonic()
        codes += [_try(guesser, OWNER, f"guess {n}").status_code for n in (limit, limit + 1)]
        assert codes == [401] * limit + [429]
        blocked = _try(guesser, OWNER, PASSWORD)  # even the right password waits
        # The first wait is 15 s from the last failure, less the time this test took since
        # (a loaded machine may take seconds), never more.
        since = time.monotonic() - before_last_failure
        assert blocked.status_code == 429
        assert 15 - since - 1 <= int(blocked.headers["Retry-After"]) <= 15
        assert "Try again in" in _try(guesser, OWNER, "x").text or "초 뒤에" in blocked.text
    # Many addresses guessing the same account: each gets its free tries, then the
    # account-wide count slows every new address down...
    for n in range(20):
        with client_of(app, f"192.0.2.{n}") as other:
            _try(other, OWNER, f"guess {n}")
    with client_of(app, "192.0.2.200") as stranger:
        assert _try(stranger, OWNER, PASSWORD).status_code == 429
    # ...but not the owner's usual address.
    with client_of(app, "198.51.100.7") as usual:
        assert _try(usual, OWNER, PASSWORD).status_code == 303


# --- TOTP ---------------------------------------------------------------------------------------


def _enable_totp(client: TestClient) -> tuple[str, list[str], str]:
    page = client.get("/admin/account").text
    secret = re.search(r'id="totp-secret">(\w+)<', page)
    assert secret
    code = pyotp.TOTP(secret.group(1)).now()
    answer = client.post(
        "/admin/account/totp",
        data={
            "csrf_token": csrf_of(page),
            "secret": secret.group(1),
            "code": code,
        },
    )
    assert answer.status_code == 200, answer.text
    codes = re.findall(r"\b[0-9a-f]{5}-[0-9a-f]{5}\b", answer.text)
    assert len(codes) == 10
    return secret.group(1), codes, code


def test_totp_login_and_single_use_recovery_codes(app: Any, admin_services: Services) -> None:
    with client_of(app) as client:
        login_as(client, EDITOR)
        secret, codes, used = _enable_totp(client)
    with client_of(app) as client:
        page = client.get("/admin/login")
        form = {"email": EDITOR, "password": PASSWORD, "csrf_token": csrf_of(page.text)}
        assert client.post("/admin/login", data=form).status_code == 401  # no code
        assert client.post("/admin/login", data={**form, "code": "000000"}).status_code == 401
        # The code that turned TOTP on is used up; the next step's code (clock drift) works.
        assert client.post("/admin/login", data={**form, "code": used}).status_code == 401
        following = pyotp.TOTP(secret).at(time.time() + 30)
        login_as(client, EDITOR, code=following)
    with client_of(app) as client:
        page = client.get("/admin/login")
        form = {"email": EDITOR, "password": PASSWORD, "csrf_token": csrf_of(page.text)}
        # A code that logged in once does not log in again (an overheard code is no use).
        assert client.post("/admin/login", data={**form, "code": following}).status_code == 401
    with client_of(app) as client:
        login_as(client, EDITOR, code=codes[0])
    with client_of(app) as client:
        page = client.get("/admin/login")
        reused = {"email": EDITOR, "password": PASSWORD, "code": codes[0]}
        assert (
            client.post(
                "/admin/login", data={**reused, "csrf_token": csrf_of(page.text)}
            ).status_code
            == 401
        )
    with admin_services.sessions() as session:
        row = session.scalar(select(AdminAccount).where(AdminAccount.email == EDITOR))
        assert row is not None and row.totp_secret == secret


def test_an_owner_can_require_totp(app: Any, admin_services: Services) -> None:
    with client_of(app) as owner:
        token = login_as(owner, OWNER)
        owner.post("/admin/users/require-totp", data={"csrf_token": token, "required": "yes"})
        # Everyone without a second factor is sent to set it up before anything else.
        page = owner.get("/admin/issues")
        assert page.status_code == 303 and page.headers["location"].startswith("/admin/account")
        _enable_totp(owner)
        assert owner.get("/admin/issues").status_code == 200
    with client_of(app) as viewer:
        login_as(viewer, VIEWER)
        assert viewer.get("/admin/subscribers").headers["location"].startswith("/admin/account")


def test_a_posted_secret_that_is_not_base32_is_a_clear_422(app: Any) -> None:
    with client_of(app) as client:
        token = login_as(client, VIEWER)
        for secret in ("!!!!!!!!!!!!!!!!", "", "A" * 65, "abc"):
            answer = client.post(
                "/admin/account/totp",
                data={"csrf_token": token, "secret": secret, "code": "123456"},
            )
            assert answer.status_code == 422, secret
