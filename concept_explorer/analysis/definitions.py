"""Concept-space analysis: pure functions over probe verdicts (no models, no files).

Definitions, each stated once here and used everywhere:
- position of a sample on a concept: where the probe places the attribute it sees along the concept's axis,
  calibrated with the run's concept space: 0 at level 0's class mean (red, large, light, circle), 1 at level 1's
  (blue, small, dark, triangle); a purple circle half-way between red and blue sits at ≈ 0.5, and values leave
  [0, 1] when an attribute overshoots a class mean.
- level of a sample on a concept, under one of two criteria (`CRITERIA`):
  "strict" (the default): level 0 iff position ≤ w_k + TOLERANCE, level 1 iff position ≥ 1 − w_k − TOLERANCE,
  else "in between" (-1); w_k is the half-width of the training class range in position units;
  "lenient": the midpoint rule, level 1 iff position > 0.5 (never in between).
- outcome of a sample: "none" when the probe sees no object (P(present) < 0.5); else "between" when any concept
  is in between; else the class label of its levels. Neither "none" nor "between" is ever counted as a class.
- per-concept accuracy: fraction of samples with an object whose level for that concept is right.
- joint accuracy: mean over samples of the per-sample product of those 0/1 verdicts (and presence), i.e. the
  fraction of samples that are fully right — the stricter of the authors' two variants (reference §9.7).
- concept-space coordinates: mean position of each concept over the samples that show an object (NaN if none),
  so (x, y) = (colour position, size position) in the 2x2 task; they do not depend on the criterion.
- learning step: first checkpoint from which the accuracy stays ≥ threshold for k consecutive checkpoints;
  runs that never get there are "not learned" (censored), never a made-up step (§9.8).
- training convergence: the latest joint learning step of the training classes (every one of them learned),
  censored when any is not learned.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..core.concepts import ConceptSpace

NONE = "none"
BETWEEN = "between"
"""The outcome of a sample that shows an object with some concept in between its two levels (strict only)."""

CRITERIA = ("strict", "lenient")
DEFAULT_CRITERION = "strict"

TOLERANCE = 0.05
"""How far (in position units) past its training class range a position may lie and still count as the level.
It absorbs the probe's own reading error (on cpu-preset renders a mean absolute error of 0.02 on colour and 0.01
on size, biases under 0.03: `calibration_error`), so that a sample drawn at the edge of its class range is not
called "in between"; it is small next to the gap between the two ranges (3/4 of the axis for colour, 1/4 for
size), so a half-way colour or size never counts as either level."""


def check_criterion(criterion: str) -> str:
    if criterion not in CRITERIA:
        raise ValueError(f"Unknown criterion {criterion!r}; choose from {list(CRITERIA)}.")
    return criterion


def class_half_widths(space: ConceptSpace) -> np.ndarray:
    """(K,) w_k: half-width of each concept's training class range in position units. Per-channel colour and
    background jitter of ±w project to ±w on the probe's scalars ((B − R)/2 and the grey level average the
    channels), and position units divide by Δ, so colour and background give 1/8, size 3/8, shape 0."""
    return np.array([space.level_half_width(c) / getattr(space, f"delta_{c}", 1.0) for c in space.concepts])


def levels(position: np.ndarray, space: ConceptSpace, criterion: str = DEFAULT_CRITERION) -> np.ndarray:
    """(N, K) ints: the level of each sample on each concept, 0 or 1, or -1 for in between (strict only).
    position: (N, K) calibrated positions."""
    position = np.asarray(position, dtype=float)
    if check_criterion(criterion) == "lenient":
        return (position > 0.5).astype(int)
    reach = class_half_widths(space)[None, :] + TOLERANCE  # (1, K)
    return np.where(position <= reach, 0, np.where(position >= 1 - reach, 1, -1))


@dataclass(frozen=True)
class Verdicts:
    """One class at one checkpoint under one criterion."""

    concept_accuracy: list[float]  # per concept
    joint_accuracy: float
    outcomes: dict[str, float]  # class label, "between" or "none" → fraction of samples

    def to_dict(self) -> dict:
        return {"concept_accuracy": self.concept_accuracy, "joint_accuracy": self.joint_accuracy,
                "outcomes": self.outcomes}


@dataclass(frozen=True)
class ClassSummary:
    """One class at one checkpoint: where its samples sit (criterion-free) and the verdicts under each criterion.

    Stored as {"coordinates": [...], "presence": p, "criteria": {criterion: {"concept_accuracy": [...],
    "joint_accuracy": j, "outcomes": {...}}}}."""

    coordinates: list[float]  # per concept: mean position over samples with an object (NaN if none)
    presence: float  # fraction of samples with an object
    criteria: dict[str, Verdicts]  # criterion → verdicts, for every criterion in CRITERIA

    def under(self, criterion: str = DEFAULT_CRITERION) -> Verdicts:
        return self.criteria[check_criterion(criterion)]

    def to_dict(self) -> dict:
        return {
            "coordinates": [None if math.isnan(c) else c for c in self.coordinates], "presence": self.presence,
            "criteria": {name: verdicts.to_dict() for name, verdicts in self.criteria.items()},
        }


def sample_outcomes(
    position: np.ndarray, p_present: np.ndarray, space: ConceptSpace, criterion: str = DEFAULT_CRITERION
) -> list[str]:
    """Per sample: 'none' without an object, 'between' when a concept is in between, else the class label ('01')."""
    bits = levels(position, space, criterion)
    return [NONE if present < 0.5 else BETWEEN if (row < 0).any() else "".join(map(str, row))
            for row, present in zip(bits, p_present)]


def correctness(
    position: np.ndarray, p_present: np.ndarray, code: tuple[int, ...], space: ConceptSpace,
    criterion: str = DEFAULT_CRITERION,
) -> np.ndarray:
    """(N, K) 0/1: the sample shows an object and concept k is at the target level (in between is never right)."""
    right = levels(position, space, criterion) == np.asarray(code)[None, :]
    return (right & (np.asarray(p_present)[:, None] >= 0.5)).astype(float)


def summarize_class(
    position: np.ndarray, p_present: np.ndarray, code: tuple[int, ...], space: ConceptSpace
) -> ClassSummary:
    """position: (N, K) calibrated positions; p_present: (N,); code: the class the samples were prompted as."""
    position, present = np.asarray(position, dtype=float), np.asarray(p_present) >= 0.5
    coordinates = position[present].mean(0).tolist() if present.any() else [math.nan] * position.shape[1]
    criteria = {}
    for criterion in CRITERIA:
        verdicts = correctness(position, p_present, code, space, criterion)
        outcomes = sample_outcomes(position, p_present, space, criterion)
        criteria[criterion] = Verdicts(
            concept_accuracy=verdicts.mean(0).tolist(), joint_accuracy=float(verdicts.prod(1).mean()),
            outcomes={label: outcomes.count(label) / len(outcomes) for label in sorted(set(outcomes))},
        )
    return ClassSummary(coordinates=coordinates, presence=float(present.mean()), criteria=criteria)


def smooth(series: np.ndarray, sigma: float) -> np.ndarray:
    """NaN-aware Gaussian smoothing over checkpoints (axis 0); sigma in checkpoints, 0 = none (below 0.01 the
    neighbours' weights underflow to 0 anyway, and squaring 1/sigma could overflow)."""
    series = np.asarray(series, dtype=float)
    if sigma < 0.01 or series.shape[0] < 2:
        return series.copy()
    index = np.arange(series.shape[0])
    weights = np.exp(-0.5 * ((index[:, None] - index[None, :]) / sigma) ** 2)  # (T, T)
    valid = ~np.isnan(series)
    values = np.where(valid, series, 0.0)
    if series.ndim == 1:
        num, den = weights @ values, weights @ valid
    else:
        num, den = np.einsum("ts,s...->t...", weights, values), np.einsum("ts,s...->t...", weights, valid)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


@dataclass(frozen=True)
class LearningStep:
    step: int | None  # None = not learned within the run (censored)

    @property
    def learned(self) -> bool:
        return self.step is not None

    def __str__(self) -> str:
        return f"{self.step}" if self.learned else "not learned"


def learning_step(
    accuracy: np.ndarray, steps: list[int], threshold: float = 0.8, consecutive: int = 3, sigma: float = 0.0
) -> LearningStep:
    """First checkpoint step from which `accuracy` (optionally smoothed) is ≥ threshold at `consecutive`
    checkpoints in a row. A run ending inside a qualifying streak shorter than `consecutive` counts only if the
    streak reaches the last checkpoint and covers every remaining one (so a short run is not unfairly censored)."""
    if len(accuracy) != len(steps):
        raise ValueError("accuracy and steps must have the same length.")
    if not 0 < threshold <= 1 or consecutive < 1:
        raise ValueError("threshold must be in (0, 1] and consecutive >= 1.")
    values = smooth(np.asarray(accuracy, dtype=float), sigma)
    above = np.nan_to_num(values, nan=0.0) >= threshold
    for i in range(len(steps)):
        window = above[i:i + consecutive]
        if window.all() and (len(window) == consecutive or i + len(window) == len(steps)):
            return LearningStep(steps[i])
    return LearningStep(None)


def training_convergence(training: list[LearningStep]) -> LearningStep:
    """The step training has converged: the latest learning step of the training classes, i.e. the first
    checkpoint from which every one of them is learned; censored when any of them never is (then there is no such
    step, not the run's end)."""
    if not training or any(not s.learned for s in training):
        return LearningStep(None)
    return LearningStep(max(s.step for s in training))


@dataclass(frozen=True)
class Memorization:
    """Checkpoints at which the held-out prompt mostly produced a training class."""

    steps: list[int]  # every checkpoint where the held-out generations were mostly one training class
    mistaken_for: str | None  # the training class seen most often in those checkpoints
    window: tuple[int, int] | None  # first and last step at which `mistaken_for` had the majority

    def to_dict(self) -> dict:
        return {"steps": self.steps, "mistaken_for": self.mistaken_for,
                "window": list(self.window) if self.window else None}


def memorization(
    outcome_series: list[dict[str, float]], steps: list[int], training_labels: list[str], majority: float = 0.5
) -> Memorization:
    """outcome_series: per checkpoint, the held-out class's outcome fractions. A checkpoint is a memorisation
    checkpoint when one training class takes at least `majority` of the samples; empty images ("none") and
    samples in between classes ("between") never count as a training class, but they do count in the total."""
    assert NONE not in training_labels and BETWEEN not in training_labels
    hits, classes = [], []
    for step, outcomes in zip(steps, outcome_series):
        best = max(training_labels, key=lambda label: outcomes.get(label, 0.0))
        if outcomes.get(best, 0.0) >= majority:
            hits.append(step)
            classes.append(best)
    if not hits:
        return Memorization([], None, None)
    mistaken = max(set(classes), key=classes.count)
    # The window follows the class it was mistaken for most often: an early checkpoint that defaults to another
    # training class (before any concept is learned) is a different story from the concept detour.
    window = [step for step, label in zip(hits, classes) if label == mistaken]
    return Memorization(hits, mistaken, (window[0], window[-1]))


def hidden_capability_gap(plain: LearningStep, elicited: LearningStep) -> int | None:
    """Plain learning step − elicited learning step: how many steps earlier elicitation reveals the class.
    None when either is censored (then the gap is unknown, not zero)."""
    if plain.step is None or elicited.step is None:
        return None
    return plain.step - elicited.step
