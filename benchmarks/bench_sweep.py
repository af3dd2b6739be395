"""Sweep throughput on this machine: cells trained one after another with every core's threads, against one cell
per core in parallel processes of one thread (what `concept-explorer sweep --workers N --threads 1` does).

    .venv/bin/python benchmarks/bench_sweep.py [--steps 150] [--repeats 3] | tee benchmarks/results-sweep.txt

Each way times the cpu preset's real `Trainer.train_step` (precision auto) after a warm-up, in fresh spawned
processes, interleaved over repeats; throughput is training steps per second of wall time for the whole machine,
and cells per hour is that over the preset's step count (training only: evaluation and elicitation come on top).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def steps_per_second(threads: int, steps: int, start_at: float) -> float:
    """In a fresh process: build a cpu-preset trainer, warm up, wait for the common start, time `steps` steps."""
    import torch

    from concept_explorer.core.config import preset, with_overrides
    from concept_explorer.core.precision import resolve_precision
    from concept_explorer.core.run import Run
    from concept_explorer.core.training import Trainer

    torch.set_num_threads(threads)
    cpu = torch.device("cpu")
    config = with_overrides(preset("cpu"), {"train.train_per_class": 256,
                                            "train.precision": resolve_precision("auto", cpu)})
    with tempfile.TemporaryDirectory() as folder:
        trainer = Trainer(Run.create(Path(folder) / "run", config), cpu)
        for _ in range(5):
            trainer.train_step()
        time.sleep(max(0.0, start_at - time.time()))  # the parallel workers start their clocks together
        started = time.perf_counter()
        for _ in range(steps):
            trainer.train_step()
        return steps / (time.perf_counter() - started)


def machine_rate(processes: int, threads: int, steps: int) -> float:
    """Training steps per second of the whole machine with `processes` parallel trainers of `threads` threads."""
    with ProcessPoolExecutor(max_workers=processes, mp_context=get_context("spawn")) as pool:
        start_at = time.time() + 20  # after every worker has built its data and warmed up
        rates = list(pool.map(steps_per_second, [threads] * processes, [steps] * processes, [start_at] * processes))
    return sum(rates)


def main() -> None:
    import torch
    from bench_reference import cpu_name

    from concept_explorer.core.config import preset
    from concept_explorer.core.precision import native_bf16, resolve_precision

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=150, help="timed training steps per worker and repeat")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    ways = {f"1 cell at a time, {cores} threads": (1, cores), f"{cores} cells in parallel, 1 thread each": (cores, 1)}
    rates: dict[str, list[float]] = {name: [] for name in ways}
    for repeat in range(args.repeats):
        for name, (processes, threads) in (list(ways.items())[::-1] if repeat % 2 else ways.items()):
            print(f"repeat {repeat + 1}/{args.repeats}: {name} …", file=sys.stderr, flush=True)
            rates[name].append(machine_rate(processes, threads, args.steps))
    steps = preset("cpu").train.num_steps
    print(f"command: python benchmarks/{Path(sys.argv[0]).name} {' '.join(sys.argv[1:])}".rstrip())
    print(f"CPU: {cpu_name()}, {cores} cores; native bf16: {'yes' if native_bf16(torch.device('cpu')) else 'no'} "
          f"(auto precision {resolve_precision('auto', torch.device('cpu'))}); load average {os.getloadavg()[0]:.2f}")
    print(f"cpu preset training step, batch 64; {args.steps} timed steps per worker, {args.repeats} interleaved repeats")
    base = statistics.median(rates[next(iter(ways))])
    for name, values in rates.items():
        rate = statistics.median(values)
        print(f"  {name:<40} {rate:6.1f} steps/s ({min(values):.1f}-{max(values):.1f})  "
              f"{3600 * rate / steps:5.2f} cells/hour (training {steps} steps)  {rate / base:.2f}x")


if __name__ == "__main__":
    main()
