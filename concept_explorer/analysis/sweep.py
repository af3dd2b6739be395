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
import shutil
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import torch

from ..core.config import RunConfig, field_docs, parse_value, preset, with_overrides
from ..core.folder_checks import read_json
from ..core.run import Run, RunFolderError, RunLayout, atomic_write_json
from .probes import Probe, probe_config_for, probe_fits, train_probe

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
            if any(stored.data.get(k, default) != passes[k] for k, default in (
                    ("sample_steps", SAMPLE_STEPS), ("elicit_concepts", list(ELICIT_CONCEPTS)))):
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

    def config(self, cell: dict[str, Any]) -> RunConfig:
        return with_overrides(preset(self.data["preset"]), self.data["base"] | cell["overrides"])

    def counts(self) -> dict[str, int]:
        states = [c["state"].partition(":")[0] for c in self.data["cells"]]  # "failed: <why>" counts as failed
        return {state: states.count(state) for state in (DONE, PENDING, FAILED)}


def ensure_sweep_probe(sweep: Sweep, progress: bool = True) -> Probe:
    """One probe for every cell: trained on the geometry they share, over Δ ranges covering each cell's Δ."""
    if sweep.probe_path.is_file():
        return Probe.load(sweep.probe_path)
    configs = [sweep.config(cell) for cell in sweep.data["cells"]]
    if configs[0].concept_space.dataset == "celeba":
        raise ValueError("Sweeps share one synthetic probe, so they cannot hold CelebA runs; train each run on its own.")
    probe_config = probe_config_for(configs[0].concept_space)
    if not all(probe_fits(probe_config, c.concept_space) for c in configs):
        raise ValueError("The grid changes the image geometry (not only Δ), so one probe cannot read every cell.")
    probe = train_probe(probe_config, progress=progress)
    probe.save(sweep.probe_path)
    return probe


def run_cell(
    sweep_path: str, index: int, threads: int, precision: str, elicit: bool, device: str = "auto"
) -> tuple[int, str, float]:
    """Train (or resume), evaluate and elicit one cell in this process, on `device` (auto: CUDA when this process
    sees one). Returns (index, state, seconds); a failure comes back as its one-sentence message, never raised."""
    from ..core.precision import resolve_precision
    from ..core.training import resolve_device, train
    from .capability import ElicitConfig, elicit_run
    from .evaluate import EvalConfig, evaluate_run

    started = time.perf_counter()
    torch.set_num_threads(threads)
    sweep = Sweep.open(sweep_path)
    cell = sweep.data["cells"][index]
    folder = sweep.path / cell["name"]
    try:
        torch_device = resolve_device(device)
        resolved = resolve_precision(precision, torch_device)
        config = with_overrides(sweep.config(cell), {"train.precision": resolved})
        started_before = RunLayout(folder).is_run()
        run = Run.open(folder) if started_before else None
        if run is None or run.status != "complete":
            # A started cell resumes with its stored config (its precision included), bit-exact.
            run = train(None if started_before else config, folder, device=device, resume=started_before,
                        progress=False)
        if not run.layout.probe.is_file():
            run.layout.probe.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(sweep.probe_path, run.layout.probe)
        passes = {"precision": run.config.train.precision, "sample_steps": sweep.data.get("sample_steps", SAMPLE_STEPS)}
        evaluate_run(run, EvalConfig(**passes), device=torch_device, progress=False)
        if elicit:
            concepts = tuple(sweep.data.get("elicit_concepts", ELICIT_CONCEPTS))
            elicit_run(run, ElicitConfig(**passes, **ELICIT_METHODS, concepts=concepts), device=torch_device,
                       progress=False)
    except (RunFolderError, ValueError, FloatingPointError) as error:
        return index, f"{FAILED}: {error}", time.perf_counter() - started
    return index, DONE, time.perf_counter() - started


def _local_results(
    sweep: Sweep, todo: list[int], workers: int, threads: int, precision: str, elicit: bool, device: str
) -> Iterator[tuple[tuple[int, str, float], int]]:
    """Cells on `workers` spawned processes of this machine; yields (cell result, cells still running)."""
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        running: set[Future] = {pool.submit(run_cell, str(sweep.path), i, threads, precision, elicit, device)
                                for i in todo}
        while running:
            finished, running = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                yield future.result(), len(running)


def _ray_results(
    sweep: Sweep, todo: list[int], workers: int, threads: int, precision: str, elicit: bool, device: str,
    address: str | None,
) -> Iterator[tuple[tuple[int, str, float], int]]:
    """Cells as Ray tasks of `threads` CPUs each: on the cluster at `address` (the sweep folder must then be a path
    every node sees), or on a local Ray instance of workers × threads CPUs started here and stopped after."""
    import ray

    started_here = not ray.is_initialized()
    if started_here:
        options = {} if address else {"num_cpus": workers * threads}
        ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False, **options)
    try:
        task = ray.remote(num_cpus=threads)(run_cell)
        pending = [task.remote(str(sweep.path.resolve()), i, threads, precision, elicit, device) for i in todo]
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            yield ray.get(done[0]), len(pending)
    finally:
        if started_here:
            ray.shutdown()


BACKENDS = ("local", "ray")


def run_sweep(
    sweep: Sweep, workers: int = 1, threads: int = 1, precision: str = "auto", elicit: bool = True,
    report: Callable[[str], None] = print, backend: str = "local", ray_address: str | None = None,
    device: str = "auto",
) -> dict[str, int]:
    """Run every cell not yet complete, `workers` at a time with `threads` torch threads each, on this machine's
    processes (backend "local") or as Ray tasks; sweep.json is updated by this process as each cell ends.
    Returns the final counts of complete / pending / failed cells."""
    if backend not in BACKENDS:
        raise ValueError(f"Unknown backend {backend!r}; choose from {list(BACKENDS)}.")
    if sweep.data.pop(PACKED, None):  # a pack copied back to resume its sweep holds new weights from now on
        sweep.save()
    ensure_sweep_probe(sweep)
    # Seed by seed: a sweep stopped part-way already holds a whole fan of Δ for its first seeds.
    seeds = sweep.data["seeds"]
    todo = sorted((i for i, cell in enumerate(sweep.data["cells"]) if cell["state"] != DONE),
                  key=lambda i: seeds.index(sweep.data["cells"][i]["overrides"]["train.seed"]))
    total, started, durations = len(sweep.data["cells"]), time.perf_counter(), []
    results = (_local_results(sweep, todo, workers, threads, precision, elicit, device) if backend == "local"
               else _ray_results(sweep, todo, workers, threads, precision, elicit, device, ray_address))
    from .sweep_results import collect_results  # it reads cells through this module's Sweep: imported late

    for (index, state, seconds), running in results:
        sweep.data["cells"][index]["state"] = state
        sweep.save()
        if state == DONE:
            collect_results(sweep)
        durations.append(seconds)
        counts = sweep.counts()
        left = total - counts[DONE] - counts[FAILED]
        eta = sum(durations) / len(durations) * left / workers if left else 0.0
        report(f"{sweep.data['cells'][index]['name']}: {state} ({seconds:.0f} s) · {counts[DONE]} done, "
               f"{min(running, left)} running, {left - min(running, left)} waiting, {counts[FAILED]} failed · "
               f"{time.perf_counter() - started:.0f} s so far, ETA {eta:.0f} s")
    return sweep.counts()
