"""The issue commands, through the real CLI: render, check, import, issues, init, demo."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from newsletter.cli import app
from newsletter.errors import CheckFailed, IssueError
from tests.conftest import seed_path
from tests.fixtures.issues import WriteIssue, issue_text

runner = CliRunner()


def _run(config_path: Path, *args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, ["--config", str(config_path), *args])


def test_render_writes_html_and_text_and_prints_json(
    config_path: Path, write_issue: WriteIssue, tmp_path: Path
) -> None:
    write_issue("2026-12-07-hello.md", issue_text(preheader="미리"))
    result = _run(config_path, "render", "hello", "--out", str(tmp_path / "out"), "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["slug"] == "hello" and summary["preheader"] == "미리"
    assert summary["publish_at"] == "2026-12-07T00:00:00+00:00"
    html = (tmp_path / "out" / "hello.html").read_text(encoding="utf-8")
    assert len(html.encode("utf-8")) == summary["html_bytes"]
    assert "%%NL" not in html and "/unsubscribe/preview" in html
    assert (tmp_path / "out" / "hello.txt").read_text(encoding="utf-8").startswith("Weekly")


def test_check_passes_and_fails(config_path: Path, write_issue: WriteIssue) -> None:
    write_issue("good.md")
    ok = _run(config_path, "check", "good", "--json")
    assert ok.exit_code == 0 and json.loads(ok.stdout)["ok"] is True
    write_issue("bad.md", body="![](https://example.org/x.png)\n")
    failed = _run(config_path, "check", "bad", "--json")
    assert isinstance(failed.exception, CheckFailed)
    assert json.loads(failed.stdout)["errors"][0]["code"] == "missing_alt"


def test_import_brunch_and_jekyll_then_sync_list_show(config_path: Path, tmp_path: Path) -> None:
    assert _run(config_path, "import", "brunch", str(seed_path("000"))).exit_code == 0
    posts = tmp_path / "site" / "_posts"
    posts.mkdir(parents=True)
    (posts / "2025-08-18-shift.md").write_bytes(seed_path("001").read_bytes())
    imported = _run(config_path, "import", "jekyll", str(tmp_path / "site"))
    assert imported.exit_code == 0, imported.output
    assert len(list((tmp_path / "issues").glob("*.md"))) == 2
    synced = _run(config_path, "issues", "sync", "--json")
    assert synced.exit_code == 0, synced.output
    assert sorted(json.loads(synced.stdout)["created"]) == [
        "2025-08-25-흠터레스팅-테크-뉴스",
        "shift",
    ]
    listed = json.loads(_run(config_path, "issues", "list", "--json").stdout)
    assert {row["status"] for row in listed} == {"scheduled"}
    shown = json.loads(_run(config_path, "issues", "show", "shift", "--json").stdout)
    assert shown["publish_at"] == "2025-08-18T11:00:09+00:00" and shown["status"] == "scheduled"
    again = _run(config_path, "import", "brunch", str(seed_path("000")))
    assert again.exit_code == 0  # same content: nothing to overwrite


def test_sync_reports_bad_files_and_fails(config_path: Path, write_issue: WriteIssue) -> None:
    write_issue("fine.md")
    write_issue("bad.md", "---\ntitle: only\n---\n")
    result = _run(config_path, "issues", "sync", "--json")
    assert isinstance(result.exception, IssueError)
    report = json.loads(result.stdout)
    assert report["created"] == ["fine"] and report["errors"][0].startswith("issues/bad.md:")


def test_init_scaffolds_a_project(tmp_path: Path) -> None:
    target = tmp_path / "new"
    result = runner.invoke(app, ["init", str(target)])
    assert result.exit_code == 0, result.output
    assert (target / "config.yaml").is_file()
    assert (target / "templates" / "email" / "issue.mjml.j2").is_file()
    assert list((target / "issues").glob("*.md"))
    (target / "config.yaml").write_text("site: {name: Mine}\n", encoding="utf-8")
    runner.invoke(app, ["init", str(target)])
    assert (target / "config.yaml").read_text(encoding="utf-8") == "site: {name: Mine}\n"


def test_sample_issues_of_the_project_parse_and_pass_check() -> None:
    root = Path(__file__).resolve().parent.parent
    for path in sorted((root / "issues").glob("*.md")):
        result = runner.invoke(app, ["--config", str(root / "config.yaml"), "check", str(path)])
        assert result.exit_code == 0, (path, result.output)


def test_refusal_is_one_line_on_stderr_with_exit_code(
    config_path: Path, write_issue: WriteIssue
) -> None:
    write_issue("x.md", "---\ntitle: no date here\n---\n")
    env = {**os.environ, "NEWSLETTER_CONFIG": str(config_path)}
    done = subprocess.run(
        [sys.executable, "-m", "newsletter", "render", "x"],
        capture_output=True,
        text=True,
        env=env,
        cwd=config_path.parent,
        timeout=60,
        check=False,
    )
    assert done.returncode == 65
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "issues/x.md:" in lines[0] and "no date" in lines[0]
    assert not list(config_path.parent.glob("*.html"))
