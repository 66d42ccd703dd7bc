"""SpamAssassin's local tests (Debian's ``spamassassin``, ``-L``: no network) on the five
emails the project renders and their test copies, as the outbox backend writes them."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from newsletter.services import Services
from newsletter.settings import Settings
from tests.conftest import require
from tests.inbox_support import NAMES, copy_message, install_issues, real_message

pytestmark = pytest.mark.slow

#: The most a message may score (SpamAssassin's spam threshold is 5).
MAX_SCORE = 0.5
_STATUS = re.compile(r"X-Spam-Status: \w+, score=(-?[\d.]+).*?tests=(.*?)(?:autolearn=|\n\S)", re.S)


def spam_score(raw: bytes) -> tuple[float, str]:
    """(score, rules hit) of ``raw`` by ``spamassassin -L -t`` (local tests only)."""
    binary = shutil.which("spamassassin")
    require(binary is not None, "spamassassin (apt-get install spamassassin)")
    assert binary is not None
    done = subprocess.run(
        [binary, "-L", "-t"], input=raw, capture_output=True, timeout=120, check=True
    )
    match = _STATUS.search(done.stdout.decode("utf-8", "replace"))
    assert match is not None, done.stdout[-2000:]
    return float(match[1]), " ".join(match[2].replace(",", " ").split())


@pytest.mark.parametrize("name", NAMES)
def test_real_send_and_test_copy_score_at_most_half_a_point(
    services: Services, settings: Settings, tmp_path: Path, name: str
) -> None:
    slug = install_issues(settings)[name]
    for kind, raw in (
        ("send", real_message(services, slug)),
        ("test copy", copy_message(services, slug, tmp_path)),
    ):
        score, rules = spam_score(raw)
        assert score <= MAX_SCORE, f"{name} {kind}: {score} ({rules})"
        # The Jekyll seed's own subject is Hangul around "AI": SpamAssassin counts only
        # ASCII letters, so it scores SUBJ_ALL_CAPS (0.5) in the real send too; the test
        # copy's prefix must add nothing to that.
        for rule in ("HTML_FONT_LOW_CONTRAST", "SUBJ_ALL_CAPS" if name != "seed-001" else ""):
            assert not rule or rule not in rules.split(), f"{name} {kind}: {rules}"
