"""Sweep throughput on this machine: cells trained one after another with every core's threads, one cell per core
in parallel processes of one thread (what `concept-explorer sweep --workers N --threads 1` does), and several cells
trained in one process as a batched ensemble (their parameters stacked, one vmapped loss: torch.func), alone or one
such process per core.

    .venv/bin/python benchmarks/bench_sweep.py [--steps 150] [--repeats 3] [--members 2,4] \
        | tee benchmarks/results-sweep.txt

Each way times the cpu preset's training step (precision auto) after a warm-up, in fresh spawned processes,
interleaved over repeats; throughput is cell-training steps per second of wall time for the whole machine, and
cells per hour is that over the preset's step count (training only: evaluation and elicitation come on top). The
sequential and parallel ways run the real `Trainer.train_step`; the ensemble stacks the members' weights and Adam
state and vmaps `VDM.loss_terms`, the same math, with batches, random draws, gradient clipping per member and EMA
as the trainer does them (what an ensemble executor would have to do to train cells bit-for-bit alike is not
measured here: this asks whether denser arithmetic pays at all on this CPU).
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


def ensemble_steps_per_second(threads: int, steps: int, start_at: float, members: int) -> float:
    """In a fresh process: `members` cpu-preset cells as one vmapped ensemble; cell-training steps per second."""
    import copy

    import torch
    from torch import nn
    from torch.func import functional_call, stack_module_state, vmap

    from concept_explorer.core.config import preset, with_overrides
    from concept_explorer.core.precision import autocast, resolve_precision
    from concept_explorer.core.run import Run
    from concept_explorer.core.training import Trainer

    torch.set_num_threads(threads)
    cpu = torch.device("cpu")
    with tempfile.TemporaryDirectory() as folder:
        trainers = [Trainer(Run.create(Path(folder) / f"run{k}", with_overrides(preset("cpu"), {
            "train.train_per_class": 256, "train.seed": k, "train.precision": resolve_precision("auto", cpu)})), cpu)
            for k in range(members)]
        train = trainers[0].config.train
        params, buffers = stack_module_state([t.model for t in trainers])  # name → (members, ...)

        class Loss(nn.Module):
            def __init__(self, vdm: nn.Module) -> None:
                super().__init__()
                self.vdm = vdm

            def forward(self, *draws: torch.Tensor) -> torch.Tensor:
                return self.vdm.loss_terms(*draws).total.mean()

        skeleton = Loss(copy.deepcopy(trainers[0].model).to("meta"))

        def member_loss(p: dict, b: dict, *draws: torch.Tensor) -> torch.Tensor:
            return functional_call(skeleton, ({f"vdm.{k}": v for k, v in p.items()},
                                              {f"vdm.{k}": v for k, v in b.items()}), draws)

        losses = vmap(member_loss, randomness="different")
        optimizer = torch.optim.AdamW(list(params.values()), lr=train.lr, weight_decay=train.weight_decay)
        ema = {k: v.detach().clone() for k, v in params.items()}

        def step() -> None:
            draws = []
            for t in trainers:  # each member's own batch and random draws, as its trainer would take them
                index = torch.randint(t.data.train_images.shape[0], (train.batch_size,), generator=t.batch_generator)
                drop = torch.rand(train.batch_size, generator=t.batch_generator) < train.p_uncond
                x = t.data.train_images[index]
                offset = torch.rand((), generator=t.noise_generator) / train.batch_size
                times = offset + torch.arange(train.batch_size) / train.batch_size
                draws.append((x, t.data.train_h[index], times, torch.randn(x.shape, generator=t.noise_generator),
                              torch.randn(x.shape, generator=t.noise_generator), drop))
            stacked = [torch.stack(d) for d in zip(*draws)]
            with autocast(train.precision, cpu):
                loss = losses(params, buffers, *stacked).sum()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if train.grad_clip > 0:  # per member, as each trainer clips its own model
                norms = torch.stack([g.grad.reshape(members, -1).norm(dim=1) for g in params.values()]).norm(dim=0)
                scale = (train.grad_clip / (norms + 1e-6)).clamp(max=1.0)
                for value in params.values():
                    value.grad.mul_(scale.view(-1, *[1] * (value.dim() - 1)))
            optimizer.step()
            with torch.no_grad():
                torch._foreach_lerp_(list(ema.values()), list(params.values()), 1 - train.ema_decay)

        for _ in range(5):
            step()
        time.sleep(max(0.0, start_at - time.time()))
        started = time.perf_counter()
        for _ in range(steps):
            step()
        return members * steps / (time.perf_counter() - started)


def machine_rate(processes: int, threads: int, steps: int, members: int = 1) -> float:
    """Cell-training steps per second of the whole machine with `processes` parallel trainers of `threads` threads,
    each training one cell (members = 1, the real Trainer) or an ensemble of `members` cells."""
    with ProcessPoolExecutor(max_workers=processes, mp_context=get_context("spawn")) as pool:
        start_at = time.time() + 20 + 10 * members  # after every worker has built its data and warmed up
        if members == 1:
            rates = pool.map(steps_per_second, [threads] * processes, [steps] * processes, [start_at] * processes)
        else:
            rates = pool.map(ensemble_steps_per_second, [threads] * processes, [steps] * processes,
                             [start_at] * processes, [members] * processes)
        return sum(rates)


def main() -> None:
    import torch
    from bench_reference import cpu_name

    from concept_explorer.core.config import preset
    from concept_explorer.core.precision import native_bf16, resolve_precision

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=150, help="timed training steps per worker and repeat")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--members", default="2,4", help="ensemble sizes to try (cells per process)")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    ways = {f"1 cell at a time, {cores} threads": (1, cores, 1),
            f"{cores} cells in parallel, 1 thread each": (cores, 1, 1)}
    for members in (int(m) for m in args.members.split(",") if m.strip()):
        ways[f"ensemble of {members}, 1 process, {cores} threads"] = (1, cores, members)
        ways[f"{cores} ensembles of {members}, 1 thread each"] = (cores, 1, members)
    rates: dict[str, list[float]] = {name: [] for name in ways}
    for repeat in range(args.repeats):
        for name, (processes, threads, members) in (list(ways.items())[::-1] if repeat % 2 else ways.items()):
            print(f"repeat {repeat + 1}/{args.repeats}: {name} …", file=sys.stderr, flush=True)
            rates[name].append(machine_rate(processes, threads, max(10, args.steps // members), members))
    steps = preset("cpu").train.num_steps
    print(f"command: python benchmarks/{Path(sys.argv[0]).name} {' '.join(sys.argv[1:])}".rstrip())
    print(f"CPU: {cpu_name()}, {cores} cores; native bf16: {'yes' if native_bf16(torch.device('cpu')) else 'no'} "
          f"(auto precision {resolve_precision('auto', torch.device('cpu'))}); load average {os.getloadavg()[0]:.2f}")
    print(f"cpu preset training step, batch 64; {args.steps} timed steps per worker, {args.repeats} interleaved repeats")
    base = statistics.median(rates[next(iter(ways))])
    for name, values in rates.items():
        rate = statistics.median(values)
        print(f"  {name:<44} {rate:6.1f} steps/s ({min(values):.1f}-{max(values):.1f})  "
              f"{3600 * rate / steps:5.2f} cells/hour (training {steps} steps)  {rate / base:.2f}x")


if __name__ == "__main__":
    main()
