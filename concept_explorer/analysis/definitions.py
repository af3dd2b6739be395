"""Concept-space analysis: pure functions over probe verdicts (no models, no files).

Definitions, each stated once here and used everywhere:
- outcome of a sample: "none" when the probe sees no object (P(present) < 0.5), else the class whose bits are
  the argmax level of every concept. "No object" is never counted as a class.
- per-concept accuracy: fraction of samples with an object whose level for that concept is right.
- joint accuracy: mean over samples of the per-sample product of those 0/1 verdicts (and presence), i.e. the
  fraction of samples that are fully right — the stricter of the authors' two variants (reference §9.7).
- concept-space coordinates: mean P(level 1) of each concept over the samples that show an object (NaN if none),
  so (x, y) = (P(blue), P(small)) in the 2x2 task.
- learning step: first checkpoint from which the accuracy stays ≥ threshold for k consecutive checkpoints;
  runs that never get there are "not learned" (censored), never a made-up step (§9.8).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

NONE = "none"


@dataclass(frozen=True)
class ClassSummary:
    """One class at one checkpoint."""

    coordinates: list[float]  # per concept: mean P(level 1) over samples with an object (NaN if none)
    presence: float  # fraction of samples with an object
    concept_accuracy: list[float]  # per concept
    joint_accuracy: float
    outcomes: dict[str, float]  # class label or "none" → fraction of samples

    def to_dict(self) -> dict:
        return {
            "coordinates": [None if math.isnan(c) else c for c in self.coordinates],
            "presence": self.presence, "concept_accuracy": self.concept_accuracy,
            "joint_accuracy": self.joint_accuracy, "outcomes": self.outcomes,
        }


def sample_outcomes(p_level1: np.ndarray, p_present: np.ndarray) -> list[str]:
    """Per sample: the class label ('01', …) read off the argmax levels, or 'none'."""
    bits = (p_level1 > 0.5).astype(int)
    return [NONE if present < 0.5 else "".join(map(str, row)) for row, present in zip(bits, p_present)]


def correctness(p_level1: np.ndarray, p_present: np.ndarray, code: tuple[int, ...]) -> np.ndarray:
    """(N, K) 0/1: the sample shows an object and concept k is at the target level."""
    right = (p_level1 > 0.5).astype(int) == np.asarray(code)[None, :]
    return (right & (p_present[:, None] >= 0.5)).astype(float)


def summarize_class(p_level1: np.ndarray, p_present: np.ndarray, code: tuple[int, ...]) -> ClassSummary:
    """p_level1: (N, K) probabilities; p_present: (N,); code: the class the samples were prompted as."""
    present = p_present >= 0.5
    coordinates = p_level1[present].mean(0).tolist() if present.any() else [math.nan] * p_level1.shape[1]
    verdicts = correctness(p_level1, p_present, code)
    outcomes = sample_outcomes(p_level1, p_present)
    labels = sorted(set(outcomes))
    return ClassSummary(
        coordinates=coordinates,
        presence=float(present.mean()),
        concept_accuracy=verdicts.mean(0).tolist(),
        joint_accuracy=float(verdicts.prod(1).mean()),
        outcomes={label: outcomes.count(label) / len(outcomes) for label in labels},
    )


def smooth(series: np.ndarray, sigma: float) -> np.ndarray:
    """NaN-aware Gaussian smoothing over checkpoints (axis 0); sigma in checkpoints, 0 = none."""
    series = np.asarray(series, dtype=float)
    if sigma <= 0 or series.shape[0] < 2:
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
    checkpoint when one training class takes at least `majority` of the samples (empty images never count)."""
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
