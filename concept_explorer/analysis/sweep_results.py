"""What a sweep's views need, read once from its finished cells and kept beside sweep.json, so the app draws a
sweep's figures without opening a single weight file and a bundled sweep needs no cell's checkpoints.

    SWEEP/results.json   per finished cell: its grid values and seed, the checkpoints, its classes (labels like
                         "11", names like "blue-small", which are training and which held out), each class's mean
                         position per checkpoint, the first held-out class's mean position under every elicitation
                         generation (elicited_coordinates), the run's prompt masking, and under each criterion the
                         accuracies (every class under plain prompting; the held-out class under its best
                         elicitation), what the first held-out class's samples were drawn as (outcome fractions),
                         learning steps per class and concept, and the phase numbers (seeds.RunNumbers:
                         memorisation, turning point, gap)

Then pure functions over that record: learning time against a grid axis with Spearman's ρ (across.py), and the
train / test / capability curves of one grid value as bands over seeds (seeds.band).
"""

from __future__ import annotations

import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..core.folder_checks import read_json
from ..core.run import Run, RunFolderError, RunLayout, atomic_write_json
from .across import RankCorrelation, learning_steps_of, signal_speed_correlation
from .capability import load_elicitation
from .definitions import CRITERIA, DEFAULT_CRITERION
from .evaluate import Evaluation
from .phases import best_elicitation
from .seeds import band, measure
from .summaries import restrict_summary
from .sweep import DONE, PACKED, SWEEP_FILE, Sweep, is_folder_name

RESULTS_FILE = "results.json"
FORMAT = 1


def _listed(values: np.ndarray) -> list:
    """NaN → None, so the record is strict JSON."""
    return [_listed(v) for v in values] if np.ndim(values) else (None if np.isnan(values) else float(values))


