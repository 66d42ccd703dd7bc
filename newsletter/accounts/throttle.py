"""The login throttle's rule: a few free failures per key, then waits that double.

Three keys count each failed login: the client address (``ip:``), the account from that
address (``account:ID@ip``) and the account from anywhere (``account:ID``). A try waits
for the longest wait of its keys. The account-wide key is not applied to an address the
account has logged in from in the last 30 days, so a guesser elsewhere slows everybody
down but does not lock the real person out from their usual address.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

#: The first wait once the free failures are used up; each further failure doubles it.
FIRST_WAIT = timedelta(seconds=15)
#: The longest wait.
MAX_WAIT = timedelta(hours=1)
#: A key's failures are forgotten this long after its last one.
FORGET_AFTER = timedelta(hours=24)
#: An address the account logged in from within this long skips the account-wide key.
KNOWN_ADDRESS = timedelta(days=30)
#: The account-wide key allows this many times the per-address free failures.
ACCOUNT_FACTOR = 4


@dataclass(frozen=True)
class Key:
    """One throttle key and how many failures it allows before waits begin."""

    name: str
    free: int


def keys_for(ip: str, *, account_id: int | None, free: int, known: bool) -> list[Key]:
    """The keys one login attempt counts against (``free`` per address: web.login_rate_limit)."""
    keys = [Key(f"ip:{ip}", free)]
    if account_id is not None:
        keys.append(Key(f"account:{account_id}@{ip}", free))
        if not known:
            keys.append(Key(f"account:{account_id}", free * ACCOUNT_FACTOR))
    return keys


def wait_after(failures: int, free: int) -> timedelta:
    """How long the next try must wait after ``failures`` failures (0 while free)."""
    if free <= 0 or failures < free:
        return timedelta(0)
    steps = min(failures - free, 20)  # 15 s · 2^20 is past the cap already
    wait: timedelta = FIRST_WAIT * (2**steps)
    return min(wait, MAX_WAIT)


def current_failures(failures: int, last_failure_at: datetime, now: datetime) -> int:
    """A key's failures as they count now (forgotten a day after the last one)."""
    return 0 if now - last_failure_at >= FORGET_AFTER else failures
