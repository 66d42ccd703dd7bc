"""Watching ``issues/``: a saved file is synced and planned within a second.

``newsletter serve``'s scheduler syncs ``issues/`` every ``scheduler.sync_interval`` (30 s);
on its own that let an issue saved 20 s before its instant go out 8 s late. The watcher
(``watchfiles``, inotify on Linux) calls the scheduler's sync as soon as a file in the folder
is written, moved or removed; the periodic sync stays as the fallback (a network file
system that sends no events, a change made while the watcher restarts).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("newsletter.scheduler")

#: How long a burst of changes (an editor's save writes several times) is gathered, and how
#: long without a change ends the burst, in milliseconds.
DEBOUNCE_MS = 400
STEP_MS = 50


class IssuesWatcher:
    """A daemon thread that calls ``on_change`` after files in ``folder`` change."""

    def __init__(self, folder: Path, on_change: Callable[[], None]) -> None:
        self.folder = folder
        self._on_change = on_change
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> bool:
        """Start watching; ``False`` (and a log line) when the folder does not exist."""
        if not self.folder.is_dir():
            log.warning(
                "scheduler: %s does not exist: not watched (synced every sync_interval)",
                self.folder,
            )
            return False
        self._thread = threading.Thread(target=self._run, name="issues-watcher", daemon=True)
        self._thread.start()
        log.info("scheduler: watching %s for saved issues", self.folder)
        return True

    def stop(self) -> None:
        """Stop watching (returns within a fraction of a second)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        from watchfiles import watch

        try:
            for changes in watch(
                self.folder,
                stop_event=self._stop,
                debounce=DEBOUNCE_MS,
                step=STEP_MS,
                rust_timeout=1000,
                yield_on_timeout=False,
                raise_interrupt=False,
            ):
                if not any(_is_issue_file(Path(path)) for _change, path in changes):
                    continue
                try:
                    self._on_change()
                except Exception:
                    log.exception("scheduler: syncing after a change in %s failed", self.folder)
        except Exception:
            log.exception("scheduler: watching %s stopped; the periodic sync goes on", self.folder)


def _is_issue_file(path: Path) -> bool:
    # Editors' swap and backup files (.x.swp, x~, .#x) are not issues: no sync for them.
    name = path.name
    return not name.startswith((".", "#")) and not name.endswith(("~", ".swp", ".tmp"))
