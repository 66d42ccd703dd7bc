"""A/B front matter: `subjects:` and `ab_test:` read, validated with one-line errors naming
the file, line and field, reported by `check`; the winner rule; the sample's dealing."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from newsletter.abtest.decide import VariantFigures, WinReason, choose_winner
from newsletter.abtest.service import deal
from newsletter.abtest.spec import Sample
from newsletter.check import check_issue
from newsletter.cli import app
from newsletter.errors import IssueError
from newsletter.issues import parse_issue_file
from newsletter.render import render_issue
from newsletter.settings import Settings
from tests.conftest import REPO
from tests.fixtures.issues import WriteIssue

runner = CliRunner()


def _issue(write_issue: WriteIssue, *front: str, name: str = "2026-12-07-ab.md") -> Path:
    text = "---\ntitle: 테스트 호\ndate: 2026-12-07 09:00 +0900\n" + "\n".join(front)
    return write_issue(name, text + "\n---\n\n본문입니다.\n")


def test_subjects_and_ab_test_are_read(settings: Settings, write_issue: WriteIssue) -> None:
    path = _issue(
        write_issue,
        'subjects: ["첫째 제목", "둘째 제목", "셋째"]',
        "ab_test: {sample: 12.5%, wait: 15m}",
    )
    issue = parse_issue_file(settings, path)
    assert issue.ab_test is not None
    assert issue.ab_test.subjects == ("첫째 제목", "둘째 제목", "셋째")
    assert issue.ab_test.sample == Sample(percent=12.5)
    assert issue.ab_test.wait == timedelta(minutes=15)
    assert issue.subject == "첫째 제목"  # the first subject stands for the issue
    assert "subjects" not in issue.extra and "ab_test" not in issue.extra
    rendered = render_issue(settings, issue)
    assert rendered.ab_test == issue.ab_test and rendered.subject == "첫째 제목"
    # The body is the same for every subject: its <title> is the issue's title.
    assert "<title>테스트 호</title>" in rendered.html


def test_ab_test_defaults_and_counts(settings: Settings, write_issue: WriteIssue) -> None:
    issue = parse_issue_file(settings, _issue(write_issue, "subjects: [A, B]"))
    assert issue.ab_test is not None
    assert issue.ab_test.sample == Sample(percent=20) and issue.ab_test.wait == timedelta(hours=4)
    counted = parse_issue_file(
        settings, _issue(write_issue, "subjects: [A, B]", "ab_test: {sample: 500, wait: 30s}")
    )
    assert counted.ab_test is not None and counted.ab_test.sample == Sample(None, 500)
    assert counted.ab_test.wait == timedelta(seconds=30)
    assert counted.ab_test.sample_size(10_000) == 500
    assert counted.ab_test.sample_size(300) == 300


@pytest.mark.parametrize(
    ("front", "expected"),
    [
        (["subject: 하나", "subjects: [A, B]"], ":4: subject: and subjects: are both given"),
        (["subjects: [A]"], ":4: subjects: needs two or more subjects (found 1)"),
        (["subjects: [A, B]", "deliver: local"], ":4: subjects: an A/B test cannot be combined"),
        (["subjects: A or B"], ":4: subjects: write a list"),
        (["subjects: [A, A]"], ":4: subjects: two subjects are the same"),
        (['subjects: [A, ""]'], ":4: subjects: subject 2 is empty"),
        (['subjects: ["A", "B\\nBcc: x@example.org"]'], ":4: subjects: subject 2 contains"),
        ([f"subjects: [{', '.join(str(n) for n in range(9))}]"], "subjects: at most 8"),
        (["ab_test: {sample: 20%, wait: 4h}"], ":4: ab_test: needs `subjects:`"),
        (["subjects: [A, B]", "ab_test: {sample: 0%, wait: 4h}"], ":5: ab_test.sample: 0%"),
        (["subjects: [A, B]", "ab_test: {sample: 101%}"], "ab_test.sample: 101% is not between"),
        (["subjects: [A, B]", "ab_test: {sample: 1}"], "ab_test.sample: 1 readers cannot try 2"),
        (["subjects: [A, B]", "ab_test: {sample: lots}"], "ab_test.sample: 'lots' is neither"),
        (["subjects: [A, B]", "ab_test: {sample: -5}"], "ab_test.sample: '-5' is neither"),
        (["subjects: [A, B]", "ab_test: {wait: 4 hours}"], "ab_test.wait: '4 hours' is not a"),
        (["subjects: [A, B]", "ab_test: {wait: 30}"], "ab_test.wait: '30' is not a duration"),
        (["subjects: [A, B]", "ab_test: {wait: 0s}"], "ab_test.wait: at least 1s"),
        (["subjects: [A, B]", "ab_test: {wait: 31d}"], "ab_test.wait: at most 30d"),
        (["subjects: [A, B]", "ab_test: {wiat: 4h}"], ":5: ab_test.wiat: unknown"),
        (["subjects: [A, B]", "ab_test: 20%"], ":5: ab_test: write it as"),
    ],
)
def test_bad_ab_front_matter_is_one_line_naming_file_line_and_field(
    settings: Settings, write_issue: WriteIssue, front: list[str], expected: str
) -> None:
    path = _issue(write_issue, *front)
    with pytest.raises(IssueError) as caught:
        parse_issue_file(settings, path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("issues/2026-12-07-ab.md:"), message
    assert expected in message, message


def test_check_reports_ab_errors_and_warns_without_tracking(
    settings: Settings, write_issue: WriteIssue, config_path: Path
) -> None:
    bad = _issue(write_issue, "subjects: [A, B]", "ab_test: {sample: 20%, wait: soon}")
    result = runner.invoke(app, ["--config", str(config_path), "check", str(bad)])
    assert result.exit_code != 0 and isinstance(result.exception, IssueError)
    assert "ab_test.wait: 'soon' is not a duration" in str(result.exception)
    good = _issue(write_issue, 'subjects: ["첫째", "둘째"]', "ab_test: {sample: 10%, wait: 1h}")
    # Tracking is off in the test project: the test would learn nothing.
    report = check_issue(settings, parse_issue_file(settings, good))
    assert report.ok
    assert [w.code for w in report.warnings if w.code.startswith("ab_")] == ["ab_without_tracking"]
    assert report.subjects == ["첫째", "둘째"]
    result = runner.invoke(app, ["--config", str(config_path), "check", str(good), "--json"])
    data = json.loads(result.output)
    assert data["subjects"] == ["첫째", "둘째"]
    assert (
        data["ab_test"]
        == "A/B test: 2 subjects tried on 10% of the readers; the winner goes to the rest after 1h"
    )
    assert "ab_without_tracking" in {w["code"] for w in data["warnings"]}


def _figures(*rows: tuple[int, int]) -> list[VariantFigures]:
    return [
        VariantFigures(n, f"S{n}", recipients=10, delivered=10, clickers=c, openers=o)
        for n, (c, o) in enumerate(rows)
    ]


def test_the_winner_rule() -> None:
    assert choose_winner(_figures((1, 0), (3, 0)), tracking=True) == (1, WinReason.CLICKS)
    assert choose_winner(_figures((2, 5), (2, 7), (1, 9)), tracking=True) == (1, WinReason.OPENS)
    assert choose_winner(_figures((0, 0), (2, 4), (2, 4)), tracking=True) == (1, WinReason.TIE)
    assert choose_winner(_figures((0, 0), (0, 0)), tracking=True) == (0, WinReason.NO_DATA)
    assert choose_winner(_figures((0, 3), (9, 0)), tracking=False) == (
        0,
        WinReason.TRACKING_OFF,
    )
    assert _figures((3, 0))[0].click_rate == 0.3


def test_the_sample_is_dealt_evenly_and_at_random() -> None:
    audience = list(range(1000, 1030))
    for size, variants in ((30, 2), (29, 3), (7, 2), (10, 4)):
        dealt = deal(audience, size=size, variants=variants)
        assert len({row for row, _ in dealt}) == size
        sizes = Counter(variant for _, variant in dealt).values()
        assert max(sizes) - min(sizes) <= 1 and len(sizes) == variants
    # Who lands in which group is random: over 400 deals every reader is in variant 0
    # about half the time (a fixed split would put each reader always or never there).
    rng = random.Random(17)
    in_first = Counter[int]()
    for _ in range(400):
        in_first.update(
            row for row, variant in deal(audience, size=30, variants=2, rng=rng) if variant == 0
        )
    assert all(140 <= in_first[row] <= 260 for row in audience), in_first
    # And who is in the sample at all, for a partial sample.
    drawn = Counter[int]()
    for _ in range(400):
        drawn.update(row for row, _ in deal(audience, size=6, variants=2, rng=rng))
    assert all(40 <= drawn[row] <= 130 for row in audience), drawn


def test_the_abtest_package_imports_first_in_a_fresh_process() -> None:
    # newsletter.abtest imports the delivery package, which imports it back (module imports).
    code = "import newsletter.abtest.service, newsletter.abtest.store, newsletter.abtest.check"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def test_an_advertising_ab_issue_puts_the_prefix_on_every_subject(
    settings: Settings, write_issue: WriteIssue
) -> None:
    path = _issue(write_issue, "ad: true", 'subjects: ["봄 할인", "봄맞이 특가"]')
    rendered = render_issue(settings, parse_issue_file(settings, path))
    assert rendered.ab_test is not None
    assert rendered.ab_test.subjects == ("(광고) 봄 할인", "(광고) 봄맞이 특가")
    assert rendered.subject == "(광고) 봄 할인"
    handwritten = _issue(
        write_issue, "ad: true", 'subjects: ["봄 할인", "[광고] 봄맞이 특가"]', name="x.md"
    )
    report = check_issue(settings, parse_issue_file(settings, handwritten))
    assert "ad_subject_prefix" in {f.code for f in report.errors}
    assert any("subject 2" in f.message for f in report.errors)


def test_issues_show_lists_the_subjects(
    settings: Settings, write_issue: WriteIssue, config_path: Path
) -> None:
    _issue(write_issue, 'subjects: ["첫째", "둘째"]', "ab_test: {sample: 500, wait: 90m}")
    result = runner.invoke(app, ["--config", str(config_path), "issues", "show", "ab", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["subject"] == "첫째" and data["subjects"] == ["첫째", "둘째"]
    assert data["ab_test"] == (
        "A/B test: 2 subjects tried on 500 readers; the winner goes to the rest after 90m"
    )
