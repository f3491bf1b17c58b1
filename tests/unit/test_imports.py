"""The package's parts depend on each other one way: no import cycle between the packages and
top-level modules of ``exporter`` (``web`` → ``generations`` → ``gateway``, never back)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import exporter

ROOT = Path(exporter.__file__).parent


def part_of(path: Path) -> str:
    """The package (web, generations …) or top-level module (config, metrics …) of a file."""
    relative = path.relative_to(ROOT)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def imported_parts(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
            if node.module == "exporter":  # from exporter import routes
                names = [f"exporter.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "exporter" and len(parts) > 1:
                yield parts[1]


def dependencies() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in ROOT.rglob("*.py"):
        part = part_of(path)
        graph.setdefault(part, set()).update(p for p in imported_parts(path) if p != part)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected parts of more than one node (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle_between_the_packages() -> None:
    assert cycles(dependencies()) == []


def test_the_checker_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_generations_know_nothing_of_http() -> None:
    """HTTP stops at web/: the domain never sees a request."""
    graph = dependencies()
    assert "web" not in graph["generations"]
    for path in (ROOT / "generations").rglob("*.py"):
        assert "starlette" not in path.read_text(), path.name
