"""``newsletter.events`` and the mailbox reader built on it sits below the web app:
no module of theirs imports ``newsletter.web`` or ``newsletter.api``, not even inside a
function. Checked from the source, every ``import`` statement."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import REPO

UPWARD = ("newsletter.web", "newsletter.api", "newsletter.cli")


def _imported(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def _upward(folder: Path) -> list[str]:
    return sorted(
        f"{path.relative_to(folder)} imports {name}"
        for path in folder.rglob("*.py")
        for name in _imported(path)
        if any(name == up or name.startswith(up + ".") for up in UPWARD)
    )


@pytest.mark.parametrize("folder", ["events", "mailbox"])
def test_event_packages_never_import_upward(folder: str) -> None:
    path = REPO / "newsletter" / folder
    assert path.is_dir()
    assert _upward(path) == []


def test_the_check_finds_an_upward_import(tmp_path: Path) -> None:
    (tmp_path / "x.py").write_text("def f():\n    from newsletter.web import app\n")
    assert _upward(tmp_path) == ["x.py imports newsletter.web"]
