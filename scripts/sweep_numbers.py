"""The README's sweep numbers, computed from the bundled sweep's stored record (never typed by hand).

    .venv/bin/python scripts/sweep_numbers.py [--sweep checkpoints/sweep-color]           # print the block
    .venv/bin/python scripts/sweep_numbers.py --write                                       # into README.md

Per Δcolor (median [min–max] over the seeds finished so far), for the held-out class: the learning step of colour,
of size and of both under plain prompting, of colour and of both under the earliest elicitation method, the
training class its samples were mistaken for, the turning point, and the colour lead (sweep_results.concept_lead).
Then the paper's two
orderings as numbers, under both criteria: Spearman ρ between Δcolor and the speed of learning colour (1 / step,
0 when never; 95 % bootstrap over seeds), and ρ between Δcolor and the colour lead. Last, verbatim, the stored
benchmarks that chose how cells run (throughput) and sample (sampler steps), and what the passes cost.
tests/test_numbers.py checks that README.md holds exactly what this prints.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from readme_block import folder_block_cli, megabytes  # noqa: E402

from concept_explorer.analysis.across import signal_speed_correlation, spearman  # noqa: E402
from concept_explorer.analysis.definitions import CRITERIA  # noqa: E402
from concept_explorer.analysis.seeds import spread  # noqa: E402
from concept_explorer.analysis.sweep import Sweep  # noqa: E402
from concept_explorer.analysis.sweep_results import axis_of, concept_lead, learning_times, load_results  # noqa: E402
from concept_explorer.views.sweep_view import rho_text  # noqa: E402

BUNDLED = ROOT / "checkpoints" / "sweep-color"
MEASURED = [ROOT / "benchmarks" / f"results-{name}.txt" for name in ("sweep", "sample-steps", "passes")]
"""The stored benchmark results the block quotes verbatim: how the sweep's cells are run and sampled."""
START, END = "<!-- sweep-numbers:start (scripts/sweep_numbers.py --write) -->", "<!-- sweep-numbers:end -->"


def name_of(cell: dict, label: str | None) -> str:
    return cell["names"][cell["labels"].index(label)] if label else "none"


def table(results: dict, field: str, criterion: str) -> list[str]:
    cells = results["cells"]
    label = cells[0]["heldout"][0]
    values = sorted({float(c["overrides"][field]) for c in cells})
    plain = {concept: learning_times(results, label, concept, field, criterion) for concept in ("color", "size",
                                                                                                   "joint")}
    elicited = {concept: learning_times(results, label, concept, field, criterion, method="elicited")
                for concept in ("color", "joint")}
    lines = ["| Δcolor | seeds | colour | size | both | colour, best elicitation | both, best elicitation | mistaken "
             "for | turning point | colour lead |", "|---|---|---|---|---|---|---|---|---|---|"]
    for value in values:
        index = [i for i, c in enumerate(cells) if float(c["overrides"][field]) == value]
        picked = [cells[i] for i in index]
        numbers = [c["criteria"][criterion]["numbers"] for c in picked]
        leads = [concept_lead(c, criterion) for c in picked]
        shown = [f"{lead:+.2f}" for lead in leads if lead is not None]
        lines.append(
            f"| {value:g} | {', '.join(str(c['seed']) for c in picked)} | "
            + " | ".join(spread([plain[k].steps[i] for i in index]) for k in ("color", "size", "joint"))
            + " | " + " | ".join(spread([elicited[k].steps[i] for i in index]) for k in ("color", "joint")) + " | "
            + ", ".join(name_of(c, n["mistaken_for"]) if n else "–" for c, n in zip(picked, numbers))
            + f" | {spread([n['turn'] if n else None for n in numbers])} | {', '.join(shown) or '–'} |")
    return lines


