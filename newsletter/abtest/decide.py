"""The rule that picks an A/B test's winner from each subject's figures (pure, no database).

1. Tracking off for the newsletter: the first subject (``tracking_off``); nothing was
   measured, so the test degrades to the first subject.
2. No person clicked or opened in the sample: the first subject (``no_data``).
3. The most unique human clickers wins (``clicks``).
4. Clickers tied at the top: the most unique human openers among those tied (``opens``).
5. Still tied: the first of the tied subjects in the file's order (``tie``).

People only: machine hits (scanners, image proxies, the trap link) are never counted
(newsletter/tracking/classify.py decides what a person is).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum


class WinReason(StrEnum):
    """Why a subject won."""

    CLICKS = "clicks"
    OPENS = "opens"
    TIE = "tie"
    NO_DATA = "no_data"
    TRACKING_OFF = "tracking_off"


#: How each reason reads in reports.
REASON_TEXT = {
    WinReason.CLICKS: "most people clicked",
    WinReason.OPENS: "clicks tied; most people opened",
    WinReason.TIE: "clicks and opens tied; the first of the tied subjects",
    WinReason.NO_DATA: "nobody clicked or opened in the sample; the first subject",
    WinReason.TRACKING_OFF: "tracking is off for this newsletter; the first subject",
}


@dataclass(frozen=True)
class VariantFigures:
    """One subject's group: who got it and how many people engaged.

    ``recipients`` are the ledger rows of the group, ``delivered`` those the backend
    accepted; ``clickers`` and ``openers`` are unique people (one per email);
    ``click_rate`` is clickers over delivered (0 when nothing was delivered).
    """

    variant: int
    subject: str
    recipients: int
    delivered: int
    clickers: int
    openers: int
    click_rate: float = field(init=False)

    def __post_init__(self) -> None:
        rate = round(self.clickers / self.delivered, 4) if self.delivered else 0.0
        object.__setattr__(self, "click_rate", rate)

    @property
    def letter(self) -> str:
        """A, B, C… as reports name the subjects."""
        return chr(ord("A") + self.variant)

    def as_dict(self) -> dict[str, object]:
        """JSON-ready."""
        return asdict(self)


def choose_winner(figures: list[VariantFigures], *, tracking: bool) -> tuple[int, WinReason]:
    """(winning variant, why) by the rule in the module docstring."""
    if not figures:
        return 0, WinReason.NO_DATA
    if not tracking:
        return 0, WinReason.TRACKING_OFF
    if not any(f.clickers or f.openers for f in figures):
        return 0, WinReason.NO_DATA
    most_clicks = max(f.clickers for f in figures)
    leaders = [f for f in figures if f.clickers == most_clicks]
    if len(leaders) == 1:
        return leaders[0].variant, WinReason.CLICKS
    most_opens = max(f.openers for f in leaders)
    openers = [f for f in leaders if f.openers == most_opens]
    if len(openers) == 1:
        return openers[0].variant, WinReason.OPENS
    return min(f.variant for f in openers), WinReason.TIE
