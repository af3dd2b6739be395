"""What evaluating and eliciting a sweep cell costs against training it, before and after the sweep's choices.

    .venv/bin/python benchmarks/bench_passes.py [--run checkpoints/cpu-default] [--checkpoints 4] [--repeats 2] \
        | tee benchmarks/results-passes.txt

Per checkpoint of a cpu-preset run (the unit a pass repeats 32 times), timed in one process, rotating between
repeats so drifting load hits every subject alike:
- training: the preset's real `Trainer.train_step` × (steps between checkpoints), the cost the passes are held to;
- passes as the bundled runs made them: evaluation (every class, 64 samples) and elicitation with every method of
  the default ElicitConfig, one sampler call per method, at the run's 50 sampler steps;
- passes as a sweep cell makes them: the same evaluation and the sweep's methods (sweep.ELICIT_METHODS), every
  method of the checkpoint in one sampler call, at sweep.SAMPLE_STEPS steps.
Both elicitation ways build their embeddings with `capability.method_embeddings` and sample with
`sampling.generate_embedded`, so they differ only in the batching, the methods and the step count.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_reference import cpu_name  # noqa: E402

from concept_explorer.analysis.capability import ElicitConfig, method_embeddings  # noqa: E402
from concept_explorer.analysis.evaluate import class_prompts  # noqa: E402
from concept_explorer.analysis.sweep import ELICIT_METHODS, SAMPLE_STEPS  # noqa: E402
from concept_explorer.core.config import with_overrides  # noqa: E402
from concept_explorer.core.precision import native_bf16  # noqa: E402
from concept_explorer.core.run import Run  # noqa: E402
from concept_explorer.core.sampling import generate, generate_embedded  # noqa: E402
from concept_explorer.core.training import Trainer  # noqa: E402


def elicitation(run: Run, step: int, config: ElicitConfig, steps: int, batched: bool) -> None:
    model = run.load_model(step)
    space = run.config.concept_space
    layout = [(key, family, strength, code) for key, family, strength in config.methods(run.config.train.p_uncond > 0)
              for code in space.heldout_classes()]
    donor = run.load_state(run.final_step) if config.patch else None
    e, weights = method_embeddings(model, space, layout, config, donor, "cpu")
    if batched:
        generate_embedded(model, e, steps, config.seed, weights, group=config.samples, precision=config.precision)
        return
    for block, block_weights in zip(e.split(config.samples), weights.split(config.samples)):
        generate_embedded(model, block, steps, config.seed, block_weights, precision=config.precision)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, default=ROOT / "checkpoints" / "cpu-default")
    parser.add_argument("--checkpoints", type=int, default=4, help="checkpoints timed, spread over the run")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    run = Run.open(args.run)
    precision = run.config.train.precision
    picked = [run.steps[round(i * (len(run.steps) - 1) / max(1, args.checkpoints - 1))]
              for i in range(args.checkpoints)]
    interval = run.config.train.num_steps / len(run.steps)  # training steps per checkpoint, on average
    h, _ = class_prompts(run.config.concept_space, 64, 0)
    full = ElicitConfig(precision=precision)
    lean = ElicitConfig(precision=precision, **ELICIT_METHODS)
    with tempfile.TemporaryDirectory() as folder:
        trainer = Trainer(Run.create(Path(folder) / "run", with_overrides(run.config, {"train.train_per_class": 256})),
                          torch.device("cpu"))
        for _ in range(3):
            trainer.train_step()
        subjects = {
            "training (per checkpoint interval)": lambda s: [trainer.train_step() for _ in range(20)],
            "bundled: evaluation": lambda s: generate(run.load_model(s), h, 50, 0, precision=precision),
            "bundled: elicitation": lambda s: elicitation(run, s, full, 50, batched=False),
            "sweep: evaluation": lambda s: generate(run.load_model(s), h, SAMPLE_STEPS, 0, precision=precision),
            "sweep: elicitation": lambda s: elicitation(run, s, lean, SAMPLE_STEPS, batched=True),
        }
        seconds: dict[str, list[float]] = {name: [] for name in subjects}
        for repeat in range(args.repeats):
            names = list(subjects)[repeat % len(subjects):] + list(subjects)[:repeat % len(subjects)]
            for name in names:
                total = 0.0
                for step in picked:
                    started = time.perf_counter()
                    subjects[name](step)
                    total += time.perf_counter() - started
                per = total / len(picked)
                seconds[name].append(per * interval / 20 if name.startswith("training") else per)
    print(f"command: python benchmarks/{Path(sys.argv[0]).name} {' '.join(sys.argv[1:])}".rstrip())
    print(f"CPU: {cpu_name()}, {os.cpu_count()} cores, {args.threads} torch thread(s), native bf16: "
          f"{'yes' if native_bf16(torch.device('cpu')) else 'no'}, precision {precision}; load average "
          f"{os.getloadavg()[0]:.2f}")
    print(f"run {run.name}; checkpoints timed: {picked}; {args.repeats} rotating repeats; seconds per checkpoint "
          f"(median, min-max); training = {interval:.0f} steps of batch {run.config.train.batch_size}")
    median = {name: statistics.median(values) for name, values in seconds.items()}
    for name, values in seconds.items():
        print(f"  {name:<36} {median[name]:7.2f} s ({min(values):.2f}-{max(values):.2f})")
    train = median["training (per checkpoint interval)"]
    passes = {way: median[f"{way}: evaluation"] + median[f"{way}: elicitation"] for way in ("bundled", "sweep")}
    for way, cost in passes.items():
        print(f"  {way} passes: {cost:.2f} s per checkpoint = {cost / train:.0%} of training")
    print(f"  sweep passes take {passes['sweep'] / passes['bundled']:.2f}x the time of the bundled runs' passes")


if __name__ == "__main__":
    main()
