"""Sweeps (analysis/sweep.py, `concept-explorer sweep`): grids, cells, and a tiny sweep run end to end, resumed
and with a failing cell."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import TINY_OVERRIDES

from concept_explorer.analysis.across import learning_steps_of
from concept_explorer.analysis.capability import load_elicitation
from concept_explorer.analysis.evaluate import Evaluation
from concept_explorer.analysis.probes import probe_config_for, train_probe
from concept_explorer.analysis.sweep import (
    DONE,
    FAILED,
    PENDING,
    SAMPLE_STEPS,
    Sweep,
    cell_name,
    cells_of,
    parse_grid,
)
from concept_explorer.analysis.sweep_runs import run_sweep
from concept_explorer.analysis.sweep_results import load_results
from concept_explorer.cli import main
from concept_explorer.core.config import cpu_preset, with_overrides
from concept_explorer.core.run import Run, RunFolderError, RunLayout
from concept_explorer.core.training import train

BASE = {k: list(v) if isinstance(v, tuple) else v for k, v in TINY_OVERRIDES.items()}


def test_a_grid_parses_each_axis_to_its_fields_type() -> None:
    grid = parse_grid(["concept_space.delta_color=0.2, 0.4", "train.num_steps=4,6"])
    assert grid == {"concept_space.delta_color": [0.2, 0.4], "train.num_steps": [4, 6]}
    cells = cells_of(grid, [0, 1])
    assert len(cells) == 8 and cells[0] == {"concept_space.delta_color": 0.2, "train.num_steps": 4, "train.seed": 0}
    assert cells[1]["train.seed"] == 1  # one Δ's seeds sit together
    assert cell_name(cells[1]) == "delta_color-0.2_num_steps-4_seed-1"


@pytest.mark.parametrize("specs, message", [
    (["concept_space.delta_colour=0.2"], "Unknown config field 'concept_space.delta_colour'"),
    (["concept_space.delta_color=0.2,x"], "Cannot read concept_space.delta_color='x' as float"),
    (["concept_space.delta_color"], "A grid axis reads FIELD=V1,V2"),
    (["concept_space.delta_color="], "A grid axis reads FIELD=V1,V2"),
    (["concept_space.delta_color=0.2", "concept_space.delta_color=0.4"], "appears twice"),
    (["concept_space.delta_color=0.2,0.2"], "lists a value twice"),
    (["train.seed=1,2"], "Give seeds with --seeds"),
])
def test_bad_grids_are_one_sentence(specs: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_grid(specs)


def test_the_cli_refuses_bad_values_before_writing_anything(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "sweep"
    assert main(["sweep", "--grid", "concept_space.delta_color=0.2,0.9", "--out", str(out)]) == 2
    assert "delta_color must be in (0, 0.8], got 0.9" in capsys.readouterr().err and not out.exists()
    assert main(["sweep", "--grid", "concept_space.delta_color=0.2", "--seeds", "0,a", "--out", str(out)]) == 2
    assert "Seeds are whole numbers" in capsys.readouterr().err and not out.exists()


@pytest.fixture(scope="module")
def probe_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A barely trained probe for the tiny geometry, so the sweep does not train its own (a minute)."""
    space = with_overrides(cpu_preset(), TINY_OVERRIDES).concept_space
    probe = train_probe(dataclasses.replace(probe_config_for(space), steps=3, batch_size=16, width=8), progress=False)
    path = tmp_path_factory.mktemp("probe") / "probe-shared.safetensors"
    probe.save(path)
    return path


def tiny_sweep(path: Path, probe_file: Path, colors: list[float]) -> Sweep:
    sweep = Sweep.create(path, "cpu", BASE, {"concept_space.delta_color": colors}, [0])
    sweep.probe_path.write_bytes(probe_file.read_bytes())
    return sweep


