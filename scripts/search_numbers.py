"""The search for a default that tells the whole arc, computed from stored sweep records (never typed by hand).

    .venv/bin/python scripts/search_numbers.py            # print the block
    .venv/bin/python scripts/search_numbers.py --write    # into docs/default-search.md

Every finished cell of every sweep in SOURCES (the bundled colour sweep, made with the null token, and the packed
search sweeps in benchmarks/search-default/) is one configuration × seed. Under the strict criterion each gets the
five outcomes of analysis/arc.py and the lead of elicitation as a share of the run; configurations (every field of
the cell's run.json but its seed) are then ranked by analysis.arc.score_config. tests/test_numbers.py checks that the
docs page holds exactly what this prints.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from readme_block import write_block  # noqa: E402

from concept_explorer.analysis.arc import OUTCOME_TITLES, OUTCOMES, Arc, arc_of, best_config, score_config  # noqa: E402
from concept_explorer.analysis.sweep_results import load_results  # noqa: E402

SEARCH = ROOT / "benchmarks" / "search-default"
SOURCES = [ROOT / "checkpoints" / "sweep-color", *sorted(p for p in SEARCH.iterdir() if p.is_dir())] \
    if SEARCH.is_dir() else [ROOT / "checkpoints" / "sweep-color"]
DOC = ROOT / "docs" / "default-search.md"
START, END = "<!-- search-numbers:start (scripts/search_numbers.py --write) -->", "<!-- search-numbers:end -->"
CRITERION = "strict"
FIELDS = [("Δcolor", "concept_space", "delta_color"), ("Δsize", "concept_space", "delta_size"),
          ("p_uncond", "train", "p_uncond"), ("steps", "train", "num_steps"), ("EMA", "train", "ema_decay"),
          ("checkpoints", "train", "checkpoint_count")]
"""What the table names of a configuration; every other field is compared too, so two configurations that differ
elsewhere are never pooled."""


def config_key(config: dict) -> str:
    """Every field but the seed and the resolved precision, as one canonical string."""
    train = {k: v for k, v in config["train"].items() if k not in ("seed", "precision")}
    return json.dumps({**config, "train": train}, sort_keys=True)


def config_label(config: dict) -> str:
    return ", ".join(f"{name} {config[section][key]:g}" for name, section, key in FIELDS)


def cells_of(sources: list[Path]) -> list[tuple[dict, int, dict, Path]]:
    """(config, seed, strict numbers, sweep folder) of every finished, elicited cell of every source; the numbers name
    the memorised class by its name (red-small), not its label."""
    found = []
    for folder in sources:
        for cell in load_results(folder)["cells"]:
            numbers = cell["criteria"][CRITERION]["numbers"]
            if numbers is None:
                continue
            config = json.loads((folder / cell["name"] / "run.json").read_text())["config"]
            memorized = numbers["mistaken_for"]
            if memorized is not None:  # its class name, as the app shows it
                numbers = {**numbers, "mistaken_for": cell["names"][cell["labels"].index(memorized)]}
            found.append((config, cell["seed"], numbers, folder))
    return found


def step(value: int | None) -> str:
    return "never" if value is None else f"{value:,}"


def seed_row(config: dict, seed: int, numbers: dict, arc: Arc) -> str:
    mark = {True: "✓", False: "✗"}
    memorized = (f"{mark[True]} {numbers['mistaken_for']} {step(numbers['memorization'][0])}–"
                 f"{step(numbers['memorization'][1])}" if arc.memorization else mark[False])
    gap = "–" if arc.gap_fraction is None else f"{mark[arc.gap]} {arc.gap_fraction:+.0%}"
    return (f"| {config_label(config)} | {seed} | {mark[arc.training]} {step(numbers['training'])} | "
            f"{mark[arc.elicited]} {step(numbers['elicited'])} | {mark[arc.plain]} {step(numbers['plain'])} | {gap} | "
            f"{memorized} | {mark[arc.turn]} {step(numbers['turn'])} | {'**yes**' if arc.whole else 'no'} |")


def generate(sources: list[Path]) -> str:
    cells = cells_of(sources)
    groups: dict[str, list[tuple[dict, int, dict, Path]]] = {}
    for cell in cells:
        groups.setdefault(config_key(cell[0]), []).append(cell)
    arcs = {key: [arc_of(numbers) for _, _, numbers, _ in group] for key, group in groups.items()}
    scores = {key: score_config(value) for key, value in arcs.items()}
    best = best_config(scores, min_seeds=2)
    order = sorted(groups, key=lambda key: scores[key].rank_key(), reverse=True)
    places = sorted({str(folder.relative_to(ROOT)) for *_, folder in cells})
    lines = [START, "", f"{len(cells)} runs in {len(groups)} configurations, read from " + ", ".join(
        f"`{p}`" for p in places) + f"; {CRITERION} criterion; a step is the first checkpoint of ≥ 3 in a row at ≥ "
        "80 % (every run was made by `concept-explorer sweep`, passes at 25 sampler steps).", "",
        "**Per configuration** (seeds showing each outcome; score = share of seed × outcome pairs shown):", "",
        "| configuration | seeds | " + " | ".join(OUTCOME_TITLES[o] for o in OUTCOMES)
        + " | whole arc | mean lead | score |", "|---" * (len(OUTCOMES) + 5) + "|"]
    for key in order:
        score, config = scores[key], groups[key][0][0]
        lead = "–" if score.mean_gap_fraction is None else f"{score.mean_gap_fraction:+.0%}"
        name = f"**{config_label(config)}** (best)" if key == best else config_label(config)
        lines.append(f"| {name} | {score.seeds} | " + " | ".join(f"{score.counts[o]}" for o in OUTCOMES)
                     + f" | {score.whole} | {lead} | {score.score:.2f} |")
    lines += ["", "**Per seed** (steps; lead = (plain − elicited) / run length; memorization names the training "
              "class and its window):", "", "| configuration | seed | training classes | best elicitation | plain | "
              "lead | memorization | turn | whole arc |", "|---|---|---|---|---|---|---|---|---|"]
    for key in order:
        lines += [seed_row(config, seed, numbers, arc_of(numbers))
                  for config, seed, numbers, _ in sorted(groups[key], key=lambda c: c[1])]
    return "\n".join(lines + ["", END])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help=f"replace the block in docs/{DOC.name}")
    args = parser.parse_args()
    text = generate(SOURCES)
    if args.write:
        write_block(DOC, START, END, text)
    else:
        print(text)


if __name__ == "__main__":
    main()
