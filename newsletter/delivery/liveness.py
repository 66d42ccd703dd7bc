"""Runner liveness: a lock each runner holds for the life of its run, which others probe.

A runner (``start_send``, a helper process, a ``newsletter worker``, a takeover) takes its
lock *before* its name is written anywhere (on the send or on a claimed row), and keeps it
until it has settled what it claimed. The operating system or the database drops the lock
when the process dies, however it dies (SIGKILL, OOM killer, a lost machine on PostgreSQL).
So a name seen in the database whose lock can be taken belongs to a runner that is no longer
running: its in-flight rows are settled ``unknown`` and its send can be taken over at once.

- SQLite: ``fcntl.flock`` on ``<database file>-runners/<runner>.lock``. The file is kept
  while the runner has rows in flight and removed once it has none (a clean end).
- PostgreSQL: a session-level advisory lock ``pg_advisory_lock(NAMESPACE, key(runner))``
  on a connection held for the run; others probe it with ``pg_try_advisory_lock``.

:func:`state` answers ``DEAD`` only when it proved it; ``UNKNOWN`` (no lock file, an
in-memory database, another dialect) leaves the decision to the heartbeat's stale interval.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import IO

from sqlalchemy import Connection, Engine, text

from newsletter.delivery import store
from newsletter.services import Services

#: First key of every runner's advisory lock (the migrations use the one-key form).
NAMESPACE = 0x6E6C_7275  # "nlru"


class Liveness(StrEnum):
    """What a probe of a runner's lock found."""

    ALIVE = "alive"  # the lock is held: the runner runs
    DEAD = "dead"  # the lock could be taken: the runner is gone
    UNKNOWN = "unknown"  # nothing to probe: only the heartbeat can tell


def lock_dir(engine: Engine) -> Path | None:
    """Where SQLite runners keep their lock files (beside the database file); None elsewhere."""
    if engine.dialect.name != "sqlite":
        return None
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(f"{database}-runners")


def advisory_key(runner: str) -> int:
    """The runner's advisory-lock key: a signed 32-bit hash of its name."""
    digest = hashlib.blake2b(runner.encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big", signed=True)


@dataclass
class _Held:
    count: int
    file: IO[bytes] | None = None
    connection: Connection | None = None


_held: dict[tuple[int, str], _Held] = {}
_held_lock = threading.Lock()


@contextmanager
def hold(services: Services, runner: str) -> Iterator[None]:
    """Hold ``runner``'s lock for the block (re-entrant within a process)."""
    key = (id(services.engine), runner)
    with _held_lock:
        held = _held.get(key)
        if held is not None:
            held.count += 1
        else:
            held = _held[key] = _acquire(services.engine, runner)
    try:
        yield
    finally:
        with _held_lock:
            held.count -= 1
            last = held.count == 0
            if last:
                del _held[key]
        if last:
            _release(services, runner, held)


def _acquire(engine: Engine, runner: str) -> _Held:
    folder = lock_dir(engine)
    if folder is not None:
        folder.mkdir(exist_ok=True)
        handle = (folder / f"{runner}.lock").open("ab")
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)  # a fresh name: never contended
        return _Held(1, file=handle)
    if engine.dialect.name == "postgresql":
        connection = engine.connect()
        connection.execute(
            text("SELECT pg_advisory_lock(:ns, :key)"),
            {"ns": NAMESPACE, "key": advisory_key(runner)},
        )
        connection.commit()  # the lock is the session's: no transaction stays open
        return _Held(1, connection=connection)
    return _Held(1)


def _release(services: Services, runner: str, held: _Held) -> None:
    if held.file is not None:
        try:
            settled = not _has_rows_in_flight(services, runner)
        except Exception:  # the database failed: keep the file, so the rows can be reaped
            settled = False
        if settled:
            # A clean end: nothing of this runner is left to settle, so no file is left.
            Path(held.file.name).unlink(missing_ok=True)
        held.file.close()  # closing drops the flock
    if held.connection is not None:
        try:
            held.connection.execute(
                text("SELECT pg_advisory_unlock(:ns, :key)"),
                {"ns": NAMESPACE, "key": advisory_key(runner)},
            )
            held.connection.commit()
        finally:
            held.connection.close()


def _has_rows_in_flight(services: Services, runner: str) -> bool:
    with services.sessions() as session:
        return store.runner_has_rows_in_flight(session, runner)


def state(services: Services, runner: str) -> Liveness:
    """Probe ``runner``'s lock: ALIVE, DEAD (proved) or UNKNOWN."""
    if not runner:
        return Liveness.UNKNOWN
    with _held_lock:
        if (id(services.engine), runner) in _held:
            return Liveness.ALIVE
    folder = lock_dir(services.engine)
    if folder is not None:
        return _probe_file(folder / f"{runner}.lock")
    if services.engine.dialect.name == "postgresql":
        return _probe_advisory(services.engine, runner)
    return Liveness.UNKNOWN


def _probe_file(path: Path) -> Liveness:
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return Liveness.UNKNOWN
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return Liveness.ALIVE
    finally:
        os.close(fd)  # also drops the probe's own lock
    return Liveness.DEAD


def _probe_advisory(engine: Engine, runner: str) -> Liveness:
    params = {"ns": NAMESPACE, "key": advisory_key(runner)}
    with engine.connect() as connection:
        taken = connection.scalar(text("SELECT pg_try_advisory_lock(:ns, :key)"), params)
        if taken:
            connection.execute(text("SELECT pg_advisory_unlock(:ns, :key)"), params)
        connection.commit()
    return Liveness.DEAD if taken else Liveness.ALIVE


def dead(services: Services, runners: Iterable[str]) -> list[str]:
    """The runners among ``runners`` proved dead."""
    return [r for r in runners if state(services, r) is Liveness.DEAD]


def forget(services: Services, runners: Iterable[str]) -> None:
    """Remove the lock files of dead runners whose rows were settled (SQLite)."""
    folder = lock_dir(services.engine)
    if folder is None:
        return
    for runner in runners:
        if state(services, runner) is Liveness.DEAD:
            (folder / f"{runner}.lock").unlink(missing_ok=True)
