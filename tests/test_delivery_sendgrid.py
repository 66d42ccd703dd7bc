from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from newsletter.delivery.backends.sendgrid import SendgridBackend, build_request_body, retry_after
from newsletter.delivery.emulator import Emulator, Fault, validate
from newsletter.delivery.message import Batch, Content, Outcome, Recipient
from newsletter.delivery.retry import RetryPolicy, with_retries
from newsletter.errors import OutcomeUnknownError, PermanentBackendError, TransientBackendError
from newsletter.settings import SendgridSettings
from tests.conftest import require
from tests.fixtures.delivery import RecordingSleep, sendgrid_backend

SPEC = Path(__file__).resolve().parents[2] / "shared" / "sendgrid" / "tsg_mail_v3.json"


def _content() -> Content:
    return Content(
        subject="이번 주 소식",
        html="<p>%%NLH_NAME%%님 <a href='%%NLH_UNSUBSCRIBE_URL%%'>해지</a></p>",
        text="%%NLT_NAME%%님\n해지: %%NLT_UNSUBSCRIBE_URL%%",
        from_email="editor@example.org",
        from_name="Test Letters",
        reply_to="reply@example.org",
        headers={"List-Id": '"Weekly" <weekly.news.example.org>'},
        placeholders_html={"name": "%%NLH_NAME%%", "unsubscribe_url": "%%NLH_UNSUBSCRIBE_URL%%"},
        placeholders_text={"name": "%%NLT_NAME%%", "unsubscribe_url": "%%NLT_UNSUBSCRIBE_URL%%"},
        categories=("newsletter", "weekly", "hello"),
        custom_args={"send_id": "7"},
    )


