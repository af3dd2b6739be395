"""The underspecification experiment (issue 14, reference-spec §5.4), read from a sweep over train.mask_fraction.

Real captions leave attributes out (a strawberry is just "a strawberry"); the paper simulates that by leaving the
colour out of a fraction f of one shape's prompts (red triangles, class 10 of shape × colour) and asks two things of
the held-out prompt that *does* specify the colour, "blue triangle" (class 11):
- intertwining: does "triangle" come to mean "red", so that "blue triangle" is drawn redder as f grows? Read as the
  masked concept's coordinate of the held-out prompt's samples (0 = the training level, red; 1 = blue), late in
  training, per f; as the share of those samples that are the masked class itself (red triangles); and as the
  coordinate the masked prompt itself ("a triangle", colour unspecified) is drawn at;
- hidden capability: can overprompting, latent intervention or guidance draw a blue triangle before plain prompting
  does? Read as the plain and the elicited learning steps of the held-out class (seeds.RunNumbers) per f.

Pure functions over the sweep's results.json records (sweep_results.cell_record), so the view needs no weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .across import spearman
from .capability import MASKED

TAIL = 3
"""Checkpoints averaged for a "late in training" coordinate: one checkpoint's mean over 32–64 samples moves by
a few hundredths between neighbours, three steady it without reaching back into the learning phase."""


@dataclass(frozen=True)
class MaskedTrace:
    """One cell: the masked concept's coordinate of its first held-out class, per checkpoint."""

    fraction: float
    seed: int
    concept: str
    steps: list[int]  # evaluation checkpoints
    plain: np.ndarray  # (T,) plain prompting (NaN where nothing was drawn)
    elicited_steps: list[int]  # checkpoints of the elicitation pass
    methods: dict[str, np.ndarray]  # method key (e.g. "overprompt@1", MASKED) → (T_e,)


def _column(rows: list, index: int) -> np.ndarray:
    return np.array([np.nan if row is None or row[index] is None else row[index] for row in rows], dtype=float)


def masked_traces(results: dict[str, Any]) -> list[MaskedTrace]:
    """Every finished cell trained with masked prompts, in order of (fraction, seed); a one-sentence error when the
    sweep has none (a sweep made before masking, or of runs without it)."""
    traces = []
    for cell in results["cells"]:
        mask = cell.get("mask") or {}
        if not mask.get("concept") or cell.get("elicited") is None:
            continue
        k = cell["concepts"].index(mask["concept"])
        held = cell["labels"].index(cell["heldout"][0])
        plain = _column([row[held] for row in cell["coordinates"]], k)
        elicited = cell["elicited"]
        # An f = 0 run's mask token never met a masked prompt in training: its masked generation means nothing.
        methods = {key: _column(rows, k) for key, rows in elicited["methods"].items()
                   if key != "plain" and not (key == MASKED and float(mask["fraction"]) == 0)}
        traces.append(MaskedTrace(float(mask["fraction"]), int(cell["seed"]), mask["concept"], list(cell["steps"]),
                                  plain, list(elicited["steps"]), methods))
    if not traces:
        raise ValueError("This sweep has no finished cell trained with masked prompts (train.mask_concept) and "
                         "elicited; make one with `concept-explorer sweep --preset mask --grid "
                         "train.mask_fraction=0,0.5,1`.")
    return sorted(traces, key=lambda t: (t.fraction, t.seed))


def late(values: np.ndarray, tail: int = TAIL) -> float:
    """Mean of the last `tail` checkpoints that drew something (NaN when none did)."""
    drawn = values[~np.isnan(values)]
    return float(drawn[-tail:].mean()) if len(drawn) else float("nan")


@dataclass(frozen=True)
class FractionRow:
    """All cells at one fraction f, late in training, as (mean, min, max) over their seeds."""

    fraction: float
    seeds: list[int]
    plain: tuple[float, float, float]  # the held-out prompt's masked-concept coordinate, plain prompting
    masked: tuple[float, float, float] | None  # the masked prompt's ("a triangle") coordinate
    elicited: dict[str, tuple[float, float, float]]  # per elicitation method key
    plain_steps: list[int | None]  # per seed, plain prompting's learning step of the held-out class
    elicited_steps: list[int | None]  # per seed, the earliest step any elicitation method learns it
    drawn_as_masked: tuple[float, float, float] | None  # share of the held-out prompt's samples that are the masked
    #   class (red triangles for "blue triangle"), plain prompting; None for a record without outcomes
    plain_right: tuple[float, float, float]  # share of them fully right (joint accuracy), plain prompting
    elicited_right: tuple[float, float, float] | None  # the same under the best elicitation method per checkpoint


def _spread(values: list[float]) -> tuple[float, float, float]:
    finite = [v for v in values if not np.isnan(v)]
    return (float(np.mean(finite)), min(finite), max(finite)) if finite else (np.nan, np.nan, np.nan)


def by_fraction(results: dict[str, Any], criterion: str = "strict", tail: int = TAIL) -> list[FractionRow]:
    """One row per fraction: where the held-out prompt, the masked prompt and each elicitation method put the
    masked concept late in training, and the plain and elicited learning steps under `criterion`."""
    traces = masked_traces(results)
    records = {(float(c["mask"]["fraction"]), int(c["seed"])): c for c in results["cells"]
               if (c.get("mask") or {}).get("concept")}
    rows = []
    for fraction in sorted({t.fraction for t in traces}):
        cells = [t for t in traces if t.fraction == fraction]
        keys = [k for k in cells[0].methods if k != MASKED]
        per = [records[(fraction, t.seed)]["criteria"][criterion] for t in cells]
        found = [p["numbers"] or {} for p in per]
        masked_class = records[(fraction, cells[0].seed)]["mask"]["class"]
        held = [records[(fraction, t.seed)]["labels"].index(records[(fraction, t.seed)]["heldout"][0]) for t in cells]
        drawn = [late(np.array([row.get(masked_class, 0.0) for row in p["outcomes"]]), tail)
                 for p in per if p.get("outcomes")]
        rows.append(FractionRow(
            fraction, [t.seed for t in cells], _spread([late(t.plain, tail) for t in cells]),
            _spread([late(t.methods[MASKED], tail) for t in cells]) if MASKED in cells[0].methods else None,
            {k: _spread([late(t.methods[k], tail) for t in cells if k in t.methods]) for k in keys},
            [n.get("plain") for n in found], [n.get("elicited") for n in found],
            _spread(drawn) if len(drawn) == len(per) else None,
            _spread([late(_column(p["joint"], h), tail) for p, h in zip(per, held)]),
            _spread([late(np.array([np.nan if v is None else v for v in p["capability"]], dtype=float), tail)
                     for p in per]) if all(p.get("capability") for p in per) else None,
        ))
    return rows


def intertwining_rho(rows: list[FractionRow], which: str = "plain") -> float:
    """Spearman's ρ between f and the late coordinate of the held-out prompt ("plain") or of the masked prompt
    ("masked") over the fractions: −1 when every step up in f draws it redder (intertwined), NaN without spread."""
    pairs = [(r.fraction, (r.plain if which == "plain" else r.masked or (np.nan,))[0]) for r in rows]
    pairs = [(f, v) for f, v in pairs if not np.isnan(v)]
    if len(pairs) < 3:
        return float("nan")
    return spearman(np.array([f for f, _ in pairs]), np.array([v for _, v in pairs]))
