"""Helpers for tracking tests: a project with tracking on, a sent issue, its tracked links."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from newsletter.delivery import start_send
from newsletter.services import Services
from newsletter.settings import load_settings
from newsletter.web import create_app
from tests.conftest import base_config, write_config
from tests.fixtures.issues import issue_text
from tests.fixtures.web import Outbox, add_subscriber, body_html

READERS = (
    "minji@naver.com",
    "junho@daum.net",
    "seoyeon@hanmail.net",
    "alex@gmail.com",
    "sam@outlook.com",
)
LINKS = (
    "https://example.com/a?x=1&y=%ED%95%9C#part-2",
    "https://example.com/b/",
    "http://example.net/c?q=a+b&empty=",
)
BODY = (
    "## 이번 주\n"
    f"첫 글: [읽기]({LINKS[0]})\n\n"
    f"둘째 글: [읽기]({LINKS[1]}), 다시 [한 번]({LINKS[0]})\n\n"
    f"셋째: <{LINKS[2]}>\n"
)
_TRACKED = re.compile(r'href="(https://news\.example\.org/l/[^"]+)"')


def tracked_project(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    dns: dict[str, Any] | None = None,
    **weekly: Any,
) -> Services:
    """A fresh project whose ``weekly`` newsletter has the given tracking settings
    (and ``dns``, the ``tracking`` section: the MX lookup's servers and timeout)."""
    config = base_config(tmp_path)
    config["newsletters"][0].update(weekly)
    if dns is not None:
        config["tracking"] = dns
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", "test-secret-key-0123456789abcdef")
    settings = load_settings(write_config(tmp_path, config))
    return Services.open(settings)


Tracked = Callable[..., Services]


def with_tracking(services: Services, **weekly: Any) -> Services:
    """The same database with the ``weekly`` newsletter's tracking settings changed."""
    settings = services.settings
    newsletters = [
        n.model_copy(update=weekly) if n.id == "weekly" else n for n in settings.newsletters
    ]
    changed = settings.model_copy(update={"newsletters": newsletters})
    return Services(settings=changed, engine=services.engine, sessions=services.sessions)


def send_issue(services: Services, *, readers: tuple[str, ...] = READERS, body: str = BODY) -> int:
    """Subscribe ``readers`` to weekly, write and send an issue; the send id."""
    for email in readers:
        add_subscriber(services, email, ("weekly",))
    folder = services.settings.path(services.settings.issues_dir)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "2026-12-07-hello.md").write_text(
        issue_text(body=body, slug="hello"), encoding="utf-8"
    )
    result = start_send(services, "hello")
    assert result.status == "sent", result
    return result.send_id


def delivered(services: Services, email: str) -> EmailMessage:
    """The one message the outbox holds for ``email``."""
    outbox = Outbox(services.settings.path(services.settings.delivery.outbox_dir))
    found = outbox.to(email)
    assert len(found) == 1, found
    return found[0]


def tracked_links(message: EmailMessage) -> list[str]:
    """The ``/l/`` URLs of a message's HTML, in order (the hidden trap link last)."""
    return [url.replace("&amp;", "&") for url in _TRACKED.findall(body_html(message))]


@contextmanager
def app_client(services: Services) -> Iterator[TestClient]:
    """The real app with its lifespan running (so hits get flushed)."""
    app = create_app(services)
    with TestClient(app, base_url=services.settings.site.url, follow_redirects=False) as client:
        yield client


def flush(client: TestClient) -> None:
    """Write the queued hits now (the lifespan does it every second)."""
    client.app.state.track_hits.flush()  # type: ignore[attr-defined]


def path_of(url: str) -> str:
    """The path of a site URL."""
    return url.removeprefix("https://news.example.org")
