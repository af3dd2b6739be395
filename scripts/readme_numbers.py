"""The README's numbers, computed from the bundled runs' stored results (never typed by hand).

    .venv/bin/python scripts/readme_numbers.py            # print the Markdown block
    .venv/bin/python scripts/readme_numbers.py --write    # replace the block between the markers in README.md
    .venv/bin/python scripts/readme_numbers.py --store-designs shared=runs/a per_block=runs/b ...
        # store the numbers of runs that are not bundled (the conditioning-design comparison) in
        # benchmarks/results-conditioning.json, which the block then reads

tests/test_numbers.py checks that README.md holds exactly what this prints, and the headline claims on every seed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from readme_block import megabytes, write_block  # noqa: E402

from concept_explorer.analysis.definitions import CRITERIA  # noqa: E402
from concept_explorer.analysis.elicit import DIRECTIONS  # noqa: E402
from concept_explorer.analysis.seeds import RunNumbers, run_numbers, seed_group, spread  # noqa: E402
from concept_explorer.core.concepts import ConceptSpace  # noqa: E402
from concept_explorer.core.run import Run  # noqa: E402

BUNDLED = ROOT / "checkpoints" / "cpu-default"
DESIGNS = ROOT / "benchmarks" / "results-conditioning.json"
START, END = "<!-- numbers:start (scripts/readme_numbers.py --write) -->", "<!-- numbers:end -->"


def numbers_of(runs: list[Run]) -> dict[str, list[RunNumbers]]:
    return {criterion: [run_numbers(run, criterion) for run in runs] for criterion in CRITERIA}


def rows(numbers: dict[str, list[RunNumbers]], families: list[str], space: ConceptSpace) -> list[str]:
    """One Markdown table row per number, one column per criterion."""
    name = space.class_name(space.heldout_classes()[0])
    def row(label: str, pick) -> str:  # noqa: ANN001
        return f"| {label} | " + " | ".join(spread([pick(n) for n in numbers[c]]) for c in CRITERIA) + " |"

    def names(label: str | None) -> str:
        return space.class_name(space.parse_class(label)) if label else "none"

    def gaps(criterion: str) -> str:
        return ", ".join(f"seed {n.seed}: " + (str(n.gap) if n.gap is not None else f"≥ {n.gap_at_least} (plain never)"
                                               if n.gap_at_least is not None else "–") for n in numbers[criterion])

    mistaken = {c: ", ".join(f"seed {n.seed}: {names(n.mistaken_for)}" for n in numbers[c]) for c in CRITERIA}
    concepts = list(next(iter(numbers.values()))[0].concept_plain)
    lines = [
        row("all training classes learned", lambda n: n.training),
        row("memorization window starts", lambda n: n.memorization[0] if n.memorization else None),
        row("memorization window ends", lambda n: n.memorization[1] if n.memorization else None),
        "| held-out prompt mistaken for (majority of samples) | " + " | ".join(mistaken[c] for c in CRITERIA) + " |",
        row("turning point (sudden turn)", lambda n: n.turn),
        row(f"**plain prompting** learns {name}", lambda n: n.plain),
        row(f"**best elicitation** learns {name}", lambda n: n.elicited),
        "| gap (plain − best elicitation) | " + " | ".join(gaps(c) for c in CRITERIA) + " |",
    ]
    for concept in concepts:
        lines += [row(f"{concept} alone: plain prompting", lambda n, c=concept: n.concept_plain[c]),
                  row(f"{concept} alone: best elicitation", lambda n, c=concept: n.concept_elicited[c])]
    lines.append("| *learning step of each elicitation method (joint)* | | |")
    lines += [row(family, lambda n, f=family: n.per_family.get(f)) for family in families if family != "plain"]
    return lines


def ranked_directions(numbers: dict[str, list[RunNumbers]]) -> list[str]:
    """Intervention directions, best first: the most (seed, criterion) pairs in which the direction's joint
    accuracy is learned, then the earliest median learning step over them. The first is elicit.DEFAULT_DIRECTION
    (tests/test_numbers.py checks it)."""
    def key(direction: str) -> tuple[int, float]:
        steps = [n.per_family.get(f"intervention-{direction}") for c in CRITERIA for n in numbers[c]]
        learned = [s for s in steps if s is not None]
        return -len(learned), statistics.median(learned) if learned else float("inf")

    return sorted(DIRECTIONS, key=key)


def fragile_lines(numbers: dict[str, list[RunNumbers]]) -> list[str]:
    notes = [f"seed {n.seed} ({c}): {', '.join(n.fragile)}" for c in CRITERIA for n in numbers[c] if n.fragile]
    return ["Learning steps that rest on one sample (a qualifying checkpoint less than one sample above 0.8): "
            + ("; ".join(notes) if notes else "none") + "."]


def calibration_lines(runs: list[Run]) -> list[str]:
    lines = []
    for run in runs:
        probe = json.loads(run.layout.evaluation_summary.read_text()).get("probe", {})
        calibration = probe.get("calibration")
        if calibration:
            lines.append(f"seed {run.config.train.seed}: " + "; ".join(
                f"{concept} {v['mean_abs_error']:.3f} (worst bias {v['worst_bias']:+.3f} at {v['worst_at']:g})"
                for concept, v in calibration.items()))
    return lines


CHECKPOINTS_BUDGET_MB = 300
"""All of checkpoints/ (a Space clones it whole; tests/test_bundled.py holds it to this): the three seeds of the cpu
preset (about 160 MB), the concept-signal sweep (≤ 60 MB, issue 12), the three-concept run (≤ 50 MB) and the
underspecification sweep (≤ 20 MB, issue 14)."""


def storage_line(runs: list[Run]) -> str:
    parts = []
    for run in runs:
        layout = run.layout
        parts.append(f"seed {run.config.train.seed} {megabytes(Path(run.path)):.0f} MB (weights "
                     f"{megabytes(layout.checkpoint(run.steps[0]).parent):.0f}, evaluation "
                     f"{megabytes(layout.evaluation_summary.parent):.0f}, elicitation "
                     f"{megabytes(layout.elicitation_summary.parent):.0f})")
    total = megabytes(Path(runs[0].path).parent)
    return f"Stored: {'; '.join(parts)}; all of `checkpoints/` {total:.0f} MB (budget {CHECKPOINTS_BUDGET_MB} MB)."


def block(runs: list[Run], designs: dict | None) -> str:
    space = runs[0].config.concept_space
    numbers = numbers_of(runs)
    families = list(next(iter(numbers.values()))[0].per_family)
    config = runs[0].config
    seeds = ", ".join(str(r.config.train.seed) for r in runs)
    out = [START, "",
           f"{len(runs)} seeds ({seeds}) of the cpu preset: Δcolor {space.delta_color:g}, Δsize {space.delta_size:g}, "
           f"{config.train.num_steps} steps, {config.model.conditioning} conditioning, p_uncond "
           f"{config.train.p_uncond:g}. Steps as **median [min–max] over seeds**; \"k of n never\" counts seeds "
           "that did not get there within the run. A learning step is the first checkpoint from which joint "
           "accuracy (colour and size both right) stays ≥ 0.8 for 3 checkpoints, 64 samples each.", "",
           "| | strict | lenient |", "|---|---|---|", *rows(numbers, families, space), "",
           *fragile_lines(numbers), "",
           "Intervention directions ranked by how many seeds and criteria learn the class, then by the median step: "
           + " > ".join(ranked_directions(numbers)) + " (the first is the default everywhere).", ""]
    calibration = calibration_lines(runs)
    if calibration:
        out += ["Probe calibration on renders along each axis, −0.25…1.25 (position units; mean absolute error): "
                + " · ".join(calibration), ""]
    if designs:
        out += ["Conditioning designs (same config otherwise; `patch` = the final checkpoint's embedding module "
                "patched into each earlier checkpoint):", "", "| design | seeds | criterion | plain | patch | "
                "best elicitation | colour alone: plain | colour alone: patch |", "|---|---|---|---|---|---|---|---|"]
        for design, entry in designs.items():
            for criterion in CRITERIA:
                per_seed = entry[criterion]
                out.append(f"| {design} | {', '.join(str(n['seed']) for n in per_seed)} | {criterion} | "
                           f"{spread([n['plain'] for n in per_seed])} | "
                           f"{spread([n['per_family'].get('patch') for n in per_seed])} | "
                           f"{spread([n['elicited'] for n in per_seed])} | "
                           f"{spread([n['concept_per_family']['plain'].get('color') for n in per_seed])} | "
                           f"{spread([n['concept_per_family'].get('patch', {}).get('color') for n in per_seed])} |")
        out.append("")
    out += [storage_line(runs), "", END]
    return "\n".join(out)


def store_designs(specs: list[str]) -> None:
    stored: dict[str, dict] = {}
    for spec in specs:
        design, _, path = spec.partition("=")
        numbers = numbers_of([Run.open(path)])
        entry = stored.setdefault(design, {c: [] for c in CRITERIA})
        for criterion in CRITERIA:
            entry[criterion] += [dataclasses.asdict(n) for n in numbers[criterion]]
    DESIGNS.write_text(json.dumps(stored, indent=1) + "\n")


def generate() -> str:
    designs = json.loads(DESIGNS.read_text()) if DESIGNS.is_file() else None
    return block(seed_group(Run.open(BUNDLED)), designs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help="replace the numbers block in README.md")
    parser.add_argument("--store-designs", nargs="+", metavar="DESIGN=RUN", help="store numbers of unbundled runs")
    args = parser.parse_args()
    if args.store_designs:
        store_designs(args.store_designs)
    text = generate()
    if not args.write:
        print(text)
        return
    write_block(ROOT / "README.md", START, END, text)


if __name__ == "__main__":
    main()
