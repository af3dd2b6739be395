"""Running a sweep's cells: one probe for the whole sweep, then every cell trained (or resumed), evaluated and
elicited in worker processes of this machine or as Ray tasks, with sweep.json and results.json rewritten by the
driving process as each cell ends. What a sweep *is* (its description, grid and cell names) is sweep.py; what its
views read is sweep_results.py."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from multiprocessing import get_context

import torch

from ..core.config import with_overrides
from ..core.run import Run, RunFolderError, RunLayout
from .probes import Probe, probe_config_for, probe_fits, train_probe
from .sweep import DONE, ELICIT_METHODS, FAILED, PACKED, Sweep
from .sweep_results import collect_results


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
        passes = {"precision": run.config.train.precision, "sample_steps": sweep.passes["sample_steps"]}
        evaluate_run(run, EvalConfig(**passes), device=torch_device, progress=False)
        if elicit:
            concepts = tuple(sweep.passes["elicit_concepts"])
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
