"""The run catalog: finds run folders, reports unusable ones, and rebuilds a run's view when its files change."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from ui_runs import tiny_runs

from concept_explorer.core.run import RunFolderError, RunLayout
from concept_explorer.views.catalog import RunCatalog

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return tiny_runs(tmp_path_factory.mktemp("catalog-runs"))


@pytest.fixture
def root(source: dict[str, Path], tmp_path: Path) -> Path:
    for name, path in source.items():
        shutil.copytree(path, tmp_path / "runs" / name)
    return tmp_path / "runs"


def _touch_later(path: Path) -> None:
    """Advance the file's mtime: filesystems with coarse timestamps would otherwise hide a quick rewrite."""
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))


def test_catalog_finds_runs_and_names_unusable_ones(root: Path) -> None:
    (root / "broken").mkdir()
    (root / "broken" / "run.json").write_text("{not json")
    (root / "not-a-run").mkdir()
    catalog = RunCatalog(roots=[root])
    assert sorted(catalog.names) == ["cfg", "plain", "plain-seed1", "short"]
    assert "not valid JSON" in catalog.problems["broken"]
    assert "not-a-run" not in catalog.paths
    with pytest.raises(RunFolderError, match="Unknown run 'nope'"):
        catalog.get("nope")


def test_catalog_rebuilds_a_view_when_its_evaluation_changes(root: Path) -> None:
    catalog = RunCatalog(roots=[root])
    first = catalog.get("plain")
    assert catalog.get("plain") is first  # unchanged files: the same view, no rebuild
    summary_path = RunLayout(root / "plain").evaluation_summary
    summary = json.loads(summary_path.read_text())
    summary["per_step"].pop(str(summary["steps"][-1]))
    summary["steps"] = summary["steps"][:-1]
    summary_path.write_text(json.dumps(summary))
    _touch_later(summary_path)
    second = catalog.get("plain")
    assert second is not first
    assert second.steps == first.steps[:-1]


def test_catalog_sees_new_and_deleted_runs_on_refresh(root: Path, source: dict[str, Path]) -> None:
    catalog = RunCatalog(roots=[root])
    shutil.copytree(source["plain"], root / "plain-2")
    shutil.rmtree(root / "cfg")
    catalog.refresh()
    assert sorted(catalog.names) == ["plain", "plain-2", "plain-seed1", "short"]
