"""The API's exceptions, under the project's root.

NewsletterError
└── ApiError
    ├── ApiKeyError          a key cannot be created or found (CLI, dashboard)
    └── Problem              an RFC 9457 problem answered by /api/v1 (status, field)
"""

from __future__ import annotations

from newsletter.errors import NewsletterError


class ApiError(NewsletterError):
    """Root of the API's errors."""


class ApiKeyError(ApiError):
    """A key cannot be created, found or revoked; the message says why."""

    exit_code = 65


class Problem(ApiError):
    """An error answered as ``application/problem+json``; ``field`` names the bad input."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str = "",
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail or title
        self.field = field
        self.headers = headers or {}
