"""The issue is rendered once and only the subject differs between variants, in every
backend: the outbox and SMTP write each recipient's own Subject header; SendGrid sends the
body once and puts the variant's subject in the recipient's personalization."""

from __future__ import annotations

import dataclasses
import json
from email import message_from_bytes
from email.policy import default
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from newsletter.abtest.spec import AbTest, Sample
from newsletter.delivery import RunOptions, start_send
from newsletter.delivery.backends.smtp import SmtpBackend
from newsletter.delivery.emulator import Emulator
from newsletter.render import RenderedIssue
from newsletter.services import Services
from newsletter.settings import SmtpSettings
from tests.abtest_support import ledger
from tests.conftest import require
from tests.fixtures.delivery import SmtpSink, add_audience, rendered_issue, sendgrid_backend
from tests.tracking_support import Tracked

pytestmark = pytest.mark.db
SUBJECTS = ("첫째: 이번 주 소식", "둘째: 꼭 읽을 소식", "셋째 / Third")
SPEC = Path(__file__).resolve().parents[2] / "shared" / "sendgrid" / "tsg_mail_v3.json"


def ab_renderer(services: Services, slug: str) -> RenderedIssue:
    """The stand-in issue with three subjects, everyone in the sample (no wait)."""
    test = AbTest(subjects=SUBJECTS, sample=Sample(percent=100))
    issue = rendered_issue(slug)
    return dataclasses.replace(issue, subject=SUBJECTS[0], ab_test=test)


def _subject_of_each(services: Services, send_id: int) -> dict[str, str]:
    return {
        email: SUBJECTS[variant]
        for email, (variant, _, _) in ledger(services, send_id).items()
        if variant is not None
    }


def _split_evenly(expected: dict[str, str], total: int) -> None:
    assert len(expected) == total
    sizes = sorted(list(expected.values()).count(s) for s in SUBJECTS)
    assert sizes[-1] - sizes[0] <= 1


def test_smtp_sends_each_reader_their_variants_subject(
    tracked: Tracked, smtp_sink: SmtpSink
) -> None:
    services = tracked(tracking="aggregate")
    add_audience(services, 10, domain="gmail.com")
    backend = SmtpBackend(SmtpSettings(host=smtp_sink.host, port=smtp_sink.port, connections=2))
    result = start_send(
        services, "hello", options=RunOptions(renderer=ab_renderer, backend=backend)
    )
    assert result.status == "sent" and result.counts["accepted"] == 10
    expected = _subject_of_each(services, result.send_id)
    _split_evenly(expected, 10)
    for _, rcpts, raw in smtp_sink.messages:
        message = message_from_bytes(raw, policy=default)
        assert not message.defects
        assert str(message["Subject"]) == expected[rcpts[0]]
    assert len(smtp_sink.messages) == 10


def test_sendgrid_puts_the_variants_subject_in_each_personalization(
    tracked: Tracked, emulator: Emulator
) -> None:
    require(SPEC.exists(), f"SendGrid OpenAPI description at {SPEC}")
    spec = json.loads(SPEC.read_text(encoding="utf-8"))
    body_schema = spec["components"]["requestBodies"]["PostMailSend"]["content"]
    schema: dict[str, Any] = {
        **body_schema["application/json"]["schema"],
        "components": spec["components"],
    }
    services = tracked(tracking="per_reader")
    add_audience(services, 9, domain="naver.com")
    options = RunOptions(renderer=ab_renderer, backend=sendgrid_backend(emulator))
    result = start_send(services, "hello", options=options)
    assert result.status == "sent" and result.counts["accepted"] == 9
    expected = _subject_of_each(services, result.send_id)
    _split_evenly(expected, 9)
    seen = 0
    for request in emulator.state.accepted:
        body = request.body
        assert body is not None
        jsonschema.validate(body, schema, cls=jsonschema.Draft202012Validator)
        assert body["subject"] == SUBJECTS[0]  # one body, one shared subject
        for item in body["personalizations"]:
            email = item["to"][0]["email"]
            # The first subject is the body's own; the others ride in the personalization.
            assert item.get("subject", body["subject"]) == expected[email]
            assert ("subject" in item) == (expected[email] != SUBJECTS[0])
            seen += 1
    assert seen == 9


def test_two_sends_to_one_audience_split_it_differently(tracked: Tracked) -> None:
    services = tracked(tracking="aggregate")
    add_audience(services, 30, domain="gmail.com")
    splits = []
    for slug in ("hello", "again"):
        result = start_send(services, slug, options=RunOptions(renderer=ab_renderer))
        assert result.status == "sent"
        split = _subject_of_each(services, result.send_id)
        _split_evenly(split, 30)
        splits.append(split)
    # Drawn at random each time: a fixed rule (by id, by address) would split them alike.
    # The chance that two random deals of 30 readers into 10/10/10 agree is ~1e-13.
    assert splits[0] != splits[1]
