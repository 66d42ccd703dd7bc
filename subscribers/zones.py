"""Reader timezones: IANA names this machine knows (``Asia/Seoul``); "" means the site's."""

from __future__ import annotations

from functools import lru_cache
from zoneinfo import available_timezones

from subscribers.errors import InvalidTimezone

#: The longest name ``subscribers.timezone`` holds.
MAX_LENGTH = 64


#: Files of the tz directory that are not zone names readers could mean.
_NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})


@lru_cache(maxsize=1)
def known_timezones() -> frozenset[str]:
    """Every IANA timezone name of this machine's tz database (``zoneinfo``), without
    ``localtime`` (this machine's own setting), ``posixrules``, ``Factory`` and the
    ``posix/`` and ``right/`` copies."""
    return frozenset(
        name
        for name in available_timezones()
        if len(name) <= MAX_LENGTH
        and name not in _NOT_ZONES
        and not name.startswith(("posix/", "right/"))
    )


def is_known_timezone(name: str) -> bool:
    """Whether ``name`` is exactly an IANA timezone name known here (case matters)."""
    return name in known_timezones()


def check_timezone(name: str, *, field: str = "timezone") -> str:
    """``name`` if it is a known IANA name; ``InvalidTimezone`` naming ``field`` if not.

    Stricter than ``ZoneInfo(name)``, which also opens ``localtime``, ``posixrules`` or a
    file path under the tz directory.
    """
    if not is_known_timezone(name):
        shown = name if len(name) <= 80 else name[:77] + "..."
        raise InvalidTimezone(
            f"{field}: unknown timezone {shown!r} (use an IANA name like Asia/Seoul, or leave "
            "it empty for the site's)"
        )
    return name


def sorted_timezones() -> list[str]:
    """The known names, sorted (the preferences page's list)."""
    return sorted(known_timezones())
