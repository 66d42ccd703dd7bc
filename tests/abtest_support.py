"""Helpers for the A/B tests: an A/B issue file, who got which subject, people's clicks."""

from __future__ import annotations

import json
import re
import time
from collections import defaultdict
from email.message import EmailMessage

from fastapi.testclient import TestClient
from sqlalchemy import select

from newsletter.abtest.models import AbTestRow
from newsletter.delivery import engine
from newsletter.delivery.models import Delivery
from newsletter.services import Services
from subscribers.models import Subscriber
from tests.fixtures.issues import issue_text
from tests.fixtures.web import Outbox, body_html
from tests.tracking_support import BODY, path_of, tracked_links

SUBJECTS = ("이번 주 소식: 세 가지", "놓치면 아쉬운 이번 주 소식")
BROWSER = {
    "user-agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15"
    " (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
}
_PIXEL = re.compile(r'src="(https://news\.example\.org/o/[^"]+)"')


def write_ab_issue(
    services: Services, *, sample: str, wait: str, subjects: tuple[str, ...] = SUBJECTS
) -> None:
    """The issue ``hello`` with ``subjects`` and ``ab_test: {sample, wait}``."""
    folder = services.settings.path(services.settings.issues_dir)
    folder.mkdir(parents=True, exist_ok=True)
    listed = ", ".join(f'"{subject}"' for subject in subjects)
    text = issue_text(
        body=BODY,
        slug="hello",
        subjects=f"[{listed}]",
        ab_test=f"{{sample: {sample}, wait: {wait}}}",
    )
    (folder / "2026-12-07-hello.md").write_text(text, encoding="utf-8")


def inbox(services: Services) -> dict[str, list[EmailMessage]]:
    """Every outbox message by recipient address."""
    found: dict[str, list[EmailMessage]] = defaultdict(list)
    outbox = Outbox(services.settings.path(services.settings.delivery.outbox_dir))
    for message in outbox.messages():
        found[message["To"].addresses[0].addr_spec].append(message)
    return dict(found)


def ledger(services: Services, send_id: int) -> dict[str, tuple[int | None, bool, str]]:
    """Address → (variant, in sample, status) of every ledger row of the send."""
    query = (
        select(Subscriber.email, Delivery.variant, Delivery.in_sample, Delivery.status)
        .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .where(Delivery.send_id == send_id)
    )
    with services.sessions() as session:
        return {e: (v, bool(s), st) for e, v, s, st in session.execute(query)}


def ab_row(services: Services, send_id: int) -> AbTestRow:
    """The send's ``ab_tests`` row."""
    with services.sessions() as session:
        row = session.get(AbTestRow, send_id)
        assert row is not None
        session.expunge(row)
        return row


def wait_until_due(services: Services, send_id: int, timeout: float = 60.0) -> None:
    """Wait (real time) until the send's next wave is due and nobody runs it."""
    deadline = time.monotonic() + timeout
    while send_id not in engine.abandoned_sends(services):
        assert time.monotonic() < deadline, "the rest never became due"
        time.sleep(0.1)


def one_each(services: Services, send_id: int) -> dict[str, str]:
    """Address → the one subject each reader received, after checking everyone of the
    ledger got exactly one email, with the subject of the variant their row records."""
    messages = inbox(services)
    rows = ledger(services, send_id)
    row = ab_row(services, send_id)
    subjects = json.loads(row.subjects)
    assert sorted(messages) == sorted(rows), "someone got no email, or a stranger got one"
    received: dict[str, str] = {}
    for email, got in messages.items():
        assert len(got) == 1, f"{email} got {len(got)} emails"
        variant = rows[email][0]
        assert variant is not None, f"{email}'s row records no variant"
        assert str(got[0]["Subject"]) == subjects[variant], email
        received[email] = str(got[0]["Subject"])
    return received


def first_link(message: EmailMessage) -> str:
    """The path of the first tracked link of ``message``."""
    return path_of(tracked_links(message)[0])


def click(client: TestClient, message: EmailMessage, *, headers: dict[str, str]) -> int:
    """Follow the first tracked link of ``message`` (status code)."""
    return client.get(first_link(message), headers=headers).status_code


def open_pixel(client: TestClient, message: EmailMessage) -> int:
    """Fetch the open pixel of ``message`` as a mail client would (status code)."""
    pixel = _PIXEL.search(body_html(message))
    assert pixel is not None, "no open pixel in the email"
    return client.get(path_of(pixel[1].replace("&amp;", "&")), headers=BROWSER).status_code


def admin_client(services: Services) -> TestClient:
    """The real app, logged in as the owner (``NEWSLETTER_ADMIN_PASSWORD`` set by the test)."""
    from newsletter.accounts.service import BOOTSTRAP_EMAIL
    from newsletter.web import create_app
    from tests.admin_support import PASSWORD, csrf_of

    client = TestClient(create_app(services), base_url="https://news.example.org")
    page = client.get("/admin/login")
    client.post(
        "/admin/login",
        data={"email": BOOTSTRAP_EMAIL, "password": PASSWORD, "csrf_token": csrf_of(page.text)},
    )
    return client
