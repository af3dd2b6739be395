"""Which strength of each elicitation family wins on the bundled seeds: how often (checkpoints where the held-out
class's joint accuracy of that strength is the family's best and above 0) and its mean over the last 8 checkpoints.
The sweep keeps one strength per family where one clearly wins (analysis/sweep.py, ELICIT_METHODS).

    .venv/bin/python benchmarks/method_wins.py | tee benchmarks/results-method-wins.txt
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from concept_explorer.analysis.capability import load_elicitation  # noqa: E402
from concept_explorer.analysis.definitions import CRITERIA  # noqa: E402
from concept_explorer.analysis.seeds import seed_group  # noqa: E402
from concept_explorer.core.run import Run  # noqa: E402


def main() -> None:
    print(f"command: python benchmarks/{Path(sys.argv[0]).name}")
    for run in seed_group(Run.open(ROOT / "checkpoints" / "cpu-default")):
        summary = load_elicitation(run)
        steps = summary["steps"]
        label = run.config.concept_space.class_label(run.config.concept_space.heldout_classes()[0])
        first = summary["per_step"][str(steps[0])]
        for criterion in CRITERIA:
            parts = []
            for family in sorted({key.split("@")[0] for key in first if "@" in key}):
                keys = [key for key in first if key.split("@")[0] == family]
                accuracy = np.array([[summary["per_step"][str(s)][k][label]["criteria"][criterion]["joint_accuracy"]
                                      for s in steps] for k in keys])  # (strengths, T)
                best = accuracy.max(0)
                wins = ((accuracy >= best - 1e-9) & (best > 0)).sum(1)
                parts.append(f"{family}: " + ", ".join(f"@{k.split('@')[1]} wins {w:2d} late {a[-8:].mean():.2f}"
                                                       for k, w, a in zip(keys, wins, accuracy)))
            print(f"seed {run.config.train.seed} {criterion:<7} " + " | ".join(parts))


if __name__ == "__main__":
    main()
