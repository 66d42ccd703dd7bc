"""The welcome email and a sequence's first step: one welcome, never two (issue 19)."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from newsletter.automations.sequences import service
from newsletter.services import Services
from tests.fixtures.web import Outbox, link
from tests.sequence_support import step_ledger, write_step


def _sign_up_and_confirm(client: TestClient, outbox: Outbox, email: str) -> None:
    client.post("/subscribe", data={"email": email, "newsletters": ["weekly"]})
    (message,) = outbox.wait_for(email)
    assert client.post(link(message, "confirm")).status_code == 200
    time.sleep(0.3)  # the welcome would go out from a background task


def test_a_step_after_0_is_the_welcome(
    web_client: TestClient, outbox: Outbox, services: Services
) -> None:
    write_step(services.settings, "01-welcome", after="0", title="반갑습니다: 첫 편지")
    service.sync_steps(services)
    _sign_up_and_confirm(web_client, outbox, "new@example.com")
    assert len(outbox.to("new@example.com")) == 1  # the confirmation only: no built-in welcome
    service.walk(services)
    subjects = [str(m["Subject"]) for m in outbox.to("new@example.com")]
    assert subjects[1:] == ["반갑습니다: 첫 편지"]
    welcome = outbox.to("new@example.com")[-1]
    assert "One-Click" in str(welcome["List-Unsubscribe-Post"])  # a campaign email's headers
    assert set(step_ledger(services)["01-welcome"].values()) == {"accepted"}


def test_without_a_step_after_0_the_welcome_email_stays(
    web_client: TestClient, outbox: Outbox, services: Services
) -> None:
    write_step(services.settings, "01-later", after="1d")
    service.sync_steps(services)
    _sign_up_and_confirm(web_client, outbox, "keep@example.com")
    messages = outbox.wait_for("keep@example.com", 2)
    assert len(messages) == 2 and "감사" in str(messages[-1]["Subject"])
    service.walk(services)
    assert len(outbox.to("keep@example.com")) == 2  # the step is a day away