def test_a_tiny_sweep_runs_every_cell_then_resumes_and_retries(tmp_path: Path, probe_file: Path) -> None:
    sweep = tiny_sweep(tmp_path / "sweep", probe_file, [0.3, 0.4])
    first, second = (sweep.path / c["name"] for c in sweep.data["cells"])
    # The first cell was interrupted after one checkpoint; the second holds a broken run.json.
    config = sweep.config(sweep.data["cells"][0])
    stops = iter([False, False, True])
    train(config, first, device="cpu", progress=False, should_stop=lambda: next(stops, True))
    assert Run.open(first).status == "interrupted"
    second.mkdir()
    (second / "run.json").write_text("{")
    lines: list[str] = []
    counts = run_sweep(sweep, workers=2, report=lines.append)
    assert counts == {DONE: 1, PENDING: 0, FAILED: 1}
    stored = json.loads(sweep.file.read_text())["cells"]
    assert stored[0]["state"] == DONE and stored[1]["state"].startswith(f"{FAILED}: ")
    assert "not valid JSON" in stored[1]["state"] and len(lines) == 2 and "ETA" in lines[-1]
    run = Run.open(first)
    assert run.status == "complete" and run.steps == [2, 4, 6]
    assert run.layout.evaluation_summary.is_file() and run.layout.elicitation_summary.is_file()
    assert run.config.concept_space.delta_color == 0.3
    # The passes ran at the sweep's sampler steps with the sweep's methods; results.json holds the finished cell.
    elicitation = load_elicitation(run)
    assert elicitation["settings"]["sample_steps"] == SAMPLE_STEPS != run.config.train.sample_steps
    assert set(elicitation["per_step"]["2"]) == {"plain", "overprompt@1", "overprompt@2",
                                                 "intervention-target@0.5"}  # no patch, one direction, no null token
    results = load_results(sweep.path)
    assert [c["name"] for c in results["cells"]] == [stored[0]["name"]]
    assert np.allclose(np.array(results["cells"][0]["coordinates"], dtype=float), Evaluation(run).coordinates,
                       equal_nan=True)
    # Fixing the broken cell and running again retries only it.
    (second / "run.json").unlink()
    second.rmdir()
    lines.clear()
    assert run_sweep(Sweep.open(sweep.path), workers=1, report=lines.append) == {DONE: 2, PENDING: 0, FAILED: 0}
    assert len(lines) == 1 and lines[0].startswith(stored[1]["name"])
    assert Run.open(second).config.concept_space.delta_color == 0.4
    assert len(load_results(sweep.path)["cells"]) == 2


def test_a_sweep_folder_holds_one_sweep(tmp_path: Path, probe_file: Path) -> None:
    tiny_sweep(tmp_path / "sweep", probe_file, [0.3])
    again = Sweep.create(tmp_path / "sweep", "cpu", BASE, {"concept_space.delta_color": [0.3]}, [0])
    assert again.counts()[PENDING] == 1  # the same grid: the stored sweep, resumed
    with pytest.raises(RunFolderError, match="holds another sweep"):
        Sweep.create(tmp_path / "sweep", "cpu", BASE, {"concept_space.delta_color": [0.4]}, [0])
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(RunFolderError, match="not a sweep folder"):
        Sweep.create(tmp_path / "other", "cpu", BASE, {"concept_space.delta_color": [0.3]}, [0])


def test_a_tiny_sweep_on_a_local_ray_instance(tmp_path: Path, probe_file: Path) -> None:
    pytest.importorskip("ray")
    sweep = tiny_sweep(tmp_path / "sweep", probe_file, [0.3, 0.4])
    lines: list[str] = []
    counts = run_sweep(sweep, workers=2, elicit=False, backend="ray", report=lines.append)
    assert counts == {DONE: 2, PENDING: 0, FAILED: 0} and len(lines) == 2
    for cell in sweep.data["cells"]:
        run = Run.open(sweep.path / cell["name"])
        assert run.status == "complete" and run.layout.evaluation_summary.is_file()
        steps = learning_steps_of(Evaluation(run, "strict"))  # what a learning-time-vs-Δ figure reads from each cell
        assert set(steps) == {"00", "01", "10", "11"} and set(steps["11"]) == {"color", "size", "joint"}
    results = load_results(sweep.path)  # cells without elicitation are recorded with plain numbers only
    assert len(results["cells"]) == 2 and results["cells"][0]["criteria"]["strict"]["numbers"] is None
    with pytest.raises(ValueError, match="Unknown backend"):
        run_sweep(sweep, backend="slurm")


