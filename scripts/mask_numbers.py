"""The README's underspecification numbers, computed from the bundled f sweep's stored record (never typed by hand).

    .venv/bin/python scripts/mask_numbers.py [--sweep checkpoints/sweep-mask]     # print the block
    .venv/bin/python scripts/mask_numbers.py --write                              # into README.md

Per masked fraction f (mean [min–max] over the seeds finished), late in training (the mean of the last three
checkpoints that drew something, underspecification.TAIL): the colour coordinate of "blue triangle" samples under
plain prompting, under each elicitation method, and of the masked prompt "triangle" (colour unspecified); then,
under both criteria, the share of blue-triangle samples drawn as red triangles (the masked class), the share drawn
right under plain prompting and under the best elicitation, and their learning steps; last, Spearman ρ between f
and the plain colour (−1: every step up in f draws blue triangles redder). tests/test_numbers.py checks that README.md holds
exactly what this prints.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from readme_block import folder_block_cli, megabytes  # noqa: E402

from concept_explorer.analysis.definitions import CRITERIA  # noqa: E402
from concept_explorer.analysis.sweep_results import load_results  # noqa: E402
from concept_explorer.analysis.underspecification import TAIL, by_fraction, intertwining_rho  # noqa: E402
from concept_explorer.views.masking_view import masked_prompt_name  # noqa: E402
from concept_explorer.views.plots import method_label  # noqa: E402

BUNDLED = ROOT / "checkpoints" / "sweep-mask"
BUDGET_MB = 20
"""What the bundled f sweep may take (tests/test_bundled.py holds it to this)."""
START, END = "<!-- mask-numbers:start (scripts/mask_numbers.py --write) -->", "<!-- mask-numbers:end -->"


def spread(triple: tuple[float, float, float] | None, seeds: int) -> str:
    if triple is None or math.isnan(triple[0]):
        return "—"
    mean, low, high = triple
    return f"{mean:.2f}" if seeds == 1 or math.isclose(low, high) else f"{mean:.2f} [{low:.2f}–{high:.2f}]"


def steps(values: list[int | None]) -> str:
    return ", ".join("never" if s is None else f"{s:,}" for s in values)


def generate(sweep: Path = BUNDLED) -> str:
    results = load_results(sweep)
    rows = by_fraction(results, "strict")
    methods = sorted({k for r in rows for k in r.elicited})
    seeds = sorted({s for r in rows for s in r.seeds})
    final = sorted({c["steps"][-1] for c in results["cells"]})
    cell = results["cells"][0]
    held, masked = (cell["names"][cell["labels"].index(label)] for label in (cell["heldout"][0], cell["mask"]["class"]))
    unspecified = masked_prompt_name(held, cell["mask"]["concept"])
    lines = [START, "",
             f"Bundled `{sweep.name}`: {len(results['cells'])} cells, f ∈ {{{', '.join(f'{r.fraction:g}' for r in rows)}}}"
             f", seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}, {', '.join(f'{s:,}' for s in final)}"
             f" steps. Colour coordinate of the samples (0 = red, 1 = blue), mean of the last {TAIL} checkpoints:", "",
             f"| f | {held}, plain | " + " | ".join(f"{held}, {method_label(m)}" for m in methods)
             + f" | {unspecified} |", "|---" * (3 + len(methods)) + "|"]
    for r in rows:
        n = len(r.seeds)
        lines.append(f"| {r.fraction:g} | {spread(r.plain, n)} | "
                     + " | ".join(spread(r.elicited.get(m), n) for m in methods) + f" | {spread(r.masked, n)} |")
    lines += ["", f"Late in training, what the {held} prompt draws (share of its samples; a class only when every "
              "concept is at its level) and when it is learned (≥ 0.8 at 3 checkpoints in a row):", "",
              f"| f | criterion | drawn as {masked} | {held}, plain | {held}, best elicitation | "
              "learned, plain | learned, best elicitation |", "|---" * 7 + "|"]
    for criterion in CRITERIA:
        for r in by_fraction(results, criterion):
            n = len(r.seeds)
            lines.append(f"| {r.fraction:g} | {criterion} | {spread(r.drawn_as_masked, n)} | {spread(r.plain_right, n)} "
                         f"| {spread(r.elicited_right, n)} | {steps(r.plain_steps)} | {steps(r.elicited_steps)} |")
    rho, rho_masked = intertwining_rho(rows), intertwining_rho(rows, "masked")
    lines += ["", f"Spearman ρ between f and the late colour of {held}: {rho:+.2f} (plain prompting); of the "
              f"masked prompt: " + ("—" if math.isnan(rho_masked) else f"{rho_masked:+.2f}") + ".", "",
              f"Stored: `{sweep.name}` {megabytes(sweep):.0f} MB (budget {BUDGET_MB} MB).", "", END]
    return "\n".join(lines)


if __name__ == "__main__":
    folder_block_cli(__doc__, generate, "sweep", BUNDLED, ROOT / "README.md", START, END)
