"""The project's exceptions: one root, each carrying the context a user needs.

    NewsletterError                  every error the project raises on purpose
    ├── ConfigError                  a bad or missing setting (names the key)
    ├── IssueError                   an issue file that cannot be used (names file and line)
    │   └── IssueNotFound            no issue with that slug
    ├── RenderError                  the template or MJML failed
    ├── CheckFailed                  preflight found errors
    ├── DeliveryError                a send could not proceed
    │   ├── SendNotFound
    │   ├── SendStateError           the send is not in a state that allows this
    │   │   └── QuietHoursError      `send --now` inside the newsletter's quiet hours (--force)
    │   └── BackendError             the provider or server refused or failed
    │       ├── TransientBackendError    worth retrying (429, 5xx, timeouts, 4xx SMTP)
    │       ├── PermanentBackendError    not worth retrying (other 4xx, 5xx SMTP)
    │       │   └── UnsafeHeaderError    a header value carries a control character (CR/LF…)
    │       └── OutcomeUnknownError      the request went out, its answer was lost
    ├── SchedulerError
    ├── FeedError                    a feed cannot be added, fetched or read (names its URL)
    │   └── FeedNotFound             no feed with that id or URL
    ├── MailboxError                 the IMAP bounce mailbox cannot be reached or used
    └── AccountError                 an editor's account: unknown, a role, a password, a link

The subscriber store has its own root, ``subscribers.errors.SubscriberError``, because
``subscribers`` never imports ``newsletter``. The CLI (``newsletter.cli``) and the web app
(``newsletter.web``) each map both roots to exit codes and HTTP statuses in one place.
"""

from __future__ import annotations


class NewsletterError(Exception):
    """Root of every error the project raises on purpose; ``str()`` is one line for users."""

    exit_code = 1


class ConfigError(NewsletterError):
    """A setting is missing or invalid; the message names the key."""

    exit_code = 78  # EX_CONFIG


class IssueError(NewsletterError):
    """An issue file cannot be used; the message names the file (and line when known)."""

    exit_code = 65  # EX_DATAERR


class IssueNotFound(IssueError):
    """No issue has the given slug."""

    exit_code = 66  # EX_NOINPUT


class RenderError(NewsletterError):
    """Rendering an issue into email HTML failed."""


class CheckFailed(NewsletterError):
    """The preflight check found at least one error."""


class DeliveryError(NewsletterError):
    """A send could not proceed."""


class SendNotFound(DeliveryError):
    """No send has the given id."""

    exit_code = 66


class SendStateError(DeliveryError):
    """The send is not in a state that allows the requested change."""


class QuietHoursError(SendStateError):
    """A send started by hand inside the newsletter's quiet hours, without ``--force``."""


class BackendError(DeliveryError):
    """A delivery backend failed; ``status`` is the provider's code when there is one."""

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None
    ):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class TransientBackendError(BackendError):
    """A failure worth retrying: rate limits, server errors, timeouts, dropped connections."""


class PermanentBackendError(BackendError):
    """A failure that retrying will not fix: the request or the recipient was refused."""


class UnsafeHeaderError(PermanentBackendError):
    """A header value carries a control character (CR or LF would add headers): not sent."""


class OutcomeUnknownError(BackendError):
    """The request reached the provider but its answer was lost (read timeout, dropped reply).

    Retrying could send the batch twice, so the batch is settled ``unknown`` instead: it is
    reported, and reconciled from webhook events or by ``sends resume --retry-unknown``.
    """


class SchedulerError(NewsletterError):
    """The scheduler could not do what was asked."""


class FeedError(NewsletterError):
    """A feed cannot be added, fetched or read; the message names its URL."""

    exit_code = 65


class FeedNotFound(FeedError):
    """No feed has the given id or URL."""

    exit_code = 66


class MailboxError(NewsletterError):
    """The IMAP bounce mailbox cannot be reached or used (connection, TLS, login, folder);
    the message names the URL (never the password). ``serve`` tries again next pass."""

    exit_code = 69  # EX_UNAVAILABLE


class AccountError(NewsletterError):
    """An editor's account cannot be used so: unknown email, bad role, weak password, a
    set-password link that is expired or used, a wrong second-factor code."""