def test_the_cli_checks_the_backend_options(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "sweep"
    assert main(["sweep", "--grid", "concept_space.delta_color=0.2", "--ray-address", "x:1", "--out", str(out)]) == 2
    assert "--ray-address needs --backend ray" in capsys.readouterr().err and not out.exists()


def test_a_packed_sweep_holds_what_the_views_need_and_no_weights(tmp_path: Path, probe_file: Path) -> None:
    sweep = tiny_sweep(tmp_path / "sweep", probe_file, [0.3, 0.4])
    run_sweep(sweep, workers=1, elicit=False, report=lambda line: None)
    sweep.data["cells"][1]["state"] = FAILED  # as if it had failed: an unfinished cell is not copied
    sweep.save()
    assert main(["pack-sweep", str(sweep.path), str(tmp_path / "pack")]) == 0
    packed = Sweep.open(tmp_path / "pack")
    assert [c["state"] for c in packed.data["cells"]] == [DONE, FAILED]
    assert load_results(tmp_path / "pack") == load_results(sweep.path)
    assert not list((tmp_path / "pack").rglob("*.safetensors"))
    assert RunLayout(tmp_path / "pack" / sweep.data["cells"][0]["name"]).evaluation_summary.is_file()
    assert not (tmp_path / "pack" / sweep.data["cells"][1]["name"]).exists()
    assert main(["pack-sweep", str(sweep.path), str(sweep.path)]) == 2
    # A packed sweep copied back and resumed keeps its finished cells' records and runs only the others.
    shutil.copytree(tmp_path / "pack", tmp_path / "resumed")
    lines: list[str] = []
    assert run_sweep(Sweep.open(tmp_path / "resumed"), workers=1, elicit=False, report=lines.append)[DONE] == 2
    assert len(lines) == 1 and lines[0].startswith(sweep.data["cells"][1]["name"])
    assert [c["name"] for c in load_results(tmp_path / "resumed")["cells"]] == [c["name"] for c in sweep.data["cells"]]


def test_a_packed_cell_of_the_weights_seed_is_a_smaller_run_that_opens(tmp_path: Path, probe_file: Path) -> None:
    sweep = tiny_sweep(tmp_path / "sweep", probe_file, [0.3])
    run_sweep(sweep, workers=1, report=lambda line: None)
    assert main(["pack-sweep", str(sweep.path), str(tmp_path / "pack"), "--weights-seed", "0",
                 "--checkpoints", "2"]) == 0
    name = sweep.data["cells"][0]["name"]
    packed = Run.open(tmp_path / "pack" / name)
    assert packed.steps == [2, 6] and packed.status == "complete"
    assert Evaluation(packed).steps == [2, 6] and load_elicitation(packed)["steps"] == [2, 6]
    assert not packed.layout.evaluation_samples(4).exists() and packed.layout.evaluation_samples(6).is_file()
    full = Run.open(sweep.path / name)
    assert torch.equal(packed.load_state(6)["gamma.w"], full.load_state(6)["gamma.w"])
    assert load_results(tmp_path / "pack")["cells"][0]["steps"] == [2, 4, 6]  # the record keeps every checkpoint
    # Resumed from the pack, the thinned cell keeps its full record, and packing again gives the same copy.
    shutil.copytree(tmp_path / "pack", tmp_path / "resumed")
    run_sweep(Sweep.open(tmp_path / "resumed"), workers=1, report=lambda line: None)
    assert load_results(tmp_path / "resumed")["cells"][0]["steps"] == [2, 4, 6]
    assert main(["pack-sweep", str(tmp_path / "resumed"), str(tmp_path / "pack"), "--weights-seed", "0",
                 "--checkpoints", "2"]) == 0
    assert Run.open(tmp_path / "pack" / name).steps == [2, 6]
    assert main(["pack-sweep", str(sweep.path), str(tmp_path / "x"), "--checkpoints", "0"]) == 2


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file below `folder` with its bytes: what 'nothing changed' compares."""
    return {str(f.relative_to(folder)): f.read_bytes() for f in sorted(folder.rglob("*")) if f.is_file()}


def test_packing_refuses_every_destination_it_did_not_make(tmp_path: Path, probe_file: Path,
                                                           capsys: pytest.CaptureFixture) -> None:
    """Issue 22, item 1: pack-sweep with its two arguments swapped deleted the full sweep's weights."""
    full = tiny_sweep(tmp_path / "full", probe_file, [0.3])  # a sweep at work: its cell holds weights
    weights = full.path / full.data["cells"][0]["name"] / "steps" / "2.safetensors"
    weights.parent.mkdir(parents=True)
    weights.write_bytes(b"a trained cell's weights")
    other = tiny_sweep(tmp_path / "other", probe_file, [0.3])  # nothing finished: packs quickly, as a pack must
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "keep.txt").write_text("mine")
    before = snapshot(tmp_path)
    assert main(["pack-sweep", str(other.path), str(full.path)]) == 2
    assert "holds a sweep with its weights (1 cells), not a pack: packing into it would delete them" in \
        capsys.readouterr().err
    assert main(["pack-sweep", str(full.path), ""]) == 2
    assert "Name the folder to pack into" in capsys.readouterr().err
    assert main(["pack-sweep", str(full.path), str(full.path / "inside")]) == 2
    assert "outside it" in capsys.readouterr().err
    assert main(["pack-sweep", str(full.path), str(tmp_path / "notes")]) == 2
    assert "is not a sweep folder" in capsys.readouterr().err
    assert snapshot(tmp_path) == before  # not one byte changed anywhere
    # Its own pack it may replace, and a pack of another sweep it may not.
    assert main(["pack-sweep", str(full.path), str(tmp_path / "pack")]) == 0
    assert json.loads((tmp_path / "pack" / "sweep.json").read_text())["packed"] is True
    assert main(["pack-sweep", str(full.path), str(tmp_path / "pack")]) == 0
    other_grid = tiny_sweep(tmp_path / "third", probe_file, [0.4])
    packed = snapshot(tmp_path / "pack")
    assert main(["pack-sweep", str(other_grid.path), str(tmp_path / "pack")]) == 2
    assert "the pack of another sweep" in capsys.readouterr().err and snapshot(tmp_path / "pack") == packed
    # Copied back to resume, the pack is a working sweep again: it loses the mark once it runs.
    resumed = Sweep.open(shutil.copytree(tmp_path / "pack", tmp_path / "resumed"))
    resumed.data["cells"][0]["state"] = DONE  # nothing left to train: the run only takes the mark off
    resumed.save()
    shutil.copyfile(probe_file, resumed.probe_path)
    run_sweep(resumed, workers=1, elicit=False, report=lambda line: None)
    assert "packed" not in json.loads((tmp_path / "resumed" / "sweep.json").read_text())


