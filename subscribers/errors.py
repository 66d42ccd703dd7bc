"""The subscriber store's exceptions (its own root: ``subscribers`` never imports ``newsletter``).

SubscriberError              every error the store raises on purpose
├── InvalidAddress           not an email address we can send to (names it)
├── InvalidToken             tampered, foreign, made-up or expired: told apart only in logs
├── SubscriberNotFound
├── UnknownNewsletter            not a configured newsletter id
├── InvalidTimezone          not an IANA timezone name
├── Suppressed               the address is on the suppression list
└── ImportRejected           a CSV import failed as a whole (names file and lines)
"""

from __future__ import annotations


class SubscriberError(Exception):
    """Root of every error the subscriber store raises on purpose."""

    exit_code = 1


class InvalidAddress(SubscriberError):
    """The address is not one we can send to."""

    exit_code = 65


class InvalidToken(SubscriberError):
    """A token that does not verify; the message is the same for every cause."""


class SubscriberNotFound(SubscriberError):
    """No subscriber has this address or id."""

    exit_code = 66


class Suppressed(SubscriberError):
    """The address is suppressed (erased, complained or hard-bounced)."""


class ImportRejected(SubscriberError):
    """A CSV import was refused as a whole; nothing was written."""

    exit_code = 65


class UnknownNewsletter(SubscriberError):
    """No newsletter has this id (newsletters come from ``config.yaml``)."""

    exit_code = 66


class InvalidTimezone(SubscriberError):
    """Not a timezone name this machine knows (IANA, e.g. ``Asia/Seoul``)."""

    exit_code = 65
