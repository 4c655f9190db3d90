"""The package's stages import one way, and no module imports itself back in a circle.

Each top-level room of ``simulator`` may import only the rooms named in ``MAY_IMPORT``.
Imports under ``if TYPE_CHECKING:`` are annotations, not dependencies, and are not counted.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "simulator"

MAY_IMPORT: dict[str, set[str]] = {
    "__init__": set(),
    "core": set(),
    "experience": {"core"},
    "settlement": {"core"},
    "capital": {"core", "settlement"},
    "scenario": {"core", "experience", "settlement", "capital"},
    "calibration": {"core", "experience", "scenario"},
    "rundir": {"core", "experience", "scenario"},
    "analysis": {"core", "experience", "settlement", "capital", "scenario", "rundir"},
    "run": {"core", "experience", "settlement", "capital", "analysis", "scenario", "rundir"},
    "app": {"core", "settlement", "capital", "analysis", "scenario", "rundir", "run"},
    "cli": {"core", "experience", "settlement", "capital", "analysis", "calibration", "scenario",
            "rundir", "run", "app"},
}
"""Rooms in stage order: a room imports only rooms above it, and settlement never experience."""


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def runtime_imports(path: Path) -> set[str]:
    """Modules of ``simulator`` that ``path`` imports at run time (lazy imports included)."""
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and is_type_checking(child):
                for other in child.orelse:
                    visit(other)
                continue
            if isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")[: len(package.split(".")) - child.level + 1]
                    target = ".".join(base + ([child.module] if child.module else []))
                else:
                    target = child.module or ""
                if target.startswith("simulator"):
                    found.add(target)
                    if child.module is None:  # "from . import x" names modules
                        found.update(f"{target}.{a.name}" for a in child.names)
            elif isinstance(child, ast.Import):
                found.update(a.name for a in child.names if a.name.startswith("simulator"))
            visit(child)

    visit(ast.parse(path.read_text(), str(path)))
    return found


def room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def import_graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        # "from .x import y" may name a module y or an object y; keep only real modules
        graph[name] = {t for t in runtime_imports(path) if t in modules and t != name}
    return graph


def test_every_room_is_known():
    rooms = {room(m) for m in import_graph()}
    assert rooms <= set(MAY_IMPORT), f"add {sorted(rooms - set(MAY_IMPORT))} to MAY_IMPORT"


def test_the_allowed_imports_themselves_run_one_way():
    order = list(MAY_IMPORT)
    backwards = {r: sorted(MAY_IMPORT[r] - set(order[:i])) for i, r in enumerate(order)}
    assert not any(backwards.values()), f"rooms allowed to import a room below them: {backwards}"


def test_imports_run_with_the_stage_order():
    wrong = sorted(f"{src} imports {dst}" for src, targets in import_graph().items()
                   for dst in targets
                   if room(dst) != room(src) and room(dst) not in MAY_IMPORT[room(src)])
    assert not wrong, "imports against the stage order:\n" + "\n".join(wrong)


def test_no_import_circles():
    graph = import_graph()
    state: dict[str, int] = {}
    stack: list[str] = []

    def walk(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := walk(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := walk(node)):
            pytest.fail("import circle: " + " -> ".join(cycle))


def test_the_checker_sees_a_bad_import(tmp_path, monkeypatch):
    """The rules above would catch settlement importing experience (the check can fail)."""
    fake = tmp_path / "simulator"
    (fake / "settlement").mkdir(parents=True)
    (fake / "experience").mkdir()
    (fake / "experience" / "costs.py").write_text("X = 1\n")
    (fake / "settlement" / "rules.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..scenario import S\n"
        "def f():\n    from ..experience.costs import X\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake)
    assert runtime_imports(fake / "settlement" / "rules.py") == {"simulator.experience.costs"}
    with pytest.raises(AssertionError, match="settlement.rules imports simulator.experience.costs"):
        test_imports_run_with_the_stage_order()
