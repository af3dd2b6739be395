"""The README's three-concept numbers, computed from the bundled 2x2x2 run's stored passes (never typed by hand).

    .venv/bin/python scripts/three_numbers.py [--run checkpoints/three-concepts]     # print the block
    .venv/bin/python scripts/three_numbers.py --write                                # into README.md

Under both criteria: when training converged (every training class learned), and per held-out class its bits from
the training classes, its distance from its corner in concept space when training converged, its learning step
under plain prompting (joint and per concept; "never" = not within the run) and under its best elicitation
(distance_time.elicited_learning), and what plain prompting draws for it at the last checkpoint; then Spearman ρ
of distance against learning step over the learned classes, for each (analysis/distance_time.py; the paper's §4.6
relation predicts ρ > 0). tests/test_numbers.py checks that README.md holds exactly what this prints.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from readme_block import folder_block_cli, megabytes  # noqa: E402

from concept_explorer.analysis.capability import load_elicitation  # noqa: E402
from concept_explorer.analysis.definitions import BETWEEN, CRITERIA, NONE  # noqa: E402
from concept_explorer.analysis.distance_time import DistanceTime, distance_time, elicited_learning  # noqa: E402
from concept_explorer.core.run import Run  # noqa: E402
from concept_explorer.views.run_view import RunDashboard  # noqa: E402

BUNDLED = ROOT / "checkpoints" / "three-concepts"
BUDGET_MB = 60
"""What the bundled three-concept run may take (tests/test_bundled.py holds it to this)."""
START, END = "<!-- three-numbers:start (scripts/three_numbers.py --write) -->", "<!-- three-numbers:end -->"


def rho_text(result: DistanceTime) -> str:
    rho = "undefined" if math.isnan(result.rho) else f"{result.rho:+.2f}"
    return f"{rho} over {result.points} learned held-out classes"


def step(value: int | None) -> str:
    return "never" if value is None else f"{value:,}"


def commonest(outcomes: dict[str, float], names: dict[str, str]) -> str:
    """What most of a class's samples were drawn as: a class, in between classes, or no object at all (the reason a
    held-out class is not learned differs, and the three tell it apart)."""
    label, share = max(outcomes.items(), key=lambda item: item[1])
    drawn = {NONE: "no object", BETWEEN: "in between"}.get(label) or f"{label} {names[label]}"
    return f"{drawn} ({share:.0%})"


def generate(path: Path = BUNDLED) -> str:
    run = Run.open(path)
    space = run.config.concept_space
    kind = "Bundled" if path == BUNDLED else "Run"
    lines = [START, "", f"{kind} `{path.name}` (preset {run.config.preset}, seed {run.config.train.seed}, "
             f"{run.final_step:,} steps, {len(run.steps)} checkpoints; Δ " + ", ".join(
                 f"{c} {getattr(space, f'delta_{c}'):g}" for c in space.concepts) + "):"]
    summary = load_elicitation(run)
    for criterion in CRITERIA:
        view = RunDashboard(run, criterion)
        result = view.distance_time
        heldout = [timing.label for timing in result.classes]
        elicited = distance_time(view.evaluation.coordinates, view.steps, space.all_classes(),
                                 elicited_learning(summary, heldout, criterion), result.convergence)
        names = dict(zip(view.labels, view.names))
        lines += ["", f"**{criterion}**: training converged at step {step(result.convergence.step)}.", "",
                  "| held-out class | bits from training | distance at convergence | learned, plain (all concepts) | "
                  + " | ".join(f"plain, {c}" for c in space.concepts)
                  + " | learned, best elicitation | last checkpoint, plain: commonest outcome |",
                  "|---" * (6 + len(space.concepts)) + "|"]
        for timing, by_elicitation in zip(result.classes, elicited.classes):
            per_concept = view.learning[timing.label]
            distance = "—" if math.isnan(timing.distance) else f"{timing.distance:.2f}"
            lines.append(f"| {timing.label} {names[timing.label]} | {timing.hamming} | {distance} | "
                         f"{step(timing.learning.step)} | " + " | ".join(step(per_concept[c].step)
                                                                      for c in space.concepts)
                         + f" | {step(by_elicitation.learning.step)} | "
                         + commonest(view.evaluation.outcomes[-1][view.labels.index(timing.label)], names) + " |")
        lines += ["", f"Spearman ρ of distance against learning step: {rho_text(result)} (plain prompting), "
                  f"{rho_text(elicited)} (best elicitation)."]
    return "\n".join(lines + ["", f"Stored: `{path.name}` {megabytes(path):.0f} MB (budget {BUDGET_MB} MB).", "", END])


if __name__ == "__main__":
    folder_block_cli(__doc__, generate, "run", BUNDLED, ROOT / "README.md", START, END)