def orderings(results: dict, field: str) -> list[str]:
    cells = results["cells"]
    label = cells[0]["heldout"][0]
    lines = ["| criterion | ρ(Δcolor, speed of colour), held-out, plain | held-out, best elicitation | training "
             "classes, plain | ρ(Δcolor, colour lead) |", "|---|---|---|---|---|"]
    for criterion in CRITERIA:
        held = learning_times(results, label, "color", field, criterion).correlation
        hidden = learning_times(results, label, "color", field, criterion, method="elicited").correlation
        training = [learning_times(results, t, "color", field, criterion) for t in cells[0]["training"]]
        pooled = signal_speed_correlation(sum((t.values for t in training), []), sum((t.steps for t in training), []),
                                          sum((t.seeds for t in training), []))
        pairs = [(float(c["overrides"][field]), concept_lead(c, criterion)) for c in cells]
        pairs = [(d, lead) for d, lead in pairs if lead is not None]
        lead = (f"{spearman([d for d, _ in pairs], [lead for _, lead in pairs]):+.2f} ({len(pairs)} cells)"
                if len(pairs) > 2 else f"– ({len(pairs)} cells)")
        lines.append(f"| {criterion} | " + " | ".join(f"{rho_text(c)}, {c.never} of {c.cells} never"
                                                      for c in (held, hidden, pooled)) + f" | {lead} |")
    return lines


def storage_line(path: Path) -> str:
    cells = [folder for folder in sorted(path.iterdir()) if folder.is_dir()]
    weighted = [folder for folder in cells if any(folder.rglob("*.safetensors"))]
    plain = [folder for folder in cells if folder not in weighted]
    parts = [f"{len(weighted)} cell(s) with weights, {max(map(megabytes, weighted), default=0):.1f} MB at most"]
    parts.append(f"{len(plain)} without, {max(map(megabytes, plain), default=0):.1f} MB at most")
    return (f"Stored: `{path.name}` {megabytes(path):.0f} MB ({'; '.join(parts)}; budget 60 MB for the sweep); all "
            f"of `checkpoints/` {megabytes(path.parent):.0f} MB.")


def block(path: Path = BUNDLED) -> str:
    results = load_results(path)
    sweep = Sweep.open(path)
    field = axis_of(results)
    cells = results["cells"]
    counts = sweep.counts()
    base = sweep.config(sweep.data["cells"][0])
    seeds = sorted({c["seed"] for c in cells})
    durations = [c["criteria"]["strict"]["numbers"]["final_step"] for c in cells if c["criteria"]["strict"]["numbers"]]
    out = [START, "",
           f"`{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}`: {counts['complete']} of "
           f"{len(sweep.data['cells'])} cells finished (Δcolor {', '.join(f'{v:g}' for v in sweep.data['grid'][field])}"
           f" × seeds {', '.join(map(str, sweep.data['seeds']))}; finished seeds: {', '.join(map(str, seeds))}), cpu "
           f"preset: Δsize {base.concept_space.delta_size:g}, {statistics.median(durations) if durations else 0:.0f} "
           f"steps, passes at {sweep.data.get('sample_steps')} sampler steps. Held-out class: "
           f"{name_of(cells[0], cells[0]['heldout'][0])}. Learning steps as median [min–max] over seeds (\"k of n "
           "never\": not within the run); colour lead > 0: colour got right first, < 0: size first.", ""]
    for criterion in CRITERIA:
        out += [f"**{criterion}**", "", *table(results, field, criterion), ""]
    out += ["Orderings (Spearman ρ over cells; 95 % bootstrap over seeds in brackets):", "",
            *orderings(results, field), ""]
    for file in MEASURED:
        out += [f"`{file.relative_to(ROOT)}`:", "", "```", *file.read_text().rstrip().splitlines(), "```", ""]
    out += [storage_line(path), "", END]
    return "\n".join(out)


if __name__ == "__main__":
    folder_block_cli(__doc__, block, "sweep", BUNDLED, ROOT / "README.md", START, END)