@pytest.mark.parametrize("name", ["../victim", "..", ".", "", "a/b", "a\\b", "/abs", 7, None])
def test_a_sweep_description_naming_a_cell_outside_its_folder_is_refused(
        tmp_path: Path, probe_file: Path, name: object, capsys: pytest.CaptureFixture) -> None:
    """Issue 22, item 2: a copied sweep.json whose cell was named '../victim' made pack-sweep delete a folder
    outside the destination (and run_cell would have trained into it)."""
    sweep = tiny_sweep(tmp_path / "sweep", probe_file, [0.3])
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious.txt").write_text("keep")
    (tmp_path / "pack").mkdir()
    shutil.copyfile(sweep.file, tmp_path / "pack" / "sweep.json")
    for folder in (sweep.path, tmp_path / "pack"):
        data = json.loads((folder / "sweep.json").read_text())
        data["cells"][0]["name"] = name
        data["cells"][0]["state"] = DONE  # a finished cell is what pack() would replace
        data["packed"] = True
        (folder / "sweep.json").write_text(json.dumps(data))
    before = snapshot(tmp_path)
    with pytest.raises(RunFolderError, match="not a plain folder name|does not list its cells"):
        Sweep.open(sweep.path)
    assert main(["pack-sweep", str(sweep.path), str(tmp_path / "pack")]) == 2
    assert main(["sweep", "--grid", "concept_space.delta_color=0.3", "--out", str(sweep.path)]) == 2
    assert "not a plain folder name" in capsys.readouterr().err or name in (7, None)
    assert snapshot(tmp_path) == before


