"""The delivery package's imports run one way: no module imports one that imports it back.

``engine`` starts helper processes and ``helpers`` runs the batch loop; both now import
``loop`` (below them) instead of each other. Checked from the source (every ``import``,
also those inside functions), so a circle hidden in a function body is found too.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

PACKAGE = "newsletter.delivery"
FOLDER = REPO / "newsletter" / "delivery"


def _module(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The package's modules that ``path`` imports (``from pkg import name`` included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        found.update(name for name in names if name in modules)
    return found


def _graph() -> dict[str, set[str]]:
    paths = {_module(path): path for path in FOLDER.rglob("*.py")}
    modules = set(paths)
    # The package's __init__ re-exports the engine: it sits above everything.
    return {
        name: _imports(path, modules) - {name, PACKAGE}
        for name, path in paths.items()
        if name != PACKAGE
    }


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_delivery_modules_import_without_a_circle() -> None:
    graph = _graph()
    assert "newsletter.delivery.loop" in graph["newsletter.delivery.helpers"]
    assert _cycle(graph) is None, " → ".join(_cycle(graph) or [])


def test_the_check_finds_a_circle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None
