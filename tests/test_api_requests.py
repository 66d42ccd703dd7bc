"""/api/v1's request rules: Idempotency-Key, per-key rate limit, body limit, OpenAPI."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

from newsletter.api import keys
from newsletter.api.scopes import SCOPES
from newsletter.db import transaction
from newsletter.services import Services
from newsletter.settings import load_settings
from newsletter.web import create_app
from tests.fixtures.api import MakeKey, bearer

URL = "/api/v1/subscribers"


def test_idempotency_key_replays_the_first_answer(api: TestClient) -> None:
    headers = {"Idempotency-Key": "order-1"}
    first = api.post(URL, json={"email": "i@example.org"}, headers=headers)
    again = api.post(URL, json={"email": "i@example.org"}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    other = api.post(URL, json={"email": "other@example.org"}, headers=headers)
    assert other.status_code == 409
    assert other.json()["errors"][0]["field"] == "header.idempotency-key"
    assert [p["email"] for p in api.get(URL).json()["data"]] == ["i@example.org"]


def test_idempotency_keys_belong_to_one_api_key(web_client: TestClient, api_key: MakeKey) -> None:
    headers = {"Idempotency-Key": "same"}
    one = bearer(api_key()) | headers
    two = bearer(api_key()) | headers
    assert web_client.post(URL, json={"email": "a@example.org"}, headers=one).status_code == 201
    answer = web_client.post(URL, json={"email": "b@example.org"}, headers=two)
    assert answer.status_code == 201 and "idempotent-replayed" not in answer.headers


def test_a_refused_first_request_is_not_kept(api: TestClient) -> None:
    headers = {"Idempotency-Key": "k"}
    assert api.post(URL, json={"email": "x"}, headers=headers).status_code == 422
    replay = api.post(URL, json={"email": "x"}, headers=headers)
    assert replay.status_code == 422 and replay.headers["idempotent-replayed"] == "true"


@pytest.fixture
def limited(config_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Services]:
    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    config["api"] = {"rate_limit_per_minute": 3, "max_body_bytes": 2048}
    config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", "test-secret-key-0123456789abcdef")
    opened = Services.open(load_settings(config_path))
    yield opened
    opened.close()


def test_per_key_rate_limit_answers_429_with_retry_after(limited: Services) -> None:
    with TestClient(create_app(limited)) as client:

        def new_key(name: str) -> str:
            with transaction(limited.sessions) as session:
                return keys.create_key(session, name, scopes=["subscribers:read"]).secret

        for attempt in range(3):  # the window is the minute: redo if one ended meanwhile
            one, two = new_key(f"one-{attempt}"), new_key(f"two-{attempt}")
            minute = time.time() // 60
            answers = [client.get(URL, headers=bearer(one)) for _ in range(4)]
            if time.time() // 60 == minute:
                break
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        assert 1 <= int(answers[-1].headers["retry-after"]) <= 60
        assert answers[-1].headers["content-type"] == "application/problem+json"
        assert client.get(URL, headers=bearer(two)).status_code == 200  # per key


def test_an_oversized_body_is_413_and_writes_nothing(limited: Services) -> None:
    with TestClient(create_app(limited)) as client:
        with transaction(limited.sessions) as session:
            secret = keys.create_key(session, "k", scopes=SCOPES).secret
        big = {"email": "big@example.org", "name": "x" * 4000}
        answer = client.post(URL, json=big, headers=bearer(secret))
        assert answer.status_code == 413
        assert answer.headers["content-type"] == "application/problem+json"

        def chunks():  # no Content-Length: counted while read
            yield b'{"email": "big@example.org", "name": "'
            for _ in range(10):
                yield b"x" * 500
            yield b'"}'

        streamed = client.post(
            URL,
            content=chunks(),
            headers=bearer(secret) | {"content-type": "application/json"},
        )
        assert streamed.status_code == 413
        assert client.get(URL, headers=bearer(secret)).json()["data"] == []


def test_the_api_has_its_own_openapi_document(web_client: TestClient) -> None:
    document = web_client.get("/api/v1/openapi.json").json()
    assert "/subscribers" in document["paths"] and "/stats" in document["paths"]
    assert document["servers"] == [{"url": "/api/v1"}]
    assert "HTTPBearer" in document["components"]["securitySchemes"]
    assert not any(p.startswith("/admin") for p in document["paths"])


def test_unknown_routes_are_problem_documents(api: TestClient) -> None:
    answer = api.get("/api/v1/nothing-here")
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"