def test_a_sweep_description_with_repeated_cells_or_seeds_is_refused(tmp_path: Path, probe_file: Path) -> None:
    sweep = tiny_sweep(tmp_path / "sweep", probe_file, [0.3, 0.4])
    data = json.loads(sweep.file.read_text())
    for broken, message in ((data | {"cells": [data["cells"][0]] * 2}, "names a cell twice"),
                            (data | {"seeds": [0, 0]}, "unique whole numbers"),
                            (data | {"seeds": ["0"]}, "unique whole numbers"),
                            (data | {"cells": "all"}, "does not list its cells")):
        sweep.file.write_text(json.dumps(broken))
        with pytest.raises(RunFolderError, match=message):
            Sweep.open(sweep.path)


def test_repeated_seeds_and_huge_grids_are_refused_before_any_work(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture) -> None:
    """Issue 22, item 8: --seeds 1,1 trained one folder from two workers; 800 values × 1,000 seeds ran minutes."""
    import time

    out = tmp_path / "sweep"
    assert main(["sweep", "--grid", "concept_space.delta_color=0.2", "--seeds", "1,1", "--out", str(out)]) == 2
    assert "--seeds lists a seed twice" in capsys.readouterr().err and not out.exists()
    values = ",".join(f"{0.0001 * (i + 1):.4f}" for i in range(800))
    seeds = ",".join(str(i) for i in range(1000))
    started = time.perf_counter()
    assert main(["sweep", "--grid", f"concept_space.delta_color={values}", "--seeds", seeds, "--out", str(out)]) == 2
    assert "makes 800,000 cells; a sweep holds at most 1,000" in capsys.readouterr().err and not out.exists()
    assert time.perf_counter() - started < 60  # refused up front, not after validating every cell
    assert main(["sweep", "--grid", "concept_space.data_root=a/b", "--out", str(out)]) == 2
    assert "not a plain folder name" in capsys.readouterr().err and not out.exists()


def test_a_results_record_naming_a_cell_outside_its_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "results.json").write_text(json.dumps({"format": 1, "cells": [{"name": "../victim"}]}))
    with pytest.raises(RunFolderError, match="names a cell that is not a plain folder name"):
        load_results(tmp_path)


def test_the_concepts_a_sweep_elicits_are_a_pass_setting(tmp_path: Path, probe_file: Path,
                                                          capsys: pytest.CaptureFixture) -> None:
    """Pushing colour alone cannot reveal a held-out class whose lagging concept is size; a sweep can push both,
    and changing that re-samples the elicitation without retraining."""
    sweep = tiny_sweep(tmp_path / "sweep", probe_file, [0.3])
    assert sweep.data["elicit_concepts"] == ["color"]
    run_sweep(sweep, workers=1, report=lambda line: None)
    cell = sweep.path / sweep.data["cells"][0]["name"]
    weights = {p: p.stat().st_mtime_ns for p in (cell / "steps").iterdir()}
    assert load_elicitation(Run.open(cell))["settings"]["concepts"] == ["color"]
    same = Sweep.create(sweep.path, "cpu", BASE, {"concept_space.delta_color": [0.3]}, [0])
    assert same.data["cells"][0]["state"] == DONE  # the same passes: nothing to redo
    again = Sweep.create(sweep.path, "cpu", BASE, {"concept_space.delta_color": [0.3]}, [0],
                         elicit_concepts=("color", "size"))
    assert again.data["cells"][0]["state"] == PENDING  # other passes: the finished cell redoes them
    run_sweep(again, workers=1, report=lambda line: None)
    assert load_elicitation(Run.open(cell))["settings"]["concepts"] == ["color", "size"]
    assert {p: p.stat().st_mtime_ns for p in (cell / "steps").iterdir()} == weights  # not retrained
    assert main(["sweep", "--grid", "concept_space.delta_color=0.3", "--elicit-concepts", "shape,hue",
                 "--out", str(tmp_path / "new")]) == 2
    assert "--elicit-concepts takes concepts of" in capsys.readouterr().err