def cell_record(run: Run, name: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """One finished cell as the views need it (see the module docstring)."""
    space = run.config.concept_space
    evaluations = {criterion: Evaluation(run, criterion) for criterion in CRITERIA}  # each read once
    evaluation = evaluations[DEFAULT_CRITERION]  # its steps, labels and coordinates hold under every criterion
    labels = evaluation.labels
    record: dict[str, Any] = {
        "name": name, "overrides": overrides, "seed": run.config.train.seed, "steps": evaluation.steps,
        "labels": labels, "names": [space.class_name(c) for c in space.all_classes()], "concepts": list(space.concepts),
        "training": [space.class_label(c) for c in space.training_classes()],
        "heldout": [space.class_label(c) for c in space.heldout_classes()],
        "coordinates": _listed(evaluation.coordinates), "criteria": {},
    }
    elicited = run.layout.elicitation_summary.is_file()  # a sweep run with --no-elicit has plain numbers only
    train = run.config.train
    record["mask"] = {"concept": train.mask_concept, "class": train.mask_class, "fraction": train.mask_fraction}
    summary = load_elicitation(run) if elicited else None
    record["elicited"] = elicited_coordinates(summary, record["heldout"][0]) if summary is not None else None
    for criterion, judged in evaluations.items():
        numbers, curves = measure(run, criterion, evaluation=judged, summary=summary) if elicited else (None, None)
        best = best_elicitation(curves) if curves is not None else None
        record["criteria"][criterion] = {
            "joint": _listed(judged.joint_accuracy),  # (T, C) plain prompting
            "outcomes": [row[labels.index(record["heldout"][0])] for row in judged.outcomes],  # what it drew
            "capability_steps": curves.steps if curves is not None else [],
            "capability": None if best is None else _listed(best[0]),  # (T_e,) best elicitation, first held-out
            "learning": learning_steps_of(judged),
            "numbers": asdict(numbers) if numbers is not None else None,  # phases need the elicitation pass
        }
    return record


def elicited_coordinates(summary: dict[str, Any], label: str) -> dict[str, Any]:
    """The mean position of held-out class `label` under every generation of an elicitation summary (each method
    at each strength, and the masked prompt of a run trained with masking): {"steps": [...], "methods": {key:
    (T, K) with None where nothing was drawn}}; what the underspecification view reads."""
    steps = [int(s) for s in summary["steps"]]
    keys = list(summary["per_step"][str(steps[0])]) if steps else []
    return {"steps": steps, "methods": {key: [summary["per_step"][str(s)][key][label]["coordinates"] for s in steps]
                                        for key in keys}}


def collect_results(sweep: Sweep) -> dict[str, Any]:
    """The record of every finished cell of `sweep`, written to SWEEP/results.json and returned. A finished cell
    whose folder cannot be read, or holds fewer checkpoints than its record (a packed cell has no weights or a few
    checkpoints), keeps the record results.json already holds for it, so a packed sweep copied back to resume keeps
    its finished cells; a cell with neither is named under "unreadable"."""
    try:
        earlier = {c["name"]: c for c in load_results(sweep.path)["cells"]}
    except (RunFolderError, KeyError, TypeError):
        earlier = {}
    cells, unreadable = [], {}
    for cell in sweep.data["cells"]:
        if cell["state"] != DONE:
            continue
        before = earlier.get(cell["name"])
        try:
            run = Run.open(sweep.path / cell["name"])
            # A packed cell keeps a few checkpoints: its record from the full run stays.
            if before is not None and len(run.steps) < len(before["steps"]):
                cells.append(before)
                continue
            cells.append(cell_record(run, cell["name"], cell["overrides"]))
        except (RunFolderError, ValueError, KeyError) as error:
            if before is not None:
                cells.append(before)
            else:
                unreadable[cell["name"]] = str(error)
    results = {"format": FORMAT, "grid": sweep.data["grid"], "seeds": sweep.data["seeds"], "cells": cells,
               "unreadable": unreadable}
    atomic_write_json(sweep.path / RESULTS_FILE, results)
    return results


def spread_steps(steps: list[int], count: int) -> list[int]:
    """`count` of `steps` spread evenly over their list, first and last included (all of them if fewer)."""
    if count >= len(steps):
        return list(steps)
    return sorted({steps[round(i * (len(steps) - 1) / max(1, count - 1))] for i in range(count)})


def pack(sweep: Sweep, destination: str | Path, weights_seed: int | None = None, checkpoints: int = 4) -> Path:
    """A copy of `sweep` that holds what its views need: sweep.json, results.json (made fresh) and, per finished
    cell, its config, metrics and pass summaries (a few hundred kB a cell), so a bundled sweep costs megabytes.
    The cells of `weights_seed` keep `checkpoints` of their checkpoints (spread_steps) with their samples, and the
    summaries of those steps: runs in their own right, so the app opens them and generates live at every Δ. The
    copy lists the cells as they stand; the sweep's own command re-makes everything the copy leaves out."""
    destination = Path(destination)
    check_pack_destination(sweep, destination)
    collect_results(sweep)
    destination.mkdir(parents=True, exist_ok=True)
    inside = destination.resolve()
    for cell in sweep.data["cells"]:
        if cell["state"] != DONE:
            continue
        source, target = RunLayout(sweep.path / cell["name"]), RunLayout(destination / cell["name"])
        # Sweep.open allows only plain folder names; this holds even if that check is ever loosened.
        assert target.root.resolve().parent == inside, target.root
        run = _weighted_run(source.root, cell, weights_seed)
        shutil.rmtree(target.root, ignore_errors=True)  # an earlier pack's copy of this cell (checked: a pack)
        if run is not None:
            kept = spread_steps(run.steps, checkpoints)
            run.copy_to(target.root, kept)
            for summary in ("evaluation_summary", "elicitation_summary"):
                if getattr(source, summary).is_file():
                    restrict_summary(getattr(source, summary), getattr(target, summary), kept)
            continue
        for kept_file in ("info", "metrics", "evaluation_summary", "elicitation_summary"):
            if getattr(source, kept_file).is_file():
                getattr(target, kept_file).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(getattr(source, kept_file), getattr(target, kept_file))
    shutil.copyfile(sweep.path / RESULTS_FILE, destination / RESULTS_FILE)
    # The description last, marked as a pack: a half-copied pack is not yet a sweep, and only a marked one is ever
    # packed over again.
    atomic_write_json(destination / SWEEP_FILE, sweep.data | {PACKED: True})
    return destination


def check_pack_destination(sweep: Sweep, destination: Path) -> None:
    """pack() replaces the cells of its destination, so it writes only into an absent or empty folder, or into a
    pack it made itself (of a sweep with the same cells); anything else is refused in one sentence that says what
    would have been destroyed. A full sweep given as the destination (for example the two arguments swapped) is
    never touched."""
    if not str(destination) or destination == Path("."):
        raise ValueError("Name the folder to pack into; an empty name would mean the current folder.")
    if destination.resolve() == sweep.path.resolve():
        raise ValueError("Pack a sweep into another folder than its own.")
    if sweep.path.resolve() in destination.resolve().parents or destination.resolve() in sweep.path.resolve().parents:
        raise ValueError("Pack a sweep into a folder outside it, and not around it.")
    if not destination.exists() or (destination.is_dir() and not any(destination.iterdir())):
        return
    if not (destination / SWEEP_FILE).is_file():
        raise RunFolderError(f"{destination} exists and is not a sweep folder; choose another destination.")
    stored = Sweep.open(destination)
    if not stored.data.get(PACKED):
        raise RunFolderError(f"{destination} holds a sweep with its weights ({len(stored.data['cells'])} cells), "
                             "not a pack: packing into it would delete them; choose another destination.")
    if [c["name"] for c in stored.data["cells"]] != [c["name"] for c in sweep.data["cells"]]:
        raise RunFolderError(f"{destination} is the pack of another sweep; choose another destination.")


def _weighted_run(folder: Path, cell: dict[str, Any], weights_seed: int | None) -> Run | None:
    """The cell's run when its weights are to be packed and it has them (a cell packed without weights, copied
    back to resume a sweep, has none)."""
    if weights_seed is None or cell["overrides"].get("train.seed") != weights_seed:
        return None
    try:
        return Run.open(folder)
    except RunFolderError:
        return None


def load_results(path: str | Path) -> dict[str, Any]:
    """A sweep folder's results.json, with a one-sentence error when it is missing or not of this format."""
    file = Path(path) / RESULTS_FILE
    if not file.is_file():
        raise RunFolderError(f"{Path(path).name} has no {RESULTS_FILE}; run its sweep command again to write it.")
    results = read_json(file, f"{Path(path).name}/{RESULTS_FILE}", "run its sweep command again to write it.")
    if not isinstance(results, dict) or results.get("format") != FORMAT or not isinstance(results.get("cells"), list):
        raise RunFolderError(f"{Path(path).name}/{RESULTS_FILE} is not a sweep record of format {FORMAT}.")
    # Untrusted like sweep.json (sweep.check_description): a cell is a record named by a plain folder name.
    if not all(isinstance(c, dict) and is_folder_name(c.get("name")) for c in results["cells"]):
        raise RunFolderError(f"{Path(path).name}/{RESULTS_FILE} names a cell that is not a plain folder name; run "
                             "its sweep command again to write it.")
    return results


def axis_of(results: dict[str, Any], field: str | None = None) -> str:
    """The grid axis a figure runs along: `field`, or the grid's only axis."""
    grid = results["grid"]
    if field is None:
        if len(grid) != 1:
            raise ValueError(f"This sweep has {len(grid)} grid axes; name one of {list(grid)}.")
        return next(iter(grid))
    if field not in grid:
        raise ValueError(f"{field} is not an axis of this sweep; its axes are {list(grid)}.")
    return field


@dataclass(frozen=True)
class LearningTimes:
    """One class's (or concept's) learning step in every cell against the cell's value on a grid axis."""

    field: str
    label: str
    concept: str  # a concept name, or "joint"
    values: list[float]  # the axis value of each cell
    seeds: list[int]
    steps: list[int | None]  # None: not learned within the run
    final_steps: list[int]
    correlation: RankCorrelation  # ρ between the axis value and learning speed (1 / step, 0 when never)


def learning_times(
    results: dict[str, Any], label: str, concept: str = "joint", field: str | None = None,
    criterion: str = "strict", method: str = "plain",
) -> LearningTimes:
    """`label`'s learning step of `concept` per cell against the axis; method "plain" (evaluation) or "elicited"
    (the earliest step any elicitation method reaches, for a held-out class)."""
    field = axis_of(results, field)
    cells = results["cells"]
    if not cells:
        raise ValueError("This sweep has no finished cell yet.")
    steps = []
    for cell in cells:
        per = cell["criteria"][criterion]
        if method == "plain":
            steps.append(per["learning"][label][concept])
        elif method == "elicited":
            numbers = per["numbers"] or {"elicited": None, "concept_per_family": {}}  # never elicited
            steps.append(numbers["elicited"] if concept == "joint" else
                         min((s[concept] for f, s in numbers["concept_per_family"].items()
                              if f != "plain" and s[concept] is not None), default=None))
        else:
            raise ValueError(f"Unknown method {method!r}; choose plain or elicited.")
    values = [float(cell["overrides"][field]) for cell in cells]
    seeds = [int(cell["seed"]) for cell in cells]
    return LearningTimes(field, label, concept, values, seeds, steps, [cell["steps"][-1] for cell in cells],
                         signal_speed_correlation(values, steps, seeds))


@dataclass(frozen=True)
class AccuracyBands:
    """Train (mean over training classes), test (held-out class, plain prompting) and capability (held-out class,
    best elicitation) joint accuracy per checkpoint for the cells at one axis value, as (mean, min, max) over
    their seeds."""

    value: float
    seeds: list[int]
    steps: list[int]
    train: tuple[np.ndarray, np.ndarray, np.ndarray]
    test: tuple[np.ndarray, np.ndarray, np.ndarray]
    capability: tuple[np.ndarray, np.ndarray, np.ndarray] | None


def accuracy_bands(
    results: dict[str, Any], value: float, field: str | None = None, criterion: str = "strict"
) -> AccuracyBands:
    field = axis_of(results, field)
    cells = [c for c in results["cells"] if np.isclose(float(c["overrides"][field]), value)]
    if not cells:
        raise ValueError(f"No finished cell has {field} = {value:g}.")
    steps = sorted(set.intersection(*(set(c["steps"]) for c in cells)))

    def at(cell: dict, series: list, on: list[int]) -> np.ndarray:
        values = np.array([np.nan if v is None else v for v in series], dtype=float)
        return values[[on.index(s) for s in steps]]

    train, test, capability = [], [], []
    for cell in cells:
        per = cell["criteria"][criterion]
        joint = np.array([[np.nan if v is None else v for v in row] for row in per["joint"]], dtype=float)
        training = [cell["labels"].index(label) for label in cell["training"]]
        held = cell["labels"].index(cell["heldout"][0])
        train.append(at(cell, list(joint[:, training].mean(1)), cell["steps"]))
        test.append(at(cell, list(joint[:, held]), cell["steps"]))
        if per["capability"] is not None and set(steps) <= set(per["capability_steps"]):
            capability.append(at(cell, per["capability"], per["capability_steps"]))
    return AccuracyBands(value, sorted(int(c["seed"]) for c in cells), steps, band(train), band(test),
                         band(capability) if capability else None)


def concept_lead(cell: dict[str, Any], criterion: str = "strict", label: str | None = None) -> float | None:
    """How far ahead the first concept is of the second on the way to the held-out corner: the mean, over the
    checkpoints before plain prompting learns the class (all of them if it never does) where the class was drawn,
    of its first coordinate minus its second. Positions run from 0 (the training level) to 1 (the held-out one) on
    each axis, so > 0 means the samples got the first concept (colour) right sooner, i.e. the trajectory was drawn
    toward the training class that shares the first concept's held-out level; None when nothing was drawn."""
    label = label or cell["heldout"][0]
    code = [int(bit) for bit in label]
    index = cell["labels"].index(label)
    learned = cell["criteria"][criterion]["learning"][label]["joint"]
    path = np.array([[np.nan if v is None else v for v in row[index]] for row in cell["coordinates"]], dtype=float)
    path = np.where(np.array(code, dtype=bool), path, 1 - path)  # toward this class's level = toward 1
    before = [i for i, step in enumerate(cell["steps"]) if learned is None or step < learned]
    path = path[before]
    path = path[~np.isnan(path[:, :2]).any(1)]
    return float((path[:, 0] - path[:, 1]).mean()) if len(path) else None
