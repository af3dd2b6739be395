"""The search for a default that tells the whole arc, computed from stored sweep records (never typed by hand).

    .venv/bin/python scripts/search_numbers.py            # print the block
    .venv/bin/python scripts/search_numbers.py --write    # into docs/default-search.md

Every finished cell of every sweep in SOURCES (the bundled colour sweep, made with the null token, and the packed
search sweeps in benchmarks/search-default/) is one configuration × seed. Under the strict criterion (and, in a
second summary, the lenient one) each gets the outcomes of analysis/arc.py; configurations (every field of the
cell's run.json but its seed) are ranked by analysis.arc.score_config. tests/test_numbers.py checks that the
docs page holds exactly what this prints.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from readme_block import write_block  # noqa: E402

from concept_explorer.analysis.arc import (  # noqa: E402
    OUTCOME_TITLES,
    OUTCOMES,
    Arc,
    arc_of,
    best_config,
    score_config,
)
from concept_explorer.analysis.sweep import Sweep  # noqa: E402
from concept_explorer.analysis.sweep_results import load_results  # noqa: E402

SEARCH = ROOT / "benchmarks" / "search-default"
SOURCES = [ROOT / "checkpoints" / "sweep-color", *sorted(p for p in SEARCH.iterdir() if p.is_dir())] \
    if SEARCH.is_dir() else [ROOT / "checkpoints" / "sweep-color"]
DOC = ROOT / "docs" / "default-search.md"
START, END = "<!-- search-numbers:start (scripts/search_numbers.py --write) -->", "<!-- search-numbers:end -->"
CRITERION, OTHER = "strict", "lenient"
FIELDS = [("Δcolor", "concept_space", "delta_color"), ("Δsize", "concept_space", "delta_size"),
          ("p_uncond", "train", "p_uncond"), ("steps", "train", "num_steps"), ("EMA", "train", "ema_decay"),
          ("checkpoints", "train", "checkpoint_count")]
"""What the table names of a configuration; every other field is compared too, so two configurations that differ
elsewhere are never pooled."""


def config_key(record: Record) -> str:
    """Every field but the seed and the resolved precision, and what the passes pushed, as one canonical string."""
    train = {k: v for k, v in record.config["train"].items() if k not in ("seed", "precision")}
    return json.dumps({**record.config, "train": train, "elicited": record.elicited}, sort_keys=True)


def config_label(record: Record) -> str:
    fields = ", ".join(f"{name} {record.config[section][key]:g}" for name, section, key in FIELDS)
    return f"{fields}, elicits {' + '.join(record.elicited)}"


@dataclass(frozen=True)
class Record:
    """One finished cell under one criterion: its config, seed and stored numbers (the memorised class by name),
    and the largest share of the held-out prompt's samples one training class took at any checkpoint (what
    memorization needs to reach a majority)."""

    config: dict
    seed: int
    numbers: dict
    folder: Path
    peak_share: float | None
    peak_class: str
    elicited: tuple[str, ...]  # the concepts its overprompting and intervention pushed (the sweep's pass setting)

    @property
    def arc(self) -> Arc:
        return arc_of(self.numbers)


def records(sources: list[Path], criterion: str) -> list[Record]:
    found = []
    for folder in sources:
        elicited = tuple(Sweep.open(folder).passes["elicit_concepts"])
        for cell in load_results(folder)["cells"]:
            judged = cell["criteria"][criterion]
            numbers = judged["numbers"]
            if numbers is None:  # a cell swept without elicitation has no arc to score
                continue
            config = json.loads((folder / cell["name"] / "run.json").read_text())["config"]
            name = dict(zip(cell["labels"], cell["names"]))
            if numbers["mistaken_for"] is not None:
                numbers = {**numbers, "mistaken_for": name[numbers["mistaken_for"]]}
            # Records written before the sweep kept outcome fractions (the bundled colour sweep) have no peak.
            share, label = max(((row.get(t, 0.0), t) for row in judged.get("outcomes", []) for t in cell["training"]),
                               default=(None, None))
            found.append(Record(config, cell["seed"], numbers, folder, share, name.get(label, ""), elicited))
    return found


def step(value: int | None) -> str:
    return "never" if value is None else f"{value:,}"


def seed_row(record: Record) -> str:
    numbers, arc = record.numbers, record.arc
    mark = {True: "✓", False: "✗"}
    memorized = (f"✓ {numbers['mistaken_for']} {step(numbers['memorization'][0])}–{step(numbers['memorization'][1])}"
                 if arc.memorization else "✗" if record.peak_share is None
                 else f"✗ (at most {record.peak_share:.0%} {record.peak_class})")
    gap = "–" if arc.gap_fraction is None else f"{mark[arc.gap]} {arc.gap_fraction:+.0%}"
    return (f"| {config_label(record)} | {record.seed} | {mark[arc.training]} {step(numbers['training'])} | "
            f"{mark[arc.elicited]} {step(numbers['elicited'])} | {mark[arc.plain]} {step(numbers['plain'])} | {gap} | "
            f"{memorized} | {mark[arc.turn]} {step(numbers['turn'])} | {'**yes**' if arc.whole else 'no'} |")


def grouped(found: list[Record]) -> dict[str, list[Record]]:
    groups: dict[str, list[Record]] = {}
    for record in found:
        groups.setdefault(config_key(record), []).append(record)
    return groups


def config_table(found: list[Record]) -> tuple[list[str], list[str]]:
    """The per-configuration table's lines, and the configuration keys best first."""
    groups = grouped(found)
    scores = {key: score_config([r.arc for r in group]) for key, group in groups.items()}
    best = best_config(scores, min_seeds=2)
    order = sorted(groups, key=lambda key: scores[key].rank_key(), reverse=True)
    lines = ["| configuration | seeds | " + " | ".join(OUTCOME_TITLES[o] for o in OUTCOMES)
             + " | whole arc | mean lead | score |", "|---" * (len(OUTCOMES) + 5) + "|"]
    for key in order:
        score, first = scores[key], groups[key][0]
        lead = "–" if score.mean_gap_fraction is None else f"{score.mean_gap_fraction:+.0%}"
        name = f"**{config_label(first)}** (best)" if key == best else config_label(first)
        lines.append(f"| {name} | {score.seeds} | " + " | ".join(f"{score.counts[o]}" for o in OUTCOMES)
                     + f" | {score.whole} | {lead} | {score.score:.2f} |")
    return lines, order


