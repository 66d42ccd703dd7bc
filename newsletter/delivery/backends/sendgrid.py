"""The SendGrid backend: the official client, the body once per request, 1,000 recipients.

Each recipient is one personalization with its substitutions (the content's markers as
keys; HTML markers get HTML-escaped values, text markers raw ones, which is why the two
parts use different markers), its own ``List-Unsubscribe`` headers and ``custom_args``
carrying the send and delivery ids for webhook reconciliation. HTTP answers are
translated here, at the boundary, into ``TransientBackendError``/``PermanentBackendError``.
"""

from __future__ import annotations

import html as html_lib
import http.client
import json
import time
import urllib.error
from collections.abc import Mapping
from typing import Any

from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient

from newsletter.delivery.backends.base import Backend
from newsletter.delivery.message import (
    Batch,
    Content,
    Outcome,
    Recipient,
    RecipientResult,
    check_content,
)
from newsletter.errors import (
    ConfigError,
    DeliveryError,
    OutcomeUnknownError,
    PermanentBackendError,
    TransientBackendError,
)
from newsletter.settings import SendgridSettings

MAX_SUBSTITUTION_BYTES = 10_000
#: With a Content-Type other than plain ``application/json`` the client posts our string
#: as it is: compact UTF-8 JSON, a third smaller than its ASCII-escaped default for Korean.
JSON_UTF8 = {"Content-Type": "application/json; charset=utf-8"}


class SendgridBackend(Backend):
    """Posts ``/v3/mail/send`` requests through the official ``sendgrid`` client."""

    name = "sendgrid"
    max_batch = 1000
    parallel_batches = 4

    def __init__(self, settings: SendgridSettings, *, api_key: str | None) -> None:
        if not api_key:
            raise ConfigError("delivery.backend is sendgrid but SENDGRID_API_KEY is not set")
        self.client = SendGridAPIClient(api_key=api_key, host=settings.host.rstrip("/"))
        self.timeout = settings.timeout.total_seconds()

    def build_payload(self, batch: Batch) -> dict[str, Any]:
        """The JSON body: the shared content once, one personalization per recipient."""
        if len(batch.recipients) > self.max_batch:
            raise DeliveryError(f"a SendGrid request takes at most {self.max_batch} recipients")
        return build_request_body(batch)

    def post(self, payload: dict[str, Any]) -> str:
        """POST the body; the ``X-Message-Id`` of the 202 answer, or a translated error."""
        try:
            response = self.client.client.mail.send.post(
                request_body=_json_body(payload), request_headers=JSON_UTF8, timeout=self.timeout
            )
        except HTTPError as exc:
            raise translate_http_error(exc.status_code, exc.headers, exc.body) from None
        except urllib.error.URLError as exc:
            # urllib wraps only failures to connect and to write the request: nothing was sent.
            raise TransientBackendError(f"SendGrid unreachable: {exc.reason}") from None
        except (http.client.HTTPException, OSError) as exc:
            # Raised while waiting for the answer (read timeout, connection dropped): SendGrid
            # may have accepted the batch, so retrying could send it twice.
            raise OutcomeUnknownError(f"SendGrid's answer was lost: {exc!r}") from None
        return str(response.headers.get("X-Message-Id", "") or "")

    def parse_results(self, batch: Batch, response: str) -> list[RecipientResult]:
        """A 202 accepts every personalization under the request's message id."""
        return [
            RecipientResult(r, Outcome.ACCEPTED, provider_id=response) for r in batch.recipients
        ]


