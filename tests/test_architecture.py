"""The layout keeps its promises (docs/architecture.md): no import cycles, layers only import down.

Imports are read from the source (every `import` and `from … import`, at module level or
inside a function — a lazy import is still a dependency), except those under
`if TYPE_CHECKING:`, which never run.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

# Which top-level parts of featbench may import which (docs/architecture.md, "Layers").
# A part not listed may import only the foundation, except the front of the library
# (FRONT: api, demo, dataset) and the command line, which may import anything but the CLI.
FOUNDATION = {
    "featbench",
    "featbench.errors",
    "featbench.target",
    "featbench.spec",
    "featbench.fsutil",
    "featbench.pausepoint",  # test-only pause points (imports nothing of featbench)
    "featbench.clib",  # finds and loads the optional C libraries (imports nothing of featbench)
}
MAY_IMPORT: dict[str, set[str]] = {
    "featbench.generate": set(),
    "featbench.datafiles": {"featbench.generate"},
    "featbench.progress": set(),
    "featbench.backends": {"featbench.generate", "featbench.datafiles", "featbench.progress"},
    "featbench.events": {"featbench.backends"},
    "featbench.workload": {"featbench.backends"},
    "featbench.measure": {"featbench.events", "featbench.backends"},
    "featbench.results": {"featbench.events", "featbench.measure", "featbench.backends"},
    "featbench.runner": {
        "featbench.backends",
        "featbench.events",
        "featbench.measure",
        "featbench.results",
        "featbench.workload",
    },  # fmt: skip
    # Spark only distributes featbench's own loading, generation and client code
    "featbench.spark": {
        "featbench.generate",
        "featbench.datafiles",
        "featbench.backends",
        "featbench.events",
        "featbench.measure",
        "featbench.runner",
        "featbench.workload",
    },  # fmt: skip
    "featbench.report": {
        "featbench.results",
        "featbench.measure",
        "featbench.events",
        "featbench.runner",
        "featbench.progress",
        "featbench.backends",
    },  # fmt: skip
}


def _modules() -> dict[str, Path]:
    out = {}
    for p in (SRC / "featbench").rglob("*.py"):
        parts = p.relative_to(SRC).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = p
    return out


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING"
    )


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """featbench modules `name` imports (resolved to a module of the tree)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                pkg = pkg[: len(pkg) - (node.level - 1)]
                base = ".".join([*pkg, base] if base else pkg)
            for a in node.names:
                found.add(f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text()))
    out = set()
    for m in found:
        while m not in modules and "." in m:
            m = m.rsplit(".", 1)[0]
        if m in modules and m != name and m.startswith("featbench"):
            out.add(m)
    return out


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {m: _imports(m, p, modules) for m, p in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one member (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _part(module: str) -> str:
    """The top-level part of featbench a module belongs to (featbench.runner.client -> featbench.runner)."""
    return ".".join(module.split(".")[:2])


def test_no_import_cycle_between_modules() -> None:
    assert _cycles(_graph()) == []


def test_no_import_cycle_between_packages() -> None:
    parts: dict[str, set[str]] = {}
    for m, deps in _graph().items():
        parts.setdefault(_part(m), set()).update(_part(d) for d in deps if _part(d) != _part(m))
    assert _cycles(parts) == []


FRONT = {"featbench.api", "featbench.demo", "featbench.dataset"}


def test_nothing_but_the_cli_imports_the_cli() -> None:
    bad = sorted(
        f"{m} imports {d}"
        for m, deps in _graph().items()
        if _part(m) not in ("featbench.cli", "featbench.__main__")
        for d in deps
        if _part(d) == "featbench.cli"
    )
    assert bad == []


def test_the_front_is_not_imported_by_the_layers_under_it() -> None:
    bad = sorted(
        f"{m} imports {d}"
        for m, deps in _graph().items()
        if _part(m) in MAY_IMPORT
        for d in deps
        if _part(d) in FRONT
    )
    assert bad == []


@pytest.mark.parametrize("part", sorted(MAY_IMPORT))
def test_layers_import_only_down(part: str) -> None:
    allowed = FOUNDATION | MAY_IMPORT[part] | {part}
    bad = sorted(
        f"{m} imports {d}"
        for m, deps in _graph().items()
        if _part(m) == part
        for d in deps
        if _part(d) not in allowed
    )
    assert bad == []


def test_the_detector_sees_a_cycle() -> None:
    """The check itself can fail: a two-module loop and a three-package loop are found."""
    assert _cycles({"a": {"b"}, "b": {"a"}}) == [["a", "b"]]
    assert _cycles({"x": {"y"}, "y": {"z"}, "z": {"x"}, "w": {"x"}}) == [["x", "y", "z"]]
    assert _cycles({"x": {"y"}, "y": set()}) == []
