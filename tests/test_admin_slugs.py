"""Admin slugs resolve only through the catalog: a slug that names a server file is a 404
before anything is opened or mailed; odd ids, dates and upload names are clear 4xx."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from newsletter.cli import app as cli_app
from newsletter.delivery.models import Send
from newsletter.services import Services
from newsletter.web import create_app
from tests.admin_support import SLUG, admin_services, csrf_of, outbox_files
from tests.test_admin import login

__all__ = ["admin_services"]

#: A file beside the project that parses as an issue: mailing it would leak it.
NOTES = "---\ntitle: private notes\ndate: 2030-01-01 09:00 +0900\n---\nthe server's secrets\n"

#: Paths opened through Python's ``open`` while a test watches (see ``opened_paths``).
_WATCH: list[list[str]] = []


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event == "open" and _WATCH and isinstance(args[0], (str, bytes, Path)):
        _WATCH[-1].append(str(Path(str(args[0])).resolve()))


sys.addaudithook(_audit)


@pytest.fixture
def opened_paths() -> Iterator[list[str]]:
    """Every path the process opens with ``open()`` during the test."""
    seen: list[str] = []
    _WATCH.append(seen)
    yield seen
    _WATCH.remove(seen)


@pytest.fixture
def project(admin_services: Services, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The project folder as the server's working directory, with a private file in it."""
    folder = admin_services.settings.base_dir
    monkeypatch.chdir(folder)
    (folder / "notes.txt").write_text(NOTES, encoding="utf-8")
    (folder / "newsletter.db").write_bytes(b"SQLite format 3\x00" + bytes(100))
    return folder


@pytest.fixture
def client(admin_services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(admin_services), follow_redirects=False) as test_client:
        yield test_client


def _database_file(services: Services) -> Path | None:
    database = services.engine.url.database
    if services.engine.dialect.name != "sqlite" or not database:
        return None
    return services.settings.path(Path(database)).resolve()


def test_a_server_file_is_never_mailed_as_an_issue(
    client: TestClient, admin_services: Services, project: Path, opened_paths: list[str]
) -> None:
    token = login(client)
    for slug in ("notes.txt", str(project / "notes.txt"), "config.yaml"):
        response = client.post(
            f"/admin/issues/{slug}/test", data={"csrf_token": token, "to": "x@example.org"}
        )
        assert response.status_code == 404, (slug, response.status_code)
    assert outbox_files(admin_services) == []
    assert str(project / "notes.txt") not in opened_paths


def test_checking_the_database_file_never_opens_it(
    client: TestClient, admin_services: Services, project: Path, opened_paths: list[str]
) -> None:
    token = login(client)
    files = [project / "newsletter.db"]
    database = _database_file(admin_services)
    if database is not None:
        files.append(database)
    for file in files:
        for slug in (file.name, str(file.relative_to(project))):
            response = client.post(f"/admin/issues/{slug}/check", data={"csrf_token": token})
            assert response.status_code == 404, (slug, response.status_code)
        assert str(file) not in opened_paths


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/admin/issues/notes.txt"),
        ("get", "/admin/issues/notes.txt/send"),
        ("post", "/admin/issues/notes.txt/send"),
        ("post", "/admin/issues/notes.txt/schedule"),
        ("post", "/admin/issues/notes.txt/cancel"),
        ("post", "/admin/issues/notes.txt/check"),
        ("post", "/admin/issues/notes.txt/test"),
    ],
)
def test_every_slug_route_404s_for_a_slug_not_in_the_catalog(
    client: TestClient,
    admin_services: Services,
    project: Path,
    opened_paths: list[str],
    method: str,
    path: str,
) -> None:
    token = login(client)
    data = {"csrf_token": token, "to": "x@example.org", "at": "2031-01-01T09:00"}
    response = client.get(path) if method == "get" else client.post(path, data=data)
    assert response.status_code == 404
    assert str(project / "notes.txt") not in opened_paths
    with admin_services.sessions() as session:
        assert session.scalar(select(Send)) is None
    assert outbox_files(admin_services) == []


