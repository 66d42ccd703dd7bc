"""API keys: created once through the CLI, stored hashed, scoped, revoked; Bearer auth."""

from __future__ import annotations

import hashlib
import json

from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from newsletter.api.models import ApiKey
from newsletter.cli import app
from newsletter.services import Services
from subscribers.models import Event
from tests.fixtures.api import MakeKey, bearer

runner = CliRunner()


def _cli(config: str, *args: str) -> str:
    result = runner.invoke(app, ["--config", config, *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_cli_creates_a_key_shown_once_and_stored_hashed(
    services: Services, settings, web_client: TestClient
) -> None:
    config = str(settings.base_dir / "config.yaml")
    out = json.loads(
        _cli(config, "api-keys", "create", "crm", "--scopes", "subscribers:read", "--json")
    )
    secret = out["key"]
    assert secret.startswith("nlk_") and out["scopes"] == ["subscribers:read"]
    with services.sessions() as session:
        stored = session.scalars(select(ApiKey)).one()
    assert stored.key_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in json.dumps([stored.name, stored.prefix, stored.key_hash])
    listed = _cli(config, "api-keys", "list", "--json")
    assert secret not in listed and json.loads(listed)[0]["name"] == "crm"
    assert web_client.get("/api/v1/subscribers", headers=bearer(secret)).status_code == 200
    _cli(config, "api-keys", "revoke", "crm")
    answer = web_client.get("/api/v1/subscribers", headers=bearer(secret))
    assert answer.status_code == 401
    assert answer.headers["content-type"] == "application/problem+json"


def test_cli_refuses_an_unknown_scope_with_one_line(settings) -> None:
    config = str(settings.base_dir / "config.yaml")
    result = runner.invoke(
        app, ["--config", config, "api-keys", "create", "x", "--scopes", "subscribers:admin"]
    )
    assert result.exit_code != 0
    assert "subscribers:admin" in str(result.exception) + result.output


def test_missing_or_wrong_key_is_401(web_client: TestClient) -> None:
    assert web_client.get("/api/v1/subscribers").status_code == 401
    answer = web_client.get("/api/v1/subscribers", headers=bearer("nlk_made-up"))
    assert answer.status_code == 401
    assert answer.json()["status"] == 401
    assert answer.headers["www-authenticate"] == "Bearer"


def test_a_key_without_the_scope_is_403_and_writes_nothing(
    web_client: TestClient, api_key: MakeKey, services: Services
) -> None:
    reader = bearer(api_key("subscribers:read"))
    answer = web_client.post("/api/v1/subscribers", json={"email": "a@example.org"}, headers=reader)
    assert answer.status_code == 403
    assert "subscribers:write" in answer.json()["detail"]
    assert answer.headers["content-type"] == "application/problem+json"
    assert web_client.get("/api/v1/subscribers", headers=reader).json()["data"] == []
    assert web_client.get("/api/v1/stats", headers=reader).status_code == 403


def test_the_key_name_is_the_actor_in_the_audit_log(api: TestClient, services: Services) -> None:
    created = api.post(
        "/api/v1/subscribers", json={"email": "log@example.org", "newsletters": ["weekly"]}
    )
    assert created.status_code == 201
    person = created.json()["subscriber"]["id"]
    assert api.delete(f"/api/v1/subscribers/{person}").status_code == 204
    with services.sessions() as session:
        actors = {e.kind: e.actor for e in session.scalars(select(Event))}
    assert actors["subscribed"] == "api:crm"
    assert actors["erased"] == "api:crm"
