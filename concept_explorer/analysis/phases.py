"""The phases of a run, read off its stored evaluation and capability curves (pure, no sampling).

1. training classes learned: every training class reaches the joint-accuracy threshold (learning-step rule);
2. concept memorisation: checkpoints where the held-out prompt mostly yields one training class (samples in
   between classes, or without an object, never count as one);
3. hidden capability: elicitation produces the held-out class while plain prompting does not. Two steps describe
   it: the first at which an elicitation method *learns* the class (the paper's gap, for tables), and the
   checkpoint where elicitation beats plain prompting by the most (where a viewer *sees* it best, the jump);
4. generalisation: the step at which plain prompting learns the held-out class.

Beside the phases, one moment: the sudden turn of the held-out trajectory from the memorised class toward its own
corner (turn.py), a jump target in time order like the phases.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .capability import CapabilityCurves
from .definitions import LearningStep, Memorization, learning_step, memorization, training_convergence
from .evaluate import Evaluation
from .turn import TurningPoint, turning_point

TRAINING, MEMORIZATION, HIDDEN, GENERALIZATION = (
    "training classes learned", "memorization", "hidden capability", "generalization")
PHASE_ORDER = (TRAINING, MEMORIZATION, HIDDEN, GENERALIZATION)
"""The phases in the order the paper tells them; on a real run their steps need not follow it."""
TURN = "sudden turn"
"""A moment rather than a phase (turn.py): a jump target, never what `Phases.phase_at` names."""

MIN_HIDDEN_GAP = 0.1
"""A hidden capability needs elicitation ahead of plain prompting by more than the ≈ ±0.06 noise that picking the
best of a strength grid adds at 64 samples (see capability.py)."""


@dataclass(frozen=True)
class HiddenCapabilityPeak:
    """The checkpoint where the best elicitation method beats plain prompting on the held-out class by the most."""

    step: int
    method: str  # the method key that won there, e.g. 'overprompt@2'
    plain_accuracy: float  # joint accuracy under plain prompting (same sampler noise as the method)
    elicited_accuracy: float

    @property
    def gap(self) -> float:
        return self.elicited_accuracy - self.plain_accuracy


@dataclass(frozen=True)
class Phases:
    label: str  # the held-out class these phases describe
    training_learned: LearningStep
    memorization: Memorization
    hidden_capability: LearningStep  # first step an elicitation method learns the class (the paper's gap)
    hidden_method: str | None  # the family that learned it first
    generalization: LearningStep
    hidden_capability_best: HiddenCapabilityPeak | None  # where the hidden capability shows best
    turning_point: TurningPoint | None = None  # the held-out trajectory's sudden turn, if it made one

    def jump_targets(self) -> dict[str, int]:
        """Named steps a viewer can jump to, in training order (ties in the paper's order, the turn between
        hidden capability and generalization); only phases that happened. Memorization jumps to the start of its
        window, hidden capability to its best checkpoint, the sudden turn to its checkpoint."""
        candidates = [
            (TRAINING, self.training_learned.step),
            (MEMORIZATION, self.memorization.window[0] if self.memorization.window else None),
            (HIDDEN, self.hidden_capability_best.step if self.hidden_capability_best else None),
            (TURN, self.turning_point.step if self.turning_point else None),
            (GENERALIZATION, self.generalization.step),
        ]
        return dict(sorted(((name, step) for name, step in candidates if step is not None), key=lambda c: c[1]))

    def phase_at(self, step: int) -> str | None:
        """The most specific phase active at `step`, i.e. the one that says most about the held-out prompt:
        generalization from its step on; else hidden capability from its jump step on; else memorization inside
        its window (first to last checkpoint mistaken for the same training class); else training classes learned
        from its step on; else None. Phases overlap on real runs (the held-out prompt can stay memorised while the
        training classes are learned and elicitation already works), so "the latest phase begun" would mislabel."""
        begun = {name for name, start in self.jump_targets().items() if start <= step}
        window = self.memorization.window
        if GENERALIZATION in begun:
            return GENERALIZATION
        if HIDDEN in begun:
            return HIDDEN
        if window and window[0] <= step <= window[1]:
            return MEMORIZATION
        return TRAINING if TRAINING in begun else None


def best_elicitation(curves: CapabilityCurves) -> tuple[np.ndarray, list[str]] | None:
    """Per checkpoint, the highest joint accuracy of any elicitation method (each family at its best strength)
    and the method key that reached it; None when the curves hold no elicitation method."""
    families = [f for f in curves.joint if f != "plain"]
    if not families:
        return None
    accuracy = np.stack([curves.joint[f] for f in families])  # (F, T)
    winners = accuracy.argmax(0)  # (T,), the first family on ties
    return accuracy.max(0), [curves.best_key[families[f]][t] for t, f in enumerate(winners)]


def hidden_capability_peak(
    curves: CapabilityCurves, before: int | None, min_gap: float = MIN_HIDDEN_GAP
) -> HiddenCapabilityPeak | None:
    """The checkpoint before `before` (the plain learning step; None = the whole run) where best elicitation −
    plain joint accuracy is largest (the earliest on ties), or None when that gap never exceeds `min_gap`."""
    best = best_elicitation(curves)
    if best is None or "plain" not in curves.joint:
        return None
    elicited, methods = best
    plain = curves.joint["plain"]
    candidates = [t for t, step in enumerate(curves.steps) if before is None or step < before]
    if not candidates:
        return None
    t = max(candidates, key=lambda i: elicited[i] - plain[i])
    if elicited[t] - plain[t] <= min_gap:
        return None
    return HiddenCapabilityPeak(curves.steps[t], methods[t], float(plain[t]), float(elicited[t]))


def class_learning_steps(
    evaluation: Evaluation, threshold: float = 0.8, consecutive: int = 3
) -> dict[str, dict[str, LearningStep]]:
    """class label → {concept name: learning step, ..., 'joint': learning step}."""
    result = {}
    for c, label in enumerate(evaluation.labels):
        per_concept = {
            concept: learning_step(evaluation.concept_accuracy[:, c, k], evaluation.steps, threshold, consecutive)
            for k, concept in enumerate(evaluation.space.concepts)
        }
        per_concept["joint"] = learning_step(evaluation.joint_accuracy[:, c], evaluation.steps, threshold, consecutive)
        result[label] = per_concept
    return result


def find_phases(
    evaluation: Evaluation, curves: CapabilityCurves | None, label: str | None = None, threshold: float = 0.8,
    consecutive: int = 3,
) -> Phases:
    """Phases of one held-out class (default: the first), under the evaluation's criterion (the curves must be read
    under the same one). Without curves there is no hidden-capability phase. The turning point is read off the
    class's mean positions, which are the same under either criterion, but from the memorised class, which is not."""
    if curves is not None and curves.criterion != evaluation.criterion:
        raise ValueError(f"The capability curves are read under the {curves.criterion} criterion, the evaluation "
                         f"under the {evaluation.criterion} one; read both under one criterion.")
    space = evaluation.space
    label = label or space.class_label(space.heldout_classes()[0])
    learned = class_learning_steps(evaluation, threshold, consecutive)
    training_labels = [space.class_label(c) for c in space.training_classes()]
    training = training_convergence([learned[t]["joint"] for t in training_labels])
    c = evaluation.labels.index(label)
    memo = memorization([row[c] for row in evaluation.outcomes], evaluation.steps, training_labels)
    plain = learned[label]["joint"]
    hidden, method, peak = LearningStep(None), None, None
    if curves is not None:
        plain = curves.learned["plain"]  # same sampler noise as the elicited methods, so the gap is like for like
        method, hidden = curves.earliest_elicited()
        peak = hidden_capability_peak(curves, plain.step)
    memorized = space.parse_class(memo.mistaken_for) if memo.mistaken_for else None
    turn = turning_point(evaluation.coordinates[:, c], evaluation.steps, memorized, space.parse_class(label))
    return Phases(label, training, memo, hidden, method, plain, peak, turn)
