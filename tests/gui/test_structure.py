"""The GUI package's shape, read from its source (nothing imported): no import cycle between its
modules, and no class much over 300 lines."""

from __future__ import annotations

import ast
from pathlib import Path

GUI = Path(__file__).resolve().parents[2] / "usanimator_app" / "gui"
PACKAGE = "usanimator_app.gui"
MAX_CLASS_LINES = 300


def _trees() -> dict[str, ast.Module]:
    return {path.stem: ast.parse(path.read_text(encoding="utf-8")) for path in sorted(GUI.glob("*.py"))}


def _gui_imports(tree: ast.Module, modules: set[str]) -> set[str]:
    """The modules of this package that ``tree`` imports, at the top or inside functions."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == PACKAGE:
            found |= {alias.name for alias in node.names if alias.name in modules}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(PACKAGE + "."):
            found.add(node.module.split(".")[2])
        elif isinstance(node, ast.Import):
            found |= {alias.name.split(".")[2] for alias in node.names if alias.name.startswith(PACKAGE + ".")}
    return found & modules


def import_cycles() -> list[list[str]]:
    """Every cycle in the package's import graph, each as the modules along it."""
    trees = _trees()
    graph = {name: _gui_imports(tree, set(trees)) - {name} for name, tree in trees.items()}
    cycles, done = [], set()

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            cycles.append(path[path.index(name):] + [name])
            return
        if name in done:
            return
        for imported in sorted(graph[name]):
            visit(imported, path + [name])
        done.add(name)

    for name in sorted(graph):
        visit(name, [])
    return cycles


def class_lengths() -> dict[str, int]:
    """Lines of every top-level class of the package, by class name."""
    return {node.name: node.end_lineno - node.lineno + 1
            for tree in _trees().values() for node in tree.body if isinstance(node, ast.ClassDef)}


def test_no_gui_class_is_longer_than_300_lines():
    lengths = class_lengths()
    assert "AnimateTab" in lengths and "TrainTab" in lengths and "AnnotateTab" in lengths
    too_long = {name: lines for name, lines in lengths.items() if lines > MAX_CLASS_LINES}
    assert too_long == {}


def test_the_gui_modules_import_each_other_without_a_cycle():
    assert import_cycles() == []
    assert "main_window" in _gui_imports(_trees()["app"], set(_trees()))  # the parser sees imports at all


if __name__ == "__main__":
    print("import cycles:", import_cycles() or "none")
    for name, lines in sorted(class_lengths().items(), key=lambda item: -item[1]):
        print(f"{lines:5d}  {name}" + ("  (over the limit)" if lines > MAX_CLASS_LINES else ""))
