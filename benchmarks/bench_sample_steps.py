"""How many sampling steps the evaluation needs: verdicts at fewer ancestral steps against the 50 the bundled runs
use, on a bundled run's stored evaluation (same prompts, same sampler seed), and the time each takes.

    .venv/bin/python benchmarks/bench_sample_steps.py [--run checkpoints/cpu-default] [--steps 10,20,30]
        | tee benchmarks/results-sample-steps.txt

Per step count S: the fraction of samples whose verdict (presence, and each concept's level under each criterion)
equals the 50-step verdict of the same sample, the largest change of a class's joint accuracy at any checkpoint,
the learning step of every class (joint ≥ 0.8 at 3 checkpoints in a row) against the stored one, and the seconds
spent sampling. An ancestral sampler at another step count draws other noise after the first step, so its samples
are new draws, not the same samples computed more coarsely: the row "50 (seed+1)" samples the stored step count with
another sampler seed and gives the floor every row is held to — no step count can agree with the stored verdicts
better than another draw of the same sampler does. A sweep can sample at the smallest S whose differences stay
within that floor.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_reference import cpu_name  # noqa: E402

from concept_explorer.analysis.definitions import CRITERIA, correctness, learning_step, levels  # noqa: E402
from concept_explorer.analysis.evaluate import EvalConfig, Evaluation, class_prompts  # noqa: E402
from concept_explorer.analysis.probes import Probe  # noqa: E402
from concept_explorer.core.precision import native_bf16  # noqa: E402
from concept_explorer.core.run import Run  # noqa: E402
from concept_explorer.core.sampling import generate  # noqa: E402


def verdicts(position: np.ndarray, present: np.ndarray, space, criterion: str) -> np.ndarray:  # noqa: ANN001
    """(N, K + 1): each concept's level (−1 between) and presence, per sample."""
    return np.concatenate([levels(position, space, criterion), (present >= 0.5)[:, None].astype(int)], axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, default=ROOT / "checkpoints" / "cpu-default")
    parser.add_argument("--steps", default="10,20,30", help="sampling step counts to compare with the stored ones")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-floor", action="store_true", help="skip the other-seed row at the stored step count")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    run = Run.open(args.run)
    space = run.config.concept_space
    evaluation = Evaluation(run)
    settings = EvalConfig(**{k: v for k, v in evaluation.summary["settings"].items() if k != "sample_steps"})
    stored_steps = evaluation.summary["settings"]["sample_steps"]
    probe = Probe.load(run.layout.probe)
    h, labels = class_prompts(space, settings.samples_per_class, settings.seed)
    counts = [int(s) for s in args.steps.split(",")]
    floor = None if args.no_floor else f"{stored_steps} (seed+1)"
    runs = [(count, count, settings.seed) for count in counts]  # (row name, sampling steps, sampler seed)
    if floor:
        runs.append((floor, stored_steps, settings.seed + 1))
    print(f"command: python benchmarks/{Path(sys.argv[0]).name} {' '.join(sys.argv[1:])}".rstrip())
    print(f"run {run.name}: {len(run.steps)} checkpoints, {settings.samples_per_class} samples per class, stored at "
          f"{stored_steps} sampling steps, precision {settings.precision}")
    print(f"CPU: {cpu_name()}, {os.cpu_count()} cores, {args.threads} torch thread(s), native bf16: "
          f"{'yes' if native_bf16(torch.device('cpu')) else 'no'}; load average {os.getloadavg()[0]:.2f}")
    names_of_rows = [name for name, _, _ in runs]
    agree = {s: {c: [] for c in CRITERIA} for s in names_of_rows}
    joint = {s: {c: [] for c in CRITERIA} for s in [*names_of_rows, stored_steps]}
    seconds = {s: 0.0 for s in names_of_rows}
    for step in run.steps:
        model = run.load_model(step)
        reference = probe.score(evaluation.samples(step)["images"], space)
        per_count = {stored_steps: reference}
        for name, count, seed in runs:
            started = time.perf_counter()
            images = generate(model, h, count, seed, precision=settings.precision)
            seconds[name] += time.perf_counter() - started
            per_count[name] = probe.score(images, space)
        for criterion in CRITERIA:
            base = verdicts(reference.position.numpy(), reference.p_present.numpy(), space, criterion)
            for count, scores in per_count.items():
                position, present = scores.position.numpy(), scores.p_present.numpy()
                if count != stored_steps:
                    agree[count][criterion].append((verdicts(position, present, space, criterion) == base).mean())
                joint[count][criterion].append([
                    correctness(position[labels == i], present[labels == i], code, space, criterion).prod(1).mean()
                    for i, code in enumerate(space.all_classes())])
    names = [space.class_name(c) for c in space.all_classes()]
    print(f"\n{'steps':>5} {'criterion':<9} {'verdicts agree':>15} {'max |Δ joint|':>14} {'sampling s':>11}  "
          f"learning steps ({', '.join(names)}) vs {stored_steps} steps")
    for criterion in CRITERIA:
        learned = lambda series: [str(learning_step(np.array(series)[:, i], run.steps)) for i in range(len(names))]  # noqa: E731
        print(f"{stored_steps:>5} {criterion:<9} {'(reference)':>15} {'':>14} {'':>11}  "
              f"{', '.join(learned(joint[stored_steps][criterion]))}")
        for count in names_of_rows:
            change = np.abs(np.array(joint[count][criterion]) - np.array(joint[stored_steps][criterion])).max()
            print(f"{count:>5} {criterion:<9} {np.mean(agree[count][criterion]):>14.1%} {change:>14.3f} "
                  f"{seconds[count]:>11.1f}  {', '.join(learned(joint[count][criterion]))}")


if __name__ == "__main__":
    main()
