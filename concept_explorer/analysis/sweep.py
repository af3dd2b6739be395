"""Sweeps: a grid over config fields and seeds, one ordinary run folder per cell, each trained, evaluated and
elicited, resumable cell by cell.

    SWEEP/sweep.json                the base config, the grid, the seeds, every cell's overrides and state
    SWEEP/probe-shared.safetensors  one probe trained for the whole sweep (its Δ ranges cover every cell),
                                    copied into each cell, so N cells do not train N identical probes
    SWEEP/<cell>/                   a run folder: everything that works on a run works on a cell
    SWEEP/results.json              what the views need from the finished cells (sweep_results.py), rewritten
                                    as each cell finishes

Only the process that drives the sweep writes sweep.json; workers run cells and report back. A cell that fails is
recorded with its one-sentence error and the others go on; running the sweep again retries it, resumes interrupted
cells from their last checkpoint and skips finished ones.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.config import RunConfig, field_docs, parse_value, preset, with_overrides
from ..core.folder_checks import read_json
from ..core.run import RunFolderError, atomic_write_json

FORMAT = 1
SWEEP_FILE = "sweep.json"
DONE, PENDING, FAILED = "complete", "pending", "failed"
PACKED = "packed"
"""The key sweep_results.pack adds to the sweep.json it writes: the mark of a folder it made, which it may pack over
again. A pack copied back to resume its sweep loses the mark: it holds new weights from then on."""

ELICIT_CONCEPTS = ("color",)
"""The concepts a cell's overprompting and intervention push (together), unless the sweep names others. A pass
setting like SAMPLE_STEPS: changing it re-samples finished cells' elicitation, never retrains. Pushing colour alone
cannot reveal a held-out class whose lagging concept is size (at Δcolor 0.8 colour is learned first and the
held-out prompt is drawn blue-large), hence `--elicit-concepts color,size`."""

SAMPLE_STEPS = 25
"""Sampler steps of a cell's evaluation and elicitation. Measured on the bundled run (benchmarks/results-sample-
steps.txt): at 25 steps the verdicts agree with the 50-step ones (82 % strict, 86 % lenient per sample) better than
another 50-step draw does (79 %, 84 %), and no class's joint accuracy moves more than another draw moves it, at half
the cost. A pass setting, not part of the grid: changing it re-samples finished cells' passes, never retrains."""

ELICIT_METHODS = {"intervention_directions": ("target",), "intervention_strengths": (0.5,),
                  "guidance_weights": (4.0,), "patch": False}
"""The elicitation a cell runs (capability.ElicitConfig fields beyond the defaults), chosen on the bundled seeds: the
"target" direction ranks ahead of "pairs" and "orthogonal", embedding patching never learns the held-out class
(README, "Which intervention"), and of each family's two strengths one wins at most checkpoints on every seed and
under both criteria (benchmarks/results-method-wins.txt: intervention 0.5 over 1, guidance 4 over 2); overprompting
keeps both strengths, which differ where Δ·(1 + s) stays below 1. Measured at Δcolor 0.6 only."""


def parse_grid(specs: list[str]) -> dict[str, list[Any]]:
    """'section.field=v1,v2,…' specs → {field: [values]}, each value parsed to the field's type; one-sentence
    errors for an unknown field, an unreadable value, an empty or repeated axis, or a repeated value."""
    fields = field_docs()
    grid: dict[str, list[Any]] = {}
    for spec in specs:
        key, sep, text = spec.partition("=")
        key = key.strip()
        if not sep or not text.strip():
            raise ValueError(f"A grid axis reads FIELD=V1,V2,…, got {spec!r}.")
        if key not in fields:
            raise ValueError(f"Unknown config field {key!r} in the grid; see `concept-explorer train --help`.")
        if key == "train.seed":
            raise ValueError("Give seeds with --seeds, not as a grid axis.")
        if key in grid:
            raise ValueError(f"{key} appears twice in the grid.")
        values = [parse_value(fields[key][0], item.strip(), key) for item in text.split(",") if item.strip()]
        if len(set(map(str, values))) != len(values):
            raise ValueError(f"{key} lists a value twice: {text}.")
        grid[key] = values
    return grid


MAX_CELLS = 1000
"""The most cells one sweep may hold: a cell trains for minutes to hours, so 1,000 is weeks of a CPU and hours of a
cluster, while a mistyped grid (800 values × 1,000 seeds) is refused at once instead of validating 800,000 configs."""


def check_cell_count(grid: dict[str, list[Any]], seeds: list[int]) -> None:
    """Refuse a grid larger than MAX_CELLS, or with a repeated seed, before any cell is made or written."""
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"--seeds lists a seed twice ({', '.join(map(str, seeds))}): two workers would train one "
                         "folder at once.")
    count = len(seeds)
    for values in grid.values():
        count *= len(values)
    if count > MAX_CELLS:
        raise ValueError(f"This grid makes {count:,} cells; a sweep holds at most {MAX_CELLS:,}. Split it.")


def is_folder_name(name: object) -> bool:
    """Whether `name` is one plain path component: a cell folder may never point outside its sweep."""
    return (isinstance(name, str) and 0 < len(name) <= 255 and name not in (".", "..")
            and not any(c in name for c in "/\\\0:") and Path(name).name == name)


