"""The science of two runs side by side: every class's learning step, the memorization window, the hidden
capability (first learned and clearest step) and generalization, read by the same analysis as the app. Used to
check that bf16 autocast does not change the phases of the cpu preset (same seed, fp32 vs bf16):

    concept-explorer train --preset cpu --precision bf16 --out runs/bf16-check --threads 1 --evaluate
    concept-explorer elicit runs/bf16-check --threads 1 --precision bf16
    .venv/bin/python benchmarks/compare_runs.py checkpoints/cpu-default runs/bf16-check \\
        | tee benchmarks/results-precision.txt
"""

from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from concept_explorer.analysis.capability import capability_curves, load_elicitation  # noqa: E402
from concept_explorer.analysis.evaluate import Evaluation  # noqa: E402
from concept_explorer.analysis.phases import class_learning_steps, find_phases  # noqa: E402
from concept_explorer.core.run import Run  # noqa: E402


def facts(run: Run) -> dict[str, str]:
    """The figures a reader compares, as text (a censored step reads 'not learned'). Analysis layer only, so it
    also runs where the app's plotting packages are not installed (a GPU machine)."""
    evaluation = Evaluation(run)
    space = run.config.concept_space
    heldout = space.class_label(space.heldout_classes()[0])
    curves = capability_curves(load_elicitation(run), heldout)
    phases = find_phases(evaluation, curves)
    learning = class_learning_steps(evaluation)
    rows = {f"learned: {space.class_name(space.parse_class(label))}": str(per["joint"])
            for label, per in learning.items()}
    memo = phases.memorization
    rows["memorization window (mistaken for)"] = (f"{memo.window[0]}–{memo.window[1]} ({memo.mistaken_for})"
                                                   if memo.window else "none")
    rows["hidden capability: first learned (method)"] = f"{phases.hidden_capability} ({phases.hidden_method})"
    best = phases.hidden_capability_best
    rows["hidden capability: clearest step"] = (
        f"{best.step} (plain {best.plain_accuracy:.0%}, {best.method} {best.elicited_accuracy:.0%})" if best else "none")
    rows["generalization (plain, joint)"] = str(phases.generalization)
    if curves is not None:
        for family in curves.learned:
            if family != "plain":
                rows[f"gap: {family}"] = str(curves.gap(family))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="evaluated and elicited run folders")
    args = parser.parse_args()
    runs = [Run.open(path) for path in args.runs]
    columns = [f"{r.name} ({r.config.train.precision}, seed {r.config.train.seed})" for r in runs]
    table = [facts(r) for r in runs]
    print(f"# {platform.node()} · criterion: joint accuracy ≥ 0.8 at 3 checkpoints in a row, 64 samples per class")
    width = max(len(k) for k in table[0])
    print(f"{'':<{width}}  " + "  ".join(f"{c:<34}" for c in columns))
    for key in table[0]:
        print(f"{key:<{width}}  " + "  ".join(f"{row.get(key, '–'):<34}" for row in table))
    steps = runs[0].steps
    gaps = [b - a for a, b in zip(steps, steps[1:])]
    print(f"(checkpoints are quadratically spaced: neighbours are {min(gaps)}–{max(gaps)} steps apart, dense early; "
          "a one-checkpoint shift near step 3000 is about 230 steps)")


if __name__ == "__main__":
    main()
