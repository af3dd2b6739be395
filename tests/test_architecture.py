"""The architecture the README describes, checked: layers import only downward, modules stay small, and the
run folder's paths are spelled only by their owner (core/run.py)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "concept_explorer"
LAYERS = ["core", "analysis", "views", "ui", "cli"]
"""Lowest first: a module may import its own layer and the ones before it."""
MODULES = sorted(p for p in PACKAGE.rglob("*.py"))


def layer_of(path: Path) -> str | None:
    parts = path.relative_to(PACKAGE).parts
    return parts[0] if len(parts) > 1 and parts[0] in LAYERS else None


def imported_layers(path: Path) -> set[str]:
    """Layers this module imports from (relative imports resolved against its package)."""
    tree = ast.parse(path.read_text())
    package = path.relative_to(PACKAGE).parent.parts
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(package[: len(package) - (node.level - 1)])
                target = base + (node.module.split(".") if node.module else [])
                names = [target] if node.module else [target + [alias.name] for alias in node.names]
            elif node.module and node.module.startswith("concept_explorer."):
                names = [node.module.split(".")[1:]]
            else:
                continue
            found |= {name[0] for name in names if name and name[0] in LAYERS}
    return found


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_down_the_layers(path: Path) -> None:
    layer = layer_of(path)
    if layer is None:
        return
    allowed = set(LAYERS[: LAYERS.index(layer) + 1])
    assert imported_layers(path) <= allowed, f"{path.name} ({layer}) imports {imported_layers(path) - allowed}"


def test_the_import_checker_sees_an_upward_import(tmp_path: Path) -> None:
    module = PACKAGE / "core" / "_probe_upward.py"
    try:
        module.write_text("from ..views import plots\nfrom .run import Run\n")
        assert imported_layers(module) == {"views", "core"}
    finally:
        module.unlink()


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_holds_two_ideas_worth_of_lines(path: Path) -> None:
    assert len(path.read_text().splitlines()) <= 400


RUN_FOLDER_PATHS = re.compile(
    r"""/\s*["'](steps|probe|evaluation|elicitation|report)["']"""  # a pathlib join into a run-folder part
    r"""|["'][^"'\n]*(run\.json|metrics\.jsonl|resume\.safetensors|probe\.safetensors|summary\.json)["']"""
)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_only_the_run_module_spells_run_folder_paths(path: Path) -> None:
    found = [m.group(0) for m in RUN_FOLDER_PATHS.finditer(path.read_text())]
    if path == PACKAGE / "core" / "run.py":
        assert len(found) >= 8  # the owner spells them all, so the pattern is alive
    else:
        assert not found, f"{path.name} spells run-folder paths {found}; ask core.run.RunLayout"


def import_graph() -> dict[str, set[str]]:
    """Module → the package's modules it imports, at any depth of its code (an import inside a function still
    ties the two modules together)."""
    def name_of(path: Path) -> str:
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)

    modules = {name_of(path): path for path in MODULES}
    graph = {}
    for name, path in modules.items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ImportFrom):
                continue
            if node.level:
                target = package[: len(package) - (node.level - 1)] + (node.module.split(".") if node.module else [])
            elif node.module and node.module.startswith("concept_explorer"):
                target = node.module.split(".")
            else:
                continue
            for alias in node.names:
                full = ".".join([*target, alias.name])
                found.add(full if full in modules else ".".join(target))
        graph[name] = (found & set(modules)) - {name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Groups of modules that import each other, directly or round a loop (strongly connected, more than one)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for other in graph[module]:
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            group = stack[stack.index(module):]
            del stack[stack.index(module):]
            if len(group) > 1:
                found.append(sorted(group))

    for module in graph:
        if module not in index:
            visit(module)
    return found


def test_no_two_modules_import_each_other() -> None:
    assert cycles(import_graph()) == []


def test_the_cycle_finder_sees_a_loop() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
