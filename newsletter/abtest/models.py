"""The A/B test of a send (``ab_tests``, one row per send with ``subjects:``).

Written with the send (its subjects, sample and wait as the issue file said then), given
its sample size and decision instant by the fan-out, and its winner once: one UPDATE …
WHERE winner IS NULL, so two runners deciding at once record one winner. Each ledger row
carries its own ``variant`` (the index of its subject) and ``in_sample`` (columns of
``deliveries``, migration 0020).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from subscribers.db import Base


class AbTestRow(Base):
    """One send's A/B test: what it tries, when it decides, what it decided and why."""

    __tablename__ = "ab_tests"

    send_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: The subjects as a JSON list, in the file's order (variant n is subjects[n]).
    subjects: Mapped[str] = mapped_column(Text)
    #: ``20%`` or ``500``, as the front matter said.
    sample: Mapped[str] = mapped_column(String(16))
    wait_seconds: Mapped[int] = mapped_column(Integer)
    #: Readers drawn into the sample at the fan-out (0 until then).
    sample_size: Mapped[int] = mapped_column(Integer, default=0)
    #: When the winner is decided and the rest is due (the sample's start + the wait).
    decide_at: Mapped[datetime | None] = mapped_column(default=None)
    winner: Mapped[int | None] = mapped_column(Integer, default=None)
    #: Why it won: clicks, opens, tie, no_data, tracking_off (newsletter/abtest/decide.py).
    reason: Mapped[str] = mapped_column(String(16), default="")
    decided_at: Mapped[datetime | None] = mapped_column(default=None)
    #: Each variant's figures when it was decided, as JSON (the report shows them live).
    figures: Mapped[str] = mapped_column(Text, default="")