def test_an_issue_in_the_catalog_still_works(client: TestClient, admin_services: Services) -> None:
    token = login(client)
    sent = client.post(f"/admin/issues/{SLUG}/test", data={"csrf_token": token, "to": "a@x.org"})
    assert sent.status_code == 200
    assert len(outbox_files(admin_services)) == 1
    assert client.post(f"/admin/issues/{SLUG}/check", data={"csrf_token": token}).status_code == 200


def test_cli_send_takes_slugs_not_file_paths(
    admin_services: Services, project: Path, opened_paths: list[str]
) -> None:
    config = str(admin_services.settings.base_dir / "config.yaml")
    result = CliRunner().invoke(
        cli_app, ["--config", config, "send", "notes.txt", "--test", "x@example.org"]
    )
    assert result.exit_code != 0
    assert outbox_files(admin_services) == []
    assert str(project / "notes.txt") not in opened_paths


def test_cli_render_still_takes_a_file_the_operator_names(
    admin_services: Services, project: Path
) -> None:
    config = str(admin_services.settings.base_dir / "config.yaml")
    result = CliRunner().invoke(
        cli_app, ["--config", config, "render", str(project / "notes.txt"), "--out", "out"]
    )
    assert result.exit_code == 0, result.output
    assert (project / "out" / "notes.html").exists()


@pytest.mark.parametrize(
    "path",
    [
        "/admin/subscribers/99999999999999999999",
        "/admin/sends/99999999999999999999",
        "/admin/subscribers/-1",
        "/admin/sends/0",
        "/admin/sends/2147483648",
    ],
)
def test_ids_out_of_range_are_a_clear_4xx(client: TestClient, path: str) -> None:
    login(client)
    response = client.get(path)
    assert 400 <= response.status_code < 500, response.status_code


@pytest.mark.parametrize("action", ["unsubscribe", "erase"])
def test_posting_to_an_id_out_of_range_is_a_clear_4xx(client: TestClient, action: str) -> None:
    token = login(client)
    for number in ("99999999999999999999", "9223372036854775808", "2147483648"):
        response = client.post(
            f"/admin/subscribers/{number}/{action}", data={"csrf_token": token, "confirm": "yes"}
        )
        assert 400 <= response.status_code < 500, (number, response.status_code)
    for number in ("99999999999999999999", "424242"):
        response = client.post(f"/admin/sends/{number}/pause", data={"csrf_token": token})
        assert 400 <= response.status_code < 500, (number, response.status_code)
        response = client.post(f"/admin/sends/{number}/resume", data={"csrf_token": token})
        assert 400 <= response.status_code < 500, (number, response.status_code)


@pytest.mark.parametrize(
    "at",
    ["0001-01-01T00:00", "0001-01-01T00:00+09:00", "9999-12-31T23:59", "9999-12-31T23:59-12:00"],
)
def test_a_date_at_the_ends_of_the_calendar_is_a_clear_4xx(client: TestClient, at: str) -> None:
    token = login(client)
    response = client.post(f"/admin/issues/{SLUG}/schedule", data={"csrf_token": token, "at": at})
    assert 400 <= response.status_code < 500, (at, response.status_code)


@pytest.mark.parametrize("name", ["..", ".", "/", "../../x.csv", "a\x00b.csv", ""])
def test_an_upload_with_an_odd_name_imports_or_is_refused_clearly(
    client: TestClient, name: str
) -> None:
    token = login(client)
    response = client.post(
        "/admin/subscribers/import",
        data={"csrf_token": token, "newsletter": "weekly"},
        files={"file": (name, b"email,name\nnew@example.org,New\n", "text/csv")},
    )
    assert response.status_code < 500, (name, response.status_code)
    csrf_of(client.get("/admin/subscribers").text)


def test_odd_text_in_searches_and_names_is_a_clear_answer(client: TestClient) -> None:
    token = login(client)
    # NUL would reach PostgreSQL (which refuses it) as a search pattern.
    assert client.get("/admin/subscribers", params={"q": "\x00a\x00"}).status_code == 200
    revoked = client.post("/admin/integrations/keys/no-such-key/revoke", data={"csrf_token": token})
    assert 400 <= revoked.status_code < 500
    for action in ("enable", "remove"):
        response = client.post(
            f"/admin/integrations/webhooks/424242/{action}", data={"csrf_token": token}
        )
        assert 400 <= response.status_code < 500, (action, response.status_code)
