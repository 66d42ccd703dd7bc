"""`newsletter check` on advertising issues: the prefix, the sender's contact, the footer."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from typer.testing import CliRunner

from newsletter.advertising.subject import ad_subject, wrong_prefix
from newsletter.check import check_issue
from newsletter.cli import app as cli_app
from newsletter.errors import IssueError
from newsletter.issues import parse_issue_file
from newsletter.settings import Settings
from tests.fixtures.issues import WriteIssue

OPENERS = ["(", "[", "{", "<", "【", "〔", "「", "『", "《", "〈", "（", "［", "｛", "＜", ""]
CLOSERS = [
    ")",
    "]",
    "}",
    ">",
    "】",
    "〕",
    "」",
    "』",
    "》",
    "〉",
    "）",
    "］",
    "｝",
    "＞",
    ":",
    "：",
    "|",
    "-",
]
SPACES = ["", " ", "  ", "\u3000", "\u00a0", "\u200b", "\t"]
WORDS = ["광고", "광 고", "AD", "ad", "Ad", "ＡＤ", "ａｄ", "Advertisement", "ADV"]


@st.composite
def hand_written_prefixes(draw: st.DrawFn) -> str:
    """Every spelling of an advertising prefix (brackets, spaces, widths, words)."""
    word = draw(st.sampled_from(WORDS))
    opener = draw(st.sampled_from(OPENERS))
    closer = draw(st.sampled_from(CLOSERS))
    inner = draw(st.sampled_from(SPACES)), draw(st.sampled_from(SPACES))
    return f"{opener}{inner[0]}{word}{inner[1]}{closer}"


@hsettings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(prefix=hand_written_prefixes(), rest=st.sampled_from(["연말 특가", " 연말 특가", "Sale"]))
def test_every_prefix_but_the_exact_one_is_found(prefix: str, rest: str) -> None:
    subject = prefix + rest
    if prefix == "(광고)":
        assert wrong_prefix(subject) is None
    else:
        assert wrong_prefix(subject) is not None, subject
    assert ad_subject(subject).startswith("(광고) ")
    assert not ad_subject(subject).startswith("(광고) (광고)")


@pytest.mark.parametrize(
    "title",
    ["광고 시장 동향", "Ad-free living", "(Adobe 소식)", "Advertising works", "(광고) 특가"],
)
def test_titles_about_advertising_are_not_prefixes(title: str) -> None:
    assert wrong_prefix(title) is None


def _cli_check(settings: Settings, slug: str) -> tuple[int, str]:
    config = str(settings.base_dir / "config.yaml")
    result = CliRunner().invoke(cli_app, ["--config", config, "check", slug])
    return result.exit_code, result.output


@pytest.mark.parametrize(
    "prefix", ["[광고]", "(광고 )", "( 광고 )", "(AD)", "광고:", "（광고）", "(광고)(광고)"]
)
def test_check_fails_on_a_hand_written_prefix_naming_the_field(
    ad_settings: Settings, write_issue: WriteIssue, prefix: str
) -> None:
    write_issue("2026-12-07-sale.md", title="연말 특가", subject=f"'{prefix} 연말 특가'", ad="true")
    code, output = _cli_check(ad_settings, "sale")
    assert code != 0
    (line,) = [line for line in output.splitlines() if "ad_subject_prefix" in line]
    assert line.startswith("error ad_subject_prefix: subject:")


def test_check_passes_an_ad_issue_with_the_exact_prefix_or_none(
    ad_settings: Settings, write_issue: WriteIssue
) -> None:
    write_issue("2026-12-07-a.md", title="(광고) 연말 특가", ad="true")
    write_issue("2026-12-07-b.md", title="연말 특가", ad="true", preheader="미리보기")
    for slug in ("a", "b"):
        report = check_issue(
            ad_settings,
            parse_issue_file(
                ad_settings, ad_settings.path(Path("issues")) / f"2026-12-07-{slug}.md"
            ),
        )
        assert not [f for f in report.errors if f.code.startswith("ad_")], report.errors
        assert report.subject == "(광고) 연말 특가"


def test_check_fails_without_a_phone_or_postal_address(
    settings: Settings, write_issue: WriteIssue
) -> None:
    write_issue("2026-12-07-sale.md", title="연말 특가", ad="true")
    code, output = _cli_check(settings, "sale")  # the base project has no phone
    assert code != 0
    assert "error ad_no_phone: phone: empty for newsletter 'weekly' and in site.phone" in output


def test_check_warns_when_a_subject_looks_like_an_ad_but_ad_is_not_set(
    settings: Settings, write_issue: WriteIssue
) -> None:
    path = write_issue("2026-12-07-sale.md", title="[광고] 연말 특가")
    report = check_issue(settings, parse_issue_file(settings, path))
    assert "ad_not_marked" in {f.code for f in report.warnings}


def test_ad_must_be_true_or_false(settings: Settings, write_issue: WriteIssue) -> None:
    path = write_issue("2026-12-07-sale.md", title="연말 특가", ad="maybe")
    with pytest.raises(IssueError, match=r"2026-12-07-sale.md:4: ad: 'maybe' is not true/false"):
        parse_issue_file(settings, path)
