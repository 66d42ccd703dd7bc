"""The `track` value travels like every personal value: SendGrid substitutions, one per
recipient, the body sent once; test copies are never tracked."""

from __future__ import annotations

import re

import pytest

from newsletter.delivery import RunOptions, start_send
from newsletter.delivery.emulator import Emulator
from newsletter.delivery.reports import send_test
from newsletter.tracking.rewrite import TRACK_HTML_MARKER, TRACK_TEXT_MARKER
from tests.fixtures.delivery import sendgrid_backend
from tests.fixtures.web import add_subscriber, body_html
from tests.tracking_support import BODY, READERS, Tracked, delivered, send_issue

pytestmark = pytest.mark.db


def test_sendgrid_gets_the_body_once_and_each_reader_part_as_a_substitution(
    tracked: Tracked, emulator: Emulator
) -> None:
    services = tracked(tracking="per_reader")
    for email in READERS:
        add_subscriber(services, email, ("weekly",))
    folder = services.settings.path(services.settings.issues_dir)
    (folder / "2026-12-07-hello.md").write_text(
        "---\ntitle: t\ndate: 2026-12-07 09:00 +0900\nslug: hello\n---\n\n" + BODY, "utf-8"
    )
    options = RunOptions(backend=sendgrid_backend(emulator))
    assert start_send(services, "hello", options=options).status == "sent"
    (request,) = emulator.state.accepted
    body = request.body
    assert body is not None
    html = next(c["value"] for c in body["content"] if c["type"] == "text/html")
    assert html.count(f"/l/{TRACK_HTML_MARKER}.") == 5  # four links and the trap
    values = [p["substitutions"][TRACK_HTML_MARKER] for p in body["personalizations"]]
    texts = [p["substitutions"][TRACK_TEXT_MARKER] for p in body["personalizations"]]
    assert values == texts and len(set(values)) == len(READERS)
    providers = sorted(value.split(".")[2][1] for value in values)
    assert providers == sorted("nddgo")  # naver, daum, hanmail (daum), gmail, outlook


def test_a_test_copy_is_never_tracked(tracked: Tracked) -> None:
    services = tracked(tracking="per_reader", opens=True)
    send_issue(services, readers=READERS[:1])
    send_test(services, "hello", to=["editor@naver.com"])
    html = body_html(delivered(services, "editor@naver.com"))
    assert "/l/" not in html and "/o/" not in html and "%%NL" not in html
    assert re.search(r'href="https://example\.com/b/"', html)
