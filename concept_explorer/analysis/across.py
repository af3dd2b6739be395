"""Across runs: does a stronger concept signal make a concept learned sooner? Pure functions over learning steps,
plus the one reader that collects them from a sweep's cells.

The paper's claim is an ordering ("concept signal dictates the speed of learning"), so it is measured by rank:
Spearman's ρ between a cell's Δ and its learning *speed*, 1 / learning step, where a concept never learned within
the run has speed 0 (it ranks slowest, tied with the others that never got there), so censored runs count as
slow instead of being dropped. The interval is a percentile bootstrap over seeds: whole seeds are resampled with
replacement, each keeping all of its cells, because cells of one seed share a training stream and are not
independent draws.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .evaluate import Evaluation
from .phases import class_learning_steps


def ranks(values: np.ndarray) -> np.ndarray:
    """Average ranks (1-based) with ties sharing the mean of their positions."""
    values = np.asarray(values, dtype=float)
    order = np.argsort(values, kind="stable")
    result = np.empty(len(values))
    sorted_values = values[order]
    start = 0
    while start < len(values):
        end = start
        while end + 1 < len(values) and sorted_values[end + 1] == sorted_values[start]:
            end += 1
        result[order[start:end + 1]] = (start + end) / 2 + 1
        start = end + 1
    return result


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rank correlation; NaN when either side has no spread."""
    rx, ry = ranks(x), ranks(y)
    if rx.std() == 0 or ry.std() == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


def speeds(steps: list[int | None]) -> np.ndarray:
    """1 / learning step, and 0 for a run that never learned (censored: slower than any that did)."""
    return np.array([0.0 if s is None else 1.0 / s for s in steps])


@dataclass(frozen=True)
class RankCorrelation:
    rho: float
    low: float  # 2.5th percentile of the bootstrap over seeds
    high: float  # 97.5th percentile
    cells: int
    never: int  # cells that never learned (speed 0)


def signal_speed_correlation(
    deltas: list[float], steps: list[int | None], seeds: list[int], resamples: int = 2000, seed: int = 0
) -> RankCorrelation:
    """ρ between Δ and learning speed over cells, with a 95 % percentile bootstrap over seeds (NaN bounds with one
    seed: resampling a single seed only ever redraws the same cells, an interval of width 0 that claims nothing)."""
    if not len(deltas) == len(steps) == len(seeds):
        raise ValueError("deltas, steps and seeds must have one entry per cell.")
    x, y, groups = np.asarray(deltas, dtype=float), speeds(steps), np.asarray(seeds)
    rho = spearman(x, y)
    unique = np.unique(groups)
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(resamples if len(unique) > 1 else 0):
        chosen = rng.choice(unique, size=len(unique), replace=True)
        index = np.concatenate([np.flatnonzero(groups == g) for g in chosen])
        value = spearman(x[index], y[index])
        if not np.isnan(value):
            draws.append(value)
    low, high = (np.percentile(draws, [2.5, 97.5]) if draws else (float("nan"), float("nan")))
    return RankCorrelation(rho, float(low), float(high), len(steps), sum(s is None for s in steps))


def learning_steps_of(evaluation: Evaluation) -> dict[str, dict[str, int | None]]:
    """class label → {concept: learning step, 'joint': learning step} of one run (a sweep's cell), under the
    evaluation's criterion."""
    return {label: {name: step.step for name, step in per.items()}
            for label, per in class_learning_steps(evaluation).items()}