def generate(sources: list[Path]) -> str:
    strict = records(sources, CRITERION)
    lines, order = config_table(strict)
    groups = grouped(strict)
    places = sorted({str(r.folder.relative_to(ROOT)) for r in strict})
    text = [START, "", f"{len(strict)} runs in {len(groups)} configurations, read from "
            + ", ".join(f"`{p}`" for p in places) + "; a step is the first checkpoint of ≥ 3 in a row at ≥ 80 % "
            "(every run was made by `concept-explorer sweep`, passes at 25 sampler steps).", "",
            f"**Per configuration, {CRITERION} criterion** (seeds showing each outcome; score = share of seed × "
            "outcome pairs shown):", "", *lines, "",
            f"**The same under the {OTHER} criterion** (the red/blue and large/small midpoints decide):", "",
            *config_table(records(sources, OTHER))[0], "",
            f"**Per seed, {CRITERION} criterion** (steps; lead = (plain − elicited) / run length; memorization names "
            "the training class and its window, or the largest share one training class ever took):", "",
            "| configuration | seed | training classes | best elicitation | plain | lead | memorization | turn | "
            "whole arc |", "|---|---|---|---|---|---|---|---|---|"]
    for key in order:
        text += [seed_row(r) for r in sorted(groups[key], key=lambda r: r.seed)]
    return "\n".join(text + ["", END])


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
