"""The bounce mailbox over IMAP (``imap-tools``): the Maildir's pass, then a move aside.

A pass connects (``imap_url``: ``imaps://`` TLS, ``imap://`` STARTTLS required,
``?tls=none`` none), logs in with ``NEWSLETTER_IMAP_PASSWORD``, selects the folder and
creates ``delivery.mailbox.processed_folder`` and ``attention_folder`` when missing. Then,
in batches of UIDs of the messages not flagged ``\\Deleted``: their sizes; the bodies of
those within ``max_message_bytes`` (``BODY.PEEK[]``: nothing is marked read, a larger one
is never downloaded); each judged by :func:`~newsletter.mailbox.service.judge` (one
transaction each, the same events and idempotence as a Maildir); and the batch moved:
``UID MOVE`` when the server offers MOVE, else ``UID COPY`` and, only once the copy
succeeded, ``\\Deleted`` and ``UID EXPUNGE`` (plain ``EXPUNGE`` without UIDPLUS). A
message is never deleted before its copy exists.

A crash or a dropped connection between the commit and the move leaves the message where
it was: the next pass reads it again and counts it ``duplicate``. Anything that keeps the
server from being reached or used raises :class:`~newsletter.errors.MailboxError` naming
the URL (never the password); ``serve`` logs it and tries again at the next pass.
"""

from __future__ import annotations

import imaplib
import logging
import re
import ssl
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress

from imap_tools import BaseMailBox, MailBox, MailBoxStartTls, MailBoxUnencrypted
from imap_tools.errors import ImapToolsError
from imap_tools.utils import encode_folder

from newsletter.errors import ConfigError, MailboxError
from newsletter.mailbox.imap_url import ImapUrl
from newsletter.mailbox.service import Aside, MailboxReport, judge
from newsletter.services import Services

log = logging.getLogger("newsletter.mailbox")

#: Seconds a connect or a reply may take before the pass gives up (the next one retries).
TIMEOUT_SECONDS = 60.0
#: A batch: at most this many messages, and bodies totalling at most this many bytes.
BATCH_MESSAGES = 100
BATCH_BYTES = 20_000_000

_UID = re.compile(rb"\bUID (\d+)")
_SIZE = re.compile(rb"\bRFC822\.SIZE (\d+)")
_FAILURES = (OSError, imaplib.IMAP4.error, ImapToolsError, ValueError, UnicodeError)


def process_imap(services: Services, *, url: ImapUrl) -> MailboxReport:
    """Process every message waiting in the IMAP folder ``url`` (see the module docstring)."""
    mailbox = services.settings.delivery.mailbox
    password = services.settings.secrets.imap_password
    if not password:
        raise ConfigError("NEWSLETTER_IMAP_PASSWORD is not set: the IMAP mailbox needs it")
    folders = {Aside.PROCESSED: mailbox.processed_folder, Aside.ATTENTION: mailbox.attention_folder}
    if url.folder in folders.values():
        raise ConfigError(f"delivery.mailbox: {url.folder!r} is both read and moved into")
    report = MailboxReport()
    limit = mailbox.max_message_bytes
    with _session(url, password) as folder:
        folder.ensure(folders.values())
        sizes = folder.sizes()
        for batch in _batches(sizes, limit):
            moves = _process_batch(services, folder, {uid: sizes[uid] for uid in batch}, report)
            for aside, uids in moves.items():
                folder.move(uids, folders[aside])
    if report.read:
        log.info("mailbox %s: %s", url, report.as_dict())
    return report


def _process_batch(
    services: Services, folder: _Folder, sizes: dict[str, int], report: MailboxReport
) -> dict[Aside, list[str]]:
    """Judge one batch of messages, counting into ``report``; which UIDs go where."""
    limit = services.settings.delivery.mailbox.max_message_bytes
    bodies = folder.bodies([uid for uid, size in sizes.items() if size <= limit])
    moves: dict[Aside, list[str]] = {Aside.PROCESSED: [], Aside.ATTENTION: []}
    for uid, size in sizes.items():
        if size > limit:
            outcome, aside = "too_large", Aside.ATTENTION
        elif uid not in bodies:
            continue  # gone since the listing (another reader took it)
        else:
            outcome, aside = judge(services, bodies[uid], name=f"UID {uid}")
        report.read += 1
        report.outcomes[outcome] += 1
        moves[aside].append(uid)
    return moves


def _batches(sizes: dict[str, int], limit: int) -> Iterator[list[str]]:
    """UIDs in order, cut so that a batch's bodies stay small in memory."""
    batch: list[str] = []
    total = 0
    for uid in sorted(sizes, key=int):
        weight = sizes[uid] if sizes[uid] <= limit else 0
        if batch and (len(batch) >= BATCH_MESSAGES or total + weight > BATCH_BYTES):
            yield batch
            batch, total = [], 0
        batch.append(uid)
        total += weight
    if batch:
        yield batch