def build_request_body(batch: Batch) -> dict[str, Any]:
    """The ``/v3/mail/send`` body for ``batch`` (validated against SendGrid's OpenAPI)."""
    content = batch.content
    # SendGrid writes these into headers: never a CR/LF in them (recipients are checked
    # by Backend.send, which fails only the recipient concerned).
    check_content(content)
    shared_args = {key: str(value) for key, value in content.custom_args.items()}
    body: dict[str, Any] = {
        "from": _address(content.from_email, content.from_name),
        "subject": content.subject,
        "content": [
            {"type": "text/plain", "value": content.text},
            {"type": "text/html", "value": content.html},
        ],
        "personalizations": [_personalization(content, r, shared_args) for r in batch.recipients],
    }
    if content.reply_to:
        body["reply_to"] = {"email": content.reply_to}
    if content.headers:
        body["headers"] = dict(content.headers)
    if content.categories:
        body["categories"] = list(dict.fromkeys(c[:255] for c in content.categories))[:10]
    return body


def _personalization(
    content: Content, recipient: Recipient, shared_args: dict[str, str]
) -> dict[str, Any]:
    item: dict[str, Any] = {"to": [_address(recipient.email, recipient.name)]}
    if recipient.subject and recipient.subject != content.subject:
        item["subject"] = recipient.subject  # an A/B variant: the body stays shared
    substitutions = substitutions_for(content, recipient.values)
    if substitutions:
        item["substitutions"] = substitutions
    if recipient.headers:
        item["headers"] = recipient.headers
    # SendGrid's schema types the top-level custom_args as a string, so the send id
    # travels with each personalization, next to the delivery id.
    custom_args = dict(shared_args)
    if recipient.delivery_id is not None:
        custom_args["delivery_id"] = str(recipient.delivery_id)
    if custom_args:
        item["custom_args"] = custom_args
    return item


def substitutions_for(content: Content, values: Mapping[str, str]) -> dict[str, str]:
    """Marker → value, escaped for the part each marker lives in."""
    result: dict[str, str] = {}
    for key, marker in content.placeholders_html.items():
        result[marker] = html_lib.escape(values.get(key, ""), quote=True)
    for key, marker in content.placeholders_text.items():
        raw = values.get(key, "")
        if result.setdefault(marker, raw) != raw:
            # SendGrid substitutes in every part: one marker cannot carry two escapings.
            raise DeliveryError(f"marker {marker!r} is shared by HTML and text; use distinct ones")
    # Personal values are short (links, a name of at most 200 characters): measure the
    # JSON only when one is long, since this runs once per recipient.
    if max(map(len, result.values()), default=0) > 1000 and (
        len(json.dumps(result).encode()) > MAX_SUBSTITUTION_BYTES
    ):
        raise DeliveryError("personal values exceed SendGrid's 10,000 bytes per recipient")
    return result


def _json_body(payload: dict[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def _address(email: str, name: str) -> dict[str, str]:
    return {"email": email, "name": name} if name else {"email": email}


def translate_http_error(status: int, headers: Any, body: bytes | str | None) -> Exception:
    """A SendGrid HTTP error as the project's exception (429 and 5xx are transient)."""
    detail = _error_detail(body)
    message = f"SendGrid answered {status}: {detail}" if detail else f"SendGrid answered {status}"
    if status == 429:
        return TransientBackendError(message, status=status, retry_after=retry_after(headers))
    if status >= 500:
        return TransientBackendError(message, status=status)
    return PermanentBackendError(message, status=status)


def retry_after(headers: Any, *, now: float | None = None) -> float | None:
    """Seconds to wait, from ``Retry-After`` or ``X-RateLimit-Reset`` (epoch seconds)."""
    if headers is None:
        return None
    value = headers.get("Retry-After")
    if value is not None:
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
    reset = headers.get("X-RateLimit-Reset")
    if reset is not None:
        try:
            return max(0.0, float(reset) - (time.time() if now is None else now))
        except ValueError:
            pass
    return None


def _error_detail(body: bytes | str | None) -> str:
    if not body:
        return ""
    text = body.decode(errors="replace") if isinstance(body, bytes) else body
    try:
        errors = json.loads(text).get("errors") or []
        return "; ".join(str(e.get("message", "")) for e in errors)[:300]
    except (ValueError, AttributeError):
        return text[:300]