def _recipients(count: int) -> list[Recipient]:
    return [
        Recipient(
            email=f"r{i}@example.net",
            name="김 & <Lee>",
            values={
                "name": "김 & <Lee>",
                "unsubscribe_url": f"https://x.org/unsubscribe/t{i}?a=1&b=2",
            },
            headers={
                "List-Unsubscribe": f"<https://x.org/unsubscribe/t{i}>, <mailto:u@x.org>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            },
            delivery_id=1000 + i,
        )
        for i in range(count)
    ]


def _mail_send_schema() -> dict[str, Any]:
    require(SPEC.exists(), f"SendGrid OpenAPI description at {SPEC}")
    spec = json.loads(SPEC.read_text(encoding="utf-8"))
    body = spec["components"]["requestBodies"]["PostMailSend"]["content"]["application/json"]
    return {**body["schema"], "components": spec["components"]}


def test_request_bodies_validate_against_sendgrids_openapi_schema() -> None:
    schema = _mail_send_schema()
    for count in (1, 1000):
        body = build_request_body(Batch(_content(), _recipients(count)))
        jsonschema.validate(body, schema, cls=jsonschema.Draft202012Validator)
        assert validate(body) is None


def test_the_schema_check_catches_a_broken_body() -> None:
    body = build_request_body(Batch(_content(), _recipients(1)))
    body["personalizations"][0]["to"] = [{"name": "no address"}]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(body, _mail_send_schema(), cls=jsonschema.Draft202012Validator)


def test_substitutions_are_escaped_per_part_and_ids_travel_in_custom_args() -> None:
    body = build_request_body(Batch(_content(), _recipients(2)))
    assert len(body["content"]) == 2  # the body once per request
    first = body["personalizations"][0]
    assert first["substitutions"]["%%NLH_NAME%%"] == "김 &amp; &lt;Lee&gt;"
    assert first["substitutions"]["%%NLT_NAME%%"] == "김 & <Lee>"
    assert first["substitutions"]["%%NLH_UNSUBSCRIBE_URL%%"].endswith("?a=1&amp;b=2")
    assert first["custom_args"] == {"send_id": "7", "delivery_id": "1000"}
    assert "custom_args" not in body  # typed as a string at the top level by SendGrid
    assert first["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert body["categories"] == ["newsletter", "weekly", "hello"]


def test_the_real_client_gets_202_and_the_message_id(emulator: Emulator) -> None:
    backend = sendgrid_backend(emulator)
    results = backend.send(Batch(_content(), _recipients(3)))
    assert [r.outcome for r in results] == [Outcome.ACCEPTED] * 3
    (accepted,) = emulator.state.accepted
    assert results[0].provider_id == accepted.message_id
    assert accepted.recipients == ["r0@example.net", "r1@example.net", "r2@example.net"]


def test_a_wrong_key_is_a_permanent_error(emulator: Emulator) -> None:
    backend = sendgrid_backend(emulator)
    backend.client = type(backend.client)(api_key="wrong", host=emulator.url)
    with pytest.raises(PermanentBackendError, match="401"):
        backend.send(Batch(_content(), _recipients(1)))


def test_over_1000_recipients_is_refused_by_the_emulator(emulator: Emulator) -> None:
    body = build_request_body(Batch(_content(), _recipients(1000)))
    body["personalizations"][0]["to"].append({"email": "extra@example.net"})
    assert validate(body) == "at most 1000 recipients per request"


def test_429_waits_as_told_then_succeeds_once(emulator: Emulator) -> None:
    emulator.queue(Fault("429", retry_after=7), Fault("429", reset_in=30))
    sleep = RecordingSleep()
    backend = sendgrid_backend(emulator)
    policy = RetryPolicy(max_attempts=5, base_delay=0.01, max_delay=0.05, sleep=sleep)
    results = with_retries(lambda: backend.send(Batch(_content(), _recipients(2))), policy)
    assert results[0].outcome is Outcome.ACCEPTED
    assert sleep.waits[0] == 7
    assert 28 <= sleep.waits[1] <= 31
    assert len(emulator.state.accepted) == 1


def test_5xx_back_off_with_jitter_and_never_duplicate(emulator: Emulator) -> None:
    emulator.queue(Fault("500"), Fault("503"), Fault("500"))
    sleep = RecordingSleep()
    backend = sendgrid_backend(emulator)
    policy = RetryPolicy(max_attempts=5, base_delay=1, max_delay=3, sleep=sleep)
    with_retries(lambda: backend.send(Batch(_content(), _recipients(2))), policy)
    assert len(emulator.state.accepted) == 1
    assert emulator.state.requests == 4
    assert len(sleep.waits) == 3 and all(0.5 <= w <= 3 for w in sleep.waits)
    assert sleep.waits[2] >= 1.5  # the third wait comes from a higher ceiling


@pytest.mark.parametrize("fault", ["drop", "lost"])
def test_a_lost_answer_is_an_unknown_outcome_and_never_retried(
    emulator: Emulator, fault: str
) -> None:
    # "lost": SendGrid took the batch and the answer never came back. Retrying would send
    # it twice; the caller must settle the batch as unknown instead.
    emulator.queue(Fault(fault))
    sleep = RecordingSleep()
    backend = sendgrid_backend(emulator)
    policy = RetryPolicy(max_attempts=5, base_delay=1, max_delay=3, sleep=sleep)
    with pytest.raises(OutcomeUnknownError, match="answer was lost"):
        with_retries(lambda: backend.send(Batch(_content(), _recipients(2))), policy)
    assert emulator.state.requests == 1 and sleep.waits == []


def test_a_refused_connection_is_transient(emulator: Emulator) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    settings = SendgridSettings(host=f"http://127.0.0.1:{closed_port}")
    backend = SendgridBackend(settings, api_key="test-key")
    with pytest.raises(TransientBackendError, match="unreachable"):
        backend.send(Batch(_content(), _recipients(1)))


def test_other_4xx_are_not_retried(emulator: Emulator) -> None:
    emulator.queue(Fault("400"))
    sleep = RecordingSleep()
    backend = sendgrid_backend(emulator)
    policy = RetryPolicy(max_attempts=5, base_delay=1, max_delay=3, sleep=sleep)
    with pytest.raises(PermanentBackendError, match="400"):
        with_retries(lambda: backend.send(Batch(_content(), _recipients(1))), policy)
    assert sleep.waits == [] and emulator.state.requests == 1


def test_a_read_timeout_is_an_unknown_outcome(emulator: Emulator) -> None:
    emulator.queue(Fault("slow", delay=1.0))
    backend = sendgrid_backend(emulator, timeout=0.2)
    with pytest.raises(OutcomeUnknownError):
        backend.send(Batch(_content(), _recipients(1)))
    time.sleep(1.2)
    assert emulator.state.requests == 1


def test_retry_after_reads_both_headers() -> None:
    assert retry_after({"Retry-After": "2.5"}) == 2.5
    assert retry_after({"X-RateLimit-Reset": "1010"}, now=1000) == 10
    assert retry_after({}) is None
