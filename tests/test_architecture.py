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
