"""brunch text exports → issue files (the seed ``000_*.txt`` and hand-made exports)."""

from __future__ import annotations

import re
from datetime import date, time
from pathlib import Path

import pytest

from newsletter.errors import IssueError
from newsletter.importers import write_issue
from newsletter.importers.brunch import import_brunch
from newsletter.issues import parse_issue_file
from newsletter.render import preview_values, render_issue
from newsletter.settings import Settings
from tests.conftest import seed_path
from tests.fixtures.issues import outline


def _seed_lines() -> list[str]:
    return [line.strip() for line in seed_path("000").read_text(encoding="utf-8").splitlines()]


def _seed_sections() -> list[tuple[str, int]]:
    """(numbered heading line, count of its `- ` items) as the seed itself has them."""
    sections: list[tuple[str, int]] = []
    for line in _seed_lines():
        if re.match(r"^\(\d+\) ", line):
            sections.append((line, 0))
        elif sections and line.startswith("- ") and line != "-":
            heading, count = sections[-1]
            sections[-1] = (heading, count + 1)
        elif line == "keyword":
            break
    return sections


@pytest.fixture
def imported(settings: Settings, tmp_path: Path) -> tuple[Path, str, str]:
    """The seed imported into the project's issues/ and rendered: (file, html, text)."""
    issue_file = write_issue(import_brunch(seed_path("000")), settings.path(settings.issues_dir))
    issue = parse_issue_file(settings, issue_file)
    html, text = render_issue(settings, issue).personalize(preview_values(settings, issue.slug))
    return issue_file, html, text


def test_header_becomes_front_matter(settings: Settings, imported: tuple[Path, str, str]) -> None:
    issue = parse_issue_file(settings, imported[0])
    lines = [line for line in _seed_lines() if line]
    assert issue.title == lines[1]
    assert issue.publish_at_local.date() == date(2025, 8, 25)
    assert issue.publish_at_local.time() == time(9, 0)
    assert issue.preheader == lines[2]
    assert issue.author == lines[3].removeprefix("by ").strip()
    assert issue.warnings == ()


def test_numbered_items_become_headings_in_order_with_their_lists(
    imported: tuple[Path, str, str],
) -> None:
    structure = outline(imported[1])
    expected = _seed_sections()
    assert len(expected) == 4
    headings = [h for h in structure.of("h2") if re.match(r"^\(\d+\) ", h)]
    assert headings == [heading for heading, _ in expected]
    # Each heading is followed by exactly its own list items.
    order = [kind for kind, _ in structure.items if kind in ("h2", "li")]
    counts: list[int] = []
    for kind in order[1:]:  # the first h2 is the quote section
        if kind == "h2":
            counts.append(0)
        else:
            counts[-1] += 1
    assert counts == [count for _, count in expected]


def test_quote_block_is_a_section_with_a_blockquote(imported: tuple[Path, str, str]) -> None:
    lines = _seed_lines()
    bracketed = next(line for line in lines if line.startswith("[") and line.endswith("]"))
    first_quote_paragraph = next(line for line in lines[lines.index(bracketed) + 1 :] if line)
    structure = outline(imported[1])
    assert structure.of("h2")[0] == bracketed[1:-1]
    quotes = structure.of("blockquote")
    assert len(quotes) == 1 and first_quote_paragraph[:40] in quotes[0]
    assert "— " in quotes[0]  # the attribution lines, not list items


def test_no_platform_chrome_separators_or_cover_name(imported: tuple[Path, str, str]) -> None:
    issue_file, html, text = imported
    cover = next(line for line in _seed_lines() if line.lower().endswith(".png"))
    chrome = next(line for line in _seed_lines() if line.startswith("작가의"))
    source = issue_file.read_text(encoding="utf-8")
    body = source.split("---", 2)[2]
    for part in (html, text, body):
        assert cover not in part.replace(f"cover_image: {cover}", "")
        assert "keyword" not in part
        assert chrome[:8] not in part
    assert not re.search(r"^-\s*$", body, re.MULTILINE)


def test_text_part_says_the_same(imported: tuple[Path, str, str]) -> None:
    text = imported[2]
    for heading, _ in _seed_sections():
        assert heading in text
    assert "\n- " in text and "\n> " in text


def _export(tmp_path: Path, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / "export.txt"
    path.write_bytes(text.encode(encoding))
    return path


def test_minimal_export_and_markdown_is_escaped(tmp_path: Path) -> None:
    path = _export(
        tmp_path,
        "brunch\n\n24년 1월 2일 작은 소식\n\nby 누군가\n\n(1) 첫 *항목*\n\n"
        "- 별표 *강조 아님* [괄호]\n\n# 샵으로 시작\n\n1. 숫자로 시작\n",
    )
    imported = import_brunch(path, default_time=time(7, 30))
    assert imported.front_matter["date"].isoformat() == "2024-01-02T07:30:00"
    assert "preheader" not in imported.front_matter or not imported.front_matter["preheader"]
    assert imported.front_matter["author"] == "누군가"
    assert r"\*강조 아님\*" in imported.body and r"\[괄호\]" in imported.body
    assert "\\# 샵으로" in imported.body and "1\\. 숫자로" in imported.body


def test_export_without_date_is_refused_and_nothing_written(tmp_path: Path) -> None:
    path = _export(tmp_path, "brunch\n\n날짜 없는 제목\n\nby x\n\n본문\n")
    out = tmp_path / "out"
    with pytest.raises(IssueError, match=r"export.txt:3: no date"):
        write_issue(import_brunch(path), out)
    assert not out.exists() or not list(out.iterdir())


def test_cp949_export_imports(tmp_path: Path) -> None:
    path = _export(tmp_path, "brunch\n\n25년 9월 1일 옛날 인코딩\n\n(1) 제목\n\n- 항목\n", "cp949")
    imported = import_brunch(path)
    assert imported.front_matter["title"] == "25년 9월 1일 옛날 인코딩"
    assert any("not UTF-8" in w for w in imported.warnings)