def check_description(data: dict[str, Any], where: str) -> None:
    """A sweep.json is untrusted input like a run folder (it may be copied from anywhere): its cells must be a list
    of {name, overrides, state} with unique names that are single folder names, its seeds unique whole numbers."""
    cells, seeds = data.get("cells"), data.get("seeds")
    if not isinstance(cells, list) or not all(
            isinstance(c, dict) and isinstance(c.get("overrides"), dict) and isinstance(c.get("state"), str)
            for c in cells):
        raise RunFolderError(f"{where} does not list its cells as this version writes them; make the sweep again.")
    names = [c.get("name") for c in cells]
    unsafe = [n for n in names if not is_folder_name(n)]
    if unsafe or len(set(names)) != len(names):
        what = f"a cell {str(unsafe[0])[:80]!r}, which is not a plain folder name" if unsafe else "a cell twice"
        raise RunFolderError(f"{where} names {what}; it was not written by this program, so it is not used.")
    if (not isinstance(seeds, list) or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds)
            or len(set(seeds)) != len(seeds)):
        raise RunFolderError(f"{where} lists its seeds in another form than unique whole numbers; make the sweep "
                             "again.")
    if len(cells) > MAX_CELLS:
        raise RunFolderError(f"{where} lists {len(cells):,} cells; a sweep holds at most {MAX_CELLS:,}.")


def cell_name(overrides: dict[str, Any]) -> str:
    """A folder name that says the cell's coordinates: 'delta_color-0.2_seed-1'."""
    return "_".join(f"{key.rpartition('.')[2]}-{value:g}" if isinstance(value, float)
                    else f"{key.rpartition('.')[2]}-{value}" for key, value in overrides.items())


def cells_of(grid: dict[str, list[Any]], seeds: list[int]) -> list[dict[str, Any]]:
    """Every combination of the grid's values and the seeds, seeds last (so one Δ's seeds sit together)."""
    keys = list(grid)
    return [dict(zip(keys, values)) | {"train.seed": seed}
            for values in itertools.product(*(grid[k] for k in keys)) for seed in seeds]


@dataclass
class Sweep:
    path: Path
    data: dict[str, Any]

    @property
    def file(self) -> Path:
        return self.path / SWEEP_FILE

    @property
    def probe_path(self) -> Path:
        return self.path / "probe-shared.safetensors"

    @classmethod
    def create(cls, path: Path, preset_name: str, base: dict[str, Any], grid: dict[str, list[Any]],
               seeds: list[int], sample_steps: int = SAMPLE_STEPS,
               elicit_concepts: tuple[str, ...] = ELICIT_CONCEPTS) -> Sweep:
        """A new sweep folder, or the one at `path` when it holds the same sweep (then it is resumed, with
        `sample_steps` and `elicit_concepts` for the passes still to run)."""
        if not seeds:
            raise ValueError("Give at least one seed.")
        check_cell_count(grid, seeds)
        cells = cells_of(grid, seeds)
        unsafe = next((cell_name(o) for o in cells if not is_folder_name(cell_name(o))), None)
        if unsafe is not None:
            raise ValueError(f"A grid value makes the cell folder name {unsafe[:80]!r}, which is not a plain folder "
                             "name; use values without path separators.")
        for overrides in cells:  # every cell's config must be valid before anything is written
            with_overrides(preset(preset_name), base | overrides)
        data = {"format": FORMAT, "preset": preset_name, "base": base, "grid": grid, "seeds": seeds,
                "cells": [{"name": cell_name(o), "overrides": o, "state": PENDING} for o in cells],
                "sample_steps": sample_steps, "elicit_concepts": list(elicit_concepts)}
        sweep = cls(Path(path), data)
        if sweep.file.is_file():
            stored = cls.open(path)
            if {k: stored.data[k] for k in ("preset", "base", "grid", "seeds")} != json.loads(json.dumps(
                    {k: data[k] for k in ("preset", "base", "grid", "seeds")})):
                raise RunFolderError(f"{path} holds another sweep; choose a new --out or repeat its own grid.")
            passes = {"sample_steps": sample_steps, "elicit_concepts": list(elicit_concepts)}
            if stored.passes != passes:
                for cell in stored.data["cells"]:  # finished cells redo their passes (never their training)
                    cell["state"] = PENDING if cell["state"] == DONE else cell["state"]
            stored.data |= passes
            stored.save()
            return stored
        if sweep.path.exists() and any(sweep.path.iterdir()):
            raise RunFolderError(f"{path} exists and is not a sweep folder; choose a new --out.")
        sweep.path.mkdir(parents=True, exist_ok=True)
        sweep.save()
        return sweep

    @classmethod
    def open(cls, path: str | Path) -> Sweep:
        file = Path(path) / SWEEP_FILE
        if not file.is_file():
            raise RunFolderError(f"{path} is not a sweep folder: {SWEEP_FILE} is missing.")
        where = f"{Path(path).name}/{SWEEP_FILE}"
        data = read_json(file, where, "run the sweep command again to write it.")
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise RunFolderError(f"{where} is not a sweep description of format {FORMAT}.")
        check_description(data, where)
        return cls(Path(path), data)

    def save(self) -> None:
        atomic_write_json(self.file, self.data)

    @property
    def passes(self) -> dict[str, Any]:
        """The pass settings every cell's evaluation and elicitation use (the defaults for a sweep.json written
        before a setting existed): {"sample_steps": int, "elicit_concepts": [str, ...]}."""
        return {"sample_steps": self.data.get("sample_steps", SAMPLE_STEPS),
                "elicit_concepts": list(self.data.get("elicit_concepts", ELICIT_CONCEPTS))}

    def config(self, cell: dict[str, Any]) -> RunConfig:
        return with_overrides(preset(self.data["preset"]), self.data["base"] | cell["overrides"])

    def counts(self) -> dict[str, int]:
        states = [c["state"].partition(":")[0] for c in self.data["cells"]]  # "failed: <why>" counts as failed
        return {state: states.count(state) for state in (DONE, PENDING, FAILED)}
