"""Jekyll posts → issue files (the seed ``001_*.txt`` placed in a ``_posts`` folder)."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from newsletter.errors import IssueError
from newsletter.importers import write_issue
from newsletter.importers.jekyll import import_jekyll, post_files
from newsletter.issues import parse_issue_file
from newsletter.render import preview_values, render_issue
from newsletter.settings import Settings
from tests.conftest import seed_path
from tests.fixtures.issues import outline


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A Jekyll site whose _posts holds the seed under a Jekyll file name."""
    posts = tmp_path / "site" / "_posts"
    posts.mkdir(parents=True)
    shutil.copyfile(seed_path("001"), posts / "2025-08-18-content-shift.md")
    (posts / ".hidden.md").write_text("ignored", encoding="utf-8")
    return tmp_path / "site"


def _subheading_pairs() -> list[tuple[str, str]]:
    """(sub-heading line, the paragraph line right below it) as written in the seed."""
    lines = seed_path("001").read_text(encoding="utf-8").split("---", 2)[2].splitlines()
    return [
        (a, b)
        for before, a, b in zip(lines, lines[1:], lines[2:], strict=False)
        if not before.strip() and a.strip() and b.strip() and not a.startswith("#")
    ]


def test_posts_folder_is_found_from_the_site(site: Path) -> None:
    assert [p.name for p in post_files([site])] == ["2025-08-18-content-shift.md"]


def test_seed_imports_with_title_colon_and_instant(
    settings: Settings, site: Path, tmp_path: Path
) -> None:
    imported = import_jekyll(settings, post_files([site])[0])
    written = write_issue(imported, tmp_path / "out")
    assert written.name == "2025-08-18-content-shift.md"
    front = yaml.safe_load(written.read_text(encoding="utf-8").split("---")[1])  # strict YAML now
    assert ": " in front["title"]
    issue = parse_issue_file(settings, written)
    assert issue.title == front["title"]
    assert issue.publish_at == datetime(2025, 8, 18, 11, 0, 9, tzinfo=UTC)
    assert issue.slug == "content-shift"
    assert issue.categories == ("뉴스", "IT")
    assert issue.warnings == ()  # the clean copy needs no repair
    assert any(":2:" in warning for warning in imported.warnings)  # the original did


def test_subheading_lines_stay_on_their_own_line(settings: Settings, site: Path) -> None:
    issue = parse_issue_file(settings, post_files([site])[0])
    html, text = render_issue(settings, issue).personalize(preview_values(settings, issue.slug))
    pairs = _subheading_pairs()
    assert len(pairs) >= 10
    for heading, paragraph in pairs:
        assert f"{heading}<br />\n{paragraph[:20]}" in html.replace("&quot;", '"')
        assert f"{heading}\n{paragraph[:20]}" in text
    assert len(outline(html).of("h2")) == 3


def test_jekyll_specifics(settings: Settings, tmp_path: Path) -> None:
    post = tmp_path / "2024-05-06-draft.markdown"
    post.write_text(
        "---\nlayout: post\ntitle: Hidden\ndate: 2024-05-06 10:00:00 +0000\npublished: false\n"
        "description: Short\n---\nIntro\n<!--more-->\n{% raw %}kept{% endraw %} {{ site.url }}\n",
        encoding="utf-8",
    )
    imported = import_jekyll(settings, post, newsletter_id="letters")
    assert imported.front_matter["draft"] is True
    assert imported.front_matter["preheader"] == "Short"
    assert imported.front_matter["newsletter"] == "letters"
    assert "<!--more-->" not in imported.body and "{% raw %}" not in imported.body
    assert any("Liquid" in warning for warning in imported.warnings)


def test_post_without_title_is_refused(settings: Settings, tmp_path: Path) -> None:
    post = tmp_path / "2024-05-06-x.md"
    post.write_text("---\ndate: 2024-05-06\n---\nbody\n", encoding="utf-8")
    with pytest.raises(IssueError, match="no title"):
        import_jekyll(settings, post)
