"""The product as an operator installs it: the wheel, in a fresh virtualenv, outside the tree.

``python -m build`` makes the sdist and, from it, the wheel (so the sdist is checked too).
The wheel goes into a new virtualenv with ``--no-deps``; the dependencies come from this
test run's environment through a ``.pth`` line (fast, and no index needed). Every command
runs with its working directory outside the repository, and the test checks that
``newsletter`` is imported from the virtualenv, never from the source tree.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import threading
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO, seed_path

pytestmark = pytest.mark.slow


def _run(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, encoding="utf-8", timeout=300
    )
    assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(sdist, wheel) built from a copy of the tracked files (the checkout stays clean)."""
    require_build()
    work = tmp_path_factory.mktemp("build")
    source = work / "src"
    files = _run(["git", "ls-files", "-z"], REPO).split("\0")
    for name in filter(None, files):
        if (REPO / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, source / name)
    _run([sys.executable, "-m", "build", "--outdir", str(work / "dist"), str(source)], work)
    sdist = next((work / "dist").glob("newsletter-*.tar.gz"))
    wheel = next((work / "dist").glob("newsletter-*.whl"))
    return sdist, wheel


def require_build() -> None:
    from tests.conftest import require

    try:
        import build  # noqa: F401
    except ImportError:
        require(False, "the `build` package (pip install -e '.[dev]')")


@pytest.fixture(scope="module")
def venv(built: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with only the wheel installed; returns its bin/ folder."""
    root = tmp_path_factory.mktemp("venv") / "env"
    _run([sys.executable, "-m", "venv", "--without-pip", str(root)], root.parent)
    python = root / "bin" / "python"
    purelib = _run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        root.parent,
    ).strip()
    # The test environment's packages, after the venv's own: the dependencies (and pip).
    dependencies = sysconfig.get_paths()["purelib"]
    Path(purelib, "_test_dependencies.pth").write_text(dependencies + "\n", encoding="utf-8")
    _run([str(python), "-m", "pip", "install", "--no-deps", "-q", str(built[1])], root.parent)
    return root / "bin"


def test_the_wheel_and_sdist_carry_the_package_data(built: tuple[Path, Path]) -> None:
    sdist, wheel = built
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in (
        "newsletter/_data/config.yaml",
        "newsletter/_data/migrations/env.py",
        "newsletter/_data/templates/email/issue.mjml.j2",
        "newsletter/_data/templates/web/i18n/ko.yaml",
        "newsletter/_data/templates/web/admin/i18n/en.yaml",
    ):
        assert name in names, name
    versions = {n for n in names if n.startswith("newsletter/_data/migrations/versions/")}
    assert len(versions) == len(list((REPO / "migrations" / "versions").glob("*.py")))
    assert not any(n.startswith(("tests/", "benchmarks/")) for n in names)
    listing = _run(["tar", "tzf", str(sdist)], sdist.parent)
    assert "/templates/web/base.html" in listing and "/config.yaml" in listing


class Serve:
    """``newsletter serve`` from the virtualenv, with its log collected."""

    def __init__(self, command: list[str], cwd: Path, env: dict[str, str]) -> None:
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip())

    def url(self, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(r"Uvicorn running on (http://\S+)", "\n".join(self.lines))
            if found:
                return found[1]
            assert self.process.poll() is None, "\n".join(self.lines)
            time.sleep(0.1)
        raise AssertionError("serve did not start:\n" + "\n".join(self.lines))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def outside(tmp_path: Path) -> Iterator[Path]:
    """An empty folder outside the repository."""
    folder = tmp_path / "empty"
    folder.mkdir()
    assert REPO not in folder.resolve().parents
    yield folder


def test_installed_wheel_runs_a_project_from_an_empty_folder(venv: Path, outside: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSLETTER_", "PYTHON"))}
    env.update(NEWSLETTER_SECRET_KEY="install-test-secret-0123456789abcdef", PYTHONUNBUFFERED="1")
    newsletter = str(venv / "newsletter")

    def cli(*args: str, cwd: Path) -> str:
        return _run([newsletter, *args], cwd, env)

    where = _run(
        [str(venv / "python"), "-c", "import newsletter, subscribers; print(newsletter.__file__)"],
        outside,
        env,
    ).strip()
    assert Path(where).is_relative_to(venv.parent), where
    assert "init" in cli("--help", cwd=outside)  # --help works with no project
    assert cli("--version", cwd=outside).strip().startswith("newsletter ")

    # init writes a working project and says what it copied.
    said = cli("init", "site", cwd=outside)
    project = outside / "site"
    assert "created site/config.yaml" in said and "templates/email/issue.txt.j2" in said
    assert (project / "config.yaml").read_text(encoding="utf-8").startswith("#")
    assert "created the database" in cli("db", "upgrade", cwd=project)
    assert "is up to date" in cli("db", "upgrade", cwd=project)

    # The brunch seed becomes an issue; render and send it.
    before = set((project / "issues").iterdir())
    cli("import", "brunch", str(seed_path("000")), cwd=project)
    (written,) = set((project / "issues").iterdir()) - before
    shown = json.loads(cli("issues", "show", str(written), "--json", cwd=project))
    slug, title = shown["slug"], shown["title"]
    # The project overrides one template (its copy of issue.txt.j2) and inherits the rest:
    # the layout it was given is removed, so the packaged one is used.
    text_template = project / "templates" / "email" / "issue.txt.j2"
    text_template.write_text(
        "OVERRIDDEN {{ subject }}\n" + text_template.read_text(encoding="utf-8"), "utf-8"
    )
    (project / "templates" / "email" / "_layout.mjml.j2").unlink()
    cli("render", slug, "--out", "out", cwd=project)
    assert (project / "out" / f"{slug}.txt").read_text(encoding="utf-8").startswith("OVERRIDDEN ")
    assert "<html" in (project / "out" / f"{slug}.html").read_text(encoding="utf-8")

    cli("subscribers", "add", "reader@example.org", "--confirmed", cwd=project)
    cli("send", slug, "--now", cwd=project)
    sent = [p.read_bytes() for p in (project / "outbox" / "new").iterdir()]  # a Maildir
    assert len(sent) == 1 and b"reader@example.org" in sent[0]

    # A web page overridden by the project; the others come from the package.
    packaged = Path(where).parent / "_data" / "templates" / "web" / "subscribe.html"
    page = project / "templates" / "web" / "subscribe.html"
    page.write_text(
        packaged.read_text(encoding="utf-8").replace(
            "{% block content %}", "{% block content %}<p>PROJECT-SUBSCRIBE</p>", 1
        ),
        encoding="utf-8",
    )
    serve = Serve([newsletter, "serve", "--port", "0"], project, env)
    try:
        base = serve.url()
        with urllib.request.urlopen(f"{base}/subscribe?lang=en", timeout=30) as answer:
            assert answer.status == 200
            assert "PROJECT-SUBSCRIBE" in answer.read().decode("utf-8")
        with urllib.request.urlopen(f"{base}/archive", timeout=30) as answer:
            assert answer.status == 200
            assert html.escape(title) in answer.read().decode("utf-8")
    finally:
        serve.stop()
