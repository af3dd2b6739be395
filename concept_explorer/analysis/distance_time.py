"""Distance against time in a concept space of three or more concepts (reference §4.6): a held-out class that
still sits far from its own corner when training converges is learned later.

Definitions, stated once here (pure functions, no files):
- Hamming distance of a class: how many bits it differs in from the nearest training class. Training classes have
  at most one bit set, so in the 2x2x2 task 011, 101 and 110 are 1 away and 111 is 2 away.
- training convergence: `definitions.training_convergence`, the step from which every training class is learned
  (the project's learning step of joint accuracy). The authors' notebook instead waits for every training class's
  mean position to lie within 0.034 of its corner; the learning step is the rule every other figure here uses.
- distance at convergence: the Euclidean distance in concept space between a class's mean position at the
  convergence checkpoint and its target corner (its bit code); NaN when the class drew no object there, and for
  every class when training never converged within the run.
- the relation: Spearman's ρ between distance at convergence and learning step over the held-out classes that
  are learned and have a distance. A class never learned is reported as such and left out of ρ: it has no step,
  and this is a within-run ordering of a handful of classes, not the across-run speed ranking of `across.py`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..core.concepts import ConceptSpace
from .across import spearman
from .capability import capability_curves
from .definitions import DEFAULT_CRITERION, LearningStep

MIN_POINTS = 3
"""ρ needs at least this many learned classes: with two, any ordering gives ±1 and says nothing."""


def hamming_to_training(code: Sequence[int], training: Sequence[Sequence[int]]) -> int:
    """How many bits `code` differs in from the nearest training class."""
    return min(sum(a != b for a, b in zip(code, other)) for other in training)


@dataclass(frozen=True)
class ClassTiming:
    """One held-out class: how far from the training classes it lies, when it was learned, and how far its position
    was from its corner when training converged."""

    label: str
    hamming: int
    learning: LearningStep
    distance: float  # NaN: unknown (no object drawn there, or training never converged)


@dataclass(frozen=True)
class DistanceTime:
    convergence: LearningStep  # when every training class is learned
    classes: list[ClassTiming]  # the held-out classes, in class order
    rho: float  # Spearman ρ of distance vs learning step; NaN with fewer than MIN_POINTS classes in it
    points: int  # classes in ρ: learned, with a distance

    @property
    def censored(self) -> list[ClassTiming]:
        """The held-out classes never learned within the run."""
        return [c for c in self.classes if not c.learning.learned]


def distance_time(
    coordinates: np.ndarray, steps: Sequence[int], codes: Sequence[Sequence[int]],
    learning: Mapping[str, LearningStep], convergence: LearningStep,
) -> DistanceTime:
    """coordinates: (T, C, K) mean position per checkpoint, class and concept; codes: (C,) each class's bit code
    in the same order; learning: class label → its learning step. Classes with at most one bit set are the
    training classes, the others the held-out ones reported."""
    coordinates = np.asarray(coordinates, dtype=float)
    if coordinates.shape[:2] != (len(steps), len(codes)):
        raise ValueError(f"coordinates must be (T={len(steps)}, C={len(codes)}, K), got {coordinates.shape}.")
    training = [code for code in codes if sum(code) <= 1]
    at = list(steps).index(convergence.step) if convergence.learned else None
    classes = []
    for c, code in enumerate(codes):
        if sum(code) <= 1:
            continue
        label = ConceptSpace.class_label(tuple(code))
        distance = math.nan if at is None else float(np.linalg.norm(coordinates[at, c] - np.asarray(code)))
        classes.append(ClassTiming(label, hamming_to_training(code, training), learning[label], distance))
    ranked = [c for c in classes if c.learning.learned and math.isfinite(c.distance)]
    rho = (spearman(np.array([c.distance for c in ranked]), np.array([c.learning.step for c in ranked]))
           if len(ranked) >= MIN_POINTS else math.nan)
    return DistanceTime(convergence, classes, rho, len(ranked))


def elicited_learning(summary: dict, labels: Sequence[str], criterion: str = DEFAULT_CRITERION) -> dict[str, LearningStep]:
    """Each held-out class's learning step under its best elicitation: the earliest learning step of any
    elicitation family (capability.capability_curves; each family at its best strength per checkpoint), read from
    an elicitation summary. The distance-vs-time relation under elicitation, for runs too short for plain prompting
    to learn their held-out classes (the cpu3 preset's: README, "Three concepts")."""
    return {label: capability_curves(summary, label, criterion=criterion).earliest_elicited()[1] for label in labels}