@contextmanager
def _failure(url: ImapUrl, what: str) -> Iterator[None]:
    """Any failure talking to the server becomes one ``MailboxError`` line."""
    try:
        yield
    except _FAILURES as exc:
        raise MailboxError(f"mailbox {url}: {what}: {exc or type(exc).__name__}") from exc


@contextmanager
def _session(url: ImapUrl, password: str) -> Iterator[_Folder]:
    """Connected, logged in, ``url.folder`` selected; logged out at the end."""
    with _failure(url, "cannot connect"):
        box = _connect(url)
    try:
        with _failure(url, "cannot log in"):
            _login(box, url.user, password)
        with _failure(url, f"cannot open the folder {url.folder!r}"):
            box.folder.set(url.folder)
        yield _Folder(box, url)
    finally:
        with suppress(*_FAILURES):  # the connection may be gone already
            box.logout()


def _connect(url: ImapUrl) -> BaseMailBox:
    if url.transport == "tls":
        return MailBox(url.host, url.port, timeout=TIMEOUT_SECONDS, ssl_context=_tls())
    if url.transport == "starttls":
        return MailBoxStartTls(url.host, url.port, timeout=TIMEOUT_SECONDS, ssl_context=_tls())
    return MailBoxUnencrypted(url.host, url.port, timeout=TIMEOUT_SECONDS)


def _tls() -> ssl.SSLContext:
    """The system's trusted CAs (``SSL_CERT_FILE`` names another bundle), host name checked."""
    return ssl.create_default_context()


def _login(box: BaseMailBox, user: str, password: str) -> None:
    if user.isascii() and password.isascii():
        box.login(user, password, initial_folder=None)
    else:  # LOGIN takes ASCII only; AUTHENTICATE PLAIN takes UTF-8 (RFC 4616)
        box.login_utf8(user, password, initial_folder=None)


class _Folder:
    """The selected folder of one logged-in connection: list, fetch, move."""

    def __init__(self, box: BaseMailBox, url: ImapUrl) -> None:
        self._box = box
        self._url = url
        with _failure(url, "CAPABILITY"):
            # After login: servers announce MOVE and UIDPLUS only then (Dovecot does).
            typ, data = box.client.capability()
            _ok(typ, data)
        self.capabilities = {c.upper() for c in b" ".join(data).decode("ascii", "replace").split()}

    def ensure(self, names: Iterable[str]) -> None:
        """Create the folders that do not exist yet."""
        for name in names:
            with _failure(self._url, f"cannot create the folder {name!r}"):
                if not self._box.folder.exists(name):
                    self._box.folder.create(name)

    def sizes(self) -> dict[str, int]:
        """UID → size of every message not flagged ``\\Deleted``."""
        with _failure(self._url, "cannot list the messages"):
            uids = self._box.uids("UNDELETED", charset=None)
            sizes: dict[str, int] = {}
            for start in range(0, len(uids), 500):
                data = self._uid("FETCH", ",".join(uids[start : start + 500]), "(RFC822.SIZE)")
                for item in data:
                    line = item[0] if isinstance(item, tuple) else item
                    uid, size = _UID.search(line or b""), _SIZE.search(line or b"")
                    if uid and size:
                        sizes[uid.group(1).decode()] = int(size.group(1))
        return sizes

    def bodies(self, uids: list[str]) -> dict[str, bytes]:
        """UID → the whole message, without setting ``\\Seen``."""
        if not uids:
            return {}
        with _failure(self._url, "cannot fetch messages"):
            data = self._uid("FETCH", ",".join(uids), "(BODY.PEEK[])")
        found: dict[str, bytes] = {}
        for index, item in enumerate(data):
            if not isinstance(item, tuple) or b"BODY[]" not in item[0]:
                continue  # a closing ")" or an unsolicited FETCH (flags changed elsewhere)
            after = data[index + 1] if index + 1 < len(data) else b""
            uid = _UID.search(item[0]) or _UID.search(after if isinstance(after, bytes) else b"")
            if uid:
                found[uid.group(1).decode()] = item[1]
        return found

    def move(self, uids: list[str], folder: str) -> None:
        """Move ``uids`` to ``folder``: MOVE, else copy, then flag and expunge them."""
        if not uids:
            return
        seq = ",".join(uids)
        target = encode_folder(folder).decode("ascii")
        with _failure(self._url, f"cannot move messages to {folder!r}"):
            if "MOVE" in self.capabilities:
                self._uid("MOVE", seq, target)
                return
            self._uid("COPY", seq, target)  # raises unless the copies exist
            self._uid("STORE", seq, "+FLAGS.SILENT", r"(\Deleted)")
            if "UIDPLUS" in self.capabilities:
                self._uid("EXPUNGE", seq)
            else:  # also expunges any other \Deleted message in the folder (RFC 3501)
                typ, data = self._box.client.expunge()
                _ok(typ, data)

    def _uid(self, command: str, *args: str) -> list[bytes | tuple[bytes, bytes]]:
        typ, data = self._box.client.uid(command, *args)
        _ok(typ, data)
        return data


def _ok(typ: str, data: object) -> None:
    if typ != "OK":
        raise imaplib.IMAP4.error(f"{typ} {data!r}"[:300])
