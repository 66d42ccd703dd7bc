"""A project's own files over the packaged defaults: init, template overrides, no project.

The packaged defaults here are the checkout's top-level ``templates/`` (an editable
install); tests/test_install.py runs the same from a built wheel.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from newsletter.cli import app
from newsletter.issues import parse_issue_file
from newsletter.render import render_issue
from newsletter.resources import default_templates, migrations_dir, template_dirs
from newsletter.services import Services
from newsletter.settings import Settings
from newsletter.web import create_app
from newsletter.web.i18n import Catalog
from tests.conftest import REPO

runner = CliRunner()

ISSUE = """---
title: Hello from nowhere
date: 2026-12-07 09:00
subject: Hello subject
---

Some **text** with [a link](https://example.org/).
"""


def _issue(folder: Path) -> Path:
    path = folder / "2026-12-07-hello.md"
    path.write_text(ISSUE, encoding="utf-8")
    return path


def test_packaged_defaults_are_found() -> None:
    assert (default_templates() / "email" / "issue.mjml.j2").is_file()
    assert (migrations_dir() / "env.py").is_file()


def test_render_and_check_work_in_a_folder_with_no_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NEWSLETTER_CONFIG", raising=False)
    issue = _issue(tmp_path)
    result = runner.invoke(app, ["render", str(issue), "--out", "out", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["slug"] == "hello"
    assert "Some <strong>text</strong>" in (tmp_path / "out" / "hello.html").read_text("utf-8")
    result = runner.invoke(app, ["check", str(issue), "--json"])
    assert json.loads(result.stdout)["slug"] == "hello"
    assert not (tmp_path / "templates").exists()


def test_a_project_template_overrides_its_default_and_inherits_the_rest(tmp_path: Path) -> None:
    email = tmp_path / "templates" / "email"
    email.mkdir(parents=True)
    (email / "issue.txt.j2").write_text("MINE {{ subject }}\n{{ content_text }}\n", "utf-8")
    settings = Settings(base_dir=tmp_path)
    assert template_dirs(settings, "email") == [email, default_templates() / "email"]
    rendered = render_issue(settings, parse_issue_file(settings, _issue(tmp_path)))
    assert rendered.text.startswith("MINE Hello subject\n")
    assert "Some <strong>text</strong>" in rendered.html  # issue.mjml.j2 from the package


def test_i18n_texts_merge_key_by_key(tmp_path: Path) -> None:
    mine, packaged = tmp_path / "mine", default_templates() / "web" / "i18n"
    mine.mkdir()
    (mine / "en.yaml").write_text("subscribe:\n  title: Join MY letters\n", encoding="utf-8")
    catalog = Catalog.load(mine, packaged)
    full = Catalog.load(packaged)
    assert catalog.text("en", "subscribe.title") == "Join MY letters"
    assert catalog.messages["ko"] == full.messages["ko"]  # no ko.yaml in the project
    assert set(catalog.messages["en"]) == set(full.messages["en"])


def test_web_pages_with_no_project_and_with_one_overridden_text(tmp_path: Path) -> None:
    settings = Settings(base_dir=tmp_path, database={"url": "sqlite:///site.db"})
    services = Services.open(settings)
    try:
        with TestClient(create_app(services, scheduler=False)) as client:
            page = client.get("/subscribe?lang=en")
            assert page.status_code == 200 and "<form" in page.text
            i18n = tmp_path / "templates" / "web" / "i18n"
            i18n.mkdir(parents=True)
            (i18n / "en.yaml").write_text("subscribe:\n  title: Join MY letters\n", "utf-8")
        with TestClient(create_app(services, scheduler=False)) as client:
            page = client.get("/subscribe?lang=en")
            assert "Join MY letters" in page.text and "<form" in page.text
            assert client.get("/archive").status_code == 200
    finally:
        services.close()


def test_init_writes_a_project_and_says_what_it_copied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["init", "site"])
    assert result.exit_code == 0, result.output
    site = tmp_path / "site"
    for name in ("config.yaml", "templates/email/issue.mjml.j2", "templates/web/base.html"):
        assert f"created {Path('site', name)}" in result.output
        assert (site / name).is_file()
    assert str(default_templates()) in result.output.replace("\n", "")
    (sample,) = (site / "issues").glob("*.md")
    monkeypatch.chdir(site)
    parsed = runner.invoke(app, ["issues", "show", str(sample), "--json"])
    assert json.loads(parsed.stdout)["draft"] is True  # never sent by surprise
    assert runner.invoke(app, ["check", str(sample)]).exit_code == 0
    # A second run keeps every file and adds no second sample.
    (site / "config.yaml").write_text("site: {name: Mine}\n", encoding="utf-8")
    again = runner.invoke(app, ["init", str(site)])
    assert "0 file(s) created" in again.output
    assert (site / "config.yaml").read_text(encoding="utf-8") == "site: {name: Mine}\n"
    assert len(list((site / "issues").glob("*.md"))) == 1


def test_db_upgrade_says_it_created_the_database(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("database: {url: 'sqlite:///fresh.db'}\n", encoding="utf-8")
    first = runner.invoke(app, ["--config", str(config), "db", "upgrade"])
    assert first.exit_code == 0, first.output
    assert f"created the database {tmp_path / 'fresh.db'}" in first.output.replace("\n", "")
    second = runner.invoke(app, ["--config", str(config), "db", "upgrade"])
    assert "is up to date" in second.output


@pytest.mark.parametrize("columns", [60, 100, 200])
def test_issues_list_fits_the_terminal_without_cutting_slugs(tmp_path: Path, columns: int) -> None:
    issues = tmp_path / "issues"
    issues.mkdir()
    slugs = ["a-rather-long-slug-for-the-end-of-the-year-letter-2026", "short"]
    for slug in slugs:
        (issues / f"2026-12-07-{slug}.md").write_text(
            ISSUE.replace("Hello from nowhere", f"A title that goes on and on {slug} " * 3),
            encoding="utf-8",
        )
    env = {**os.environ, "COLUMNS": str(columns), "NEWSLETTER_SECRET_KEY": "k" * 32}
    env.pop("NEWSLETTER_CONFIG", None)
    command = [sys.executable, "-c", "from newsletter.cli import main; main()", "issues", "list"]
    shown = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert max(map(len, lines)) <= columns, shown.stdout
    for slug in slugs:
        assert any(slug in line for line in lines), (slug, shown.stdout)
    as_json = subprocess.run(
        [*command, "--json"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    rows = json.loads(as_json.stdout)
    assert sorted(row["slug"] for row in rows) == sorted(slugs)
    assert all(row["title"].count("A title") == 3 for row in rows)


def test_the_repository_keeps_one_copy_of_the_data() -> None:
    assert not (REPO / "newsletter" / "_data").exists()


def test_admin_without_password_says_how_to_enable_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("NEWSLETTER_ADMIN_PASSWORD", raising=False)
    settings = Settings(base_dir=tmp_path, database={"url": "sqlite:///site.db"})
    services = Services.open(settings)
    try:
        with caplog.at_level("WARNING", logger="newsletter.web"):
            web = create_app(services, scheduler=False)
        assert "NEWSLETTER_ADMIN_PASSWORD" in caplog.text  # serve logs it at start
        with TestClient(web) as client:
            html = {"accept": "text/html"}
            for lang, title in (("en", "The dashboard is not enabled"), ("ko", "관리 화면이")):
                page = client.get(f"/admin/issues?lang={lang}", headers=html)
                assert page.status_code == 404
                assert page.headers["content-type"].startswith("text/html")
                assert title in page.text and "NEWSLETTER_ADMIN_PASSWORD" in page.text
            answer = client.get("/admin")
            assert answer.status_code == 404
            assert "NEWSLETTER_ADMIN_PASSWORD" in answer.json()["error"]
            other = client.get("/no-such-page", headers=html)
            assert "NEWSLETTER_ADMIN_PASSWORD" not in other.text
    finally:
        services.close()
