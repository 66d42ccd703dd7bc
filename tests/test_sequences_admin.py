"""The dashboard's sequences page: readers at each step and per-step figures, for every role."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi.testclient import TestClient

from newsletter.automations.sequences import service
from newsletter.db import transaction
from newsletter.services import Services
from newsletter.web import create_app
from subscribers import service as subscriber_service
from subscribers.db import utcnow
from tests.admin_support import add_account, admin_services, login_as
from tests.sequence_support import confirmed_reader, write_step

__all__ = ["admin_services"]


def _cells(html: str, css: str) -> list[str]:
    return re.findall(rf'<td class="{css}">(\d+)</td>', html)


def test_a_viewer_sees_readers_at_each_step_and_the_figures(admin_services: Services) -> None:
    services = admin_services
    write_step(services.settings, "01-welcome", after="0", title="환영합니다")
    write_step(services.settings, "02-tips", after="1h", title="팁")
    service.sync_steps(services, now=utcnow() - 3 * timedelta(hours=1))
    done = [
        confirmed_reader(services, f"old{n}@example.net", utcnow() - timedelta(hours=2))
        for n in range(2)
    ]
    confirmed_reader(services, "new@example.net", utcnow())
    service.walk(services)
    with transaction(services.sessions) as session:
        subscriber_service.unsubscribe(session, subscriber_id=done[0], newsletter_id="weekly")
    app = create_app(services)
    add_account(services, "viewer@example.org", "viewer")
    with TestClient(app, follow_redirects=False) as client:
        assert client.get("/admin/sequences").status_code in (303, 307, 401)
        login_as(client, "viewer@example.org")
        page = client.get("/admin/sequences")
        # Each step links to its send's page (progress, engagement) like an issue's send.
        step_send = re.findall(r'href="(/admin/sends/\d+)"', page.text)[0]
        assert client.get(step_send).status_code == 200
    assert page.status_code == 200
    html = page.text
    assert "환영합니다" in html and "팁" in html and 'href="/admin/sequences"' in html
    # At the welcome: "new" and the project's three readers (confirmed just now); old1 at
    # step 2; old0 left after step 2.
    assert _cells(html, "at-step") == ["4", "1"]
    assert _cells(html, "sent") == ["6", "2"]
    assert _cells(html, "left") == ["0", "1"]
    assert "시작하지 않은 독자 0명" in html
