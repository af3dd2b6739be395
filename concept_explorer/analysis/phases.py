"""The phases of a run, read off its stored evaluation and capability curves (pure, no sampling).

1. training classes learned: every training class reaches the joint-accuracy threshold (learning-step rule);
2. concept memorisation: checkpoints where the held-out prompt mostly yields one training class;
3. hidden capability: the earliest step at which any elicitation method produces the held-out class;
4. generalisation: the step at which plain prompting does.
"""

from __future__ import annotations

from dataclasses import dataclass

from .capability import CapabilityCurves
from .definitions import LearningStep, Memorization, learning_step, memorization
from .evaluate import Evaluation


@dataclass(frozen=True)
class Phases:
    label: str  # the held-out class these phases describe
    training_learned: LearningStep
    memorization: Memorization
    hidden_capability: LearningStep
    hidden_method: str | None  # the family that revealed it first
    generalization: LearningStep

    def jump_targets(self) -> dict[str, int]:
        """Named steps a viewer can jump to (only those that happened)."""
        targets = {}
        if self.training_learned.learned:
            targets["training classes learned"] = self.training_learned.step
        if self.memorization.window:
            targets["memorization"] = self.memorization.window[0]
        if self.hidden_capability.learned:
            targets["hidden capability"] = self.hidden_capability.step
        if self.generalization.learned:
            targets["generalization"] = self.generalization.step
        return targets


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
    """Phases of one held-out class (default: the first). Without curves there is no hidden-capability phase."""
    space = evaluation.space
    label = label or space.class_label(space.heldout_classes()[0])
    learned = class_learning_steps(evaluation, threshold, consecutive)
    training_labels = [space.class_label(c) for c in space.training_classes()]
    training_steps = [learned[t]["joint"].step for t in training_labels]
    training = LearningStep(None if None in training_steps else max(training_steps))
    c = evaluation.labels.index(label)
    memo = memorization([row[c] for row in evaluation.outcomes], evaluation.steps, training_labels)
    plain = learned[label]["joint"]
    hidden, method = LearningStep(None), None
    if curves is not None:
        plain = curves.learned["plain"]  # same sampler noise as the elicited methods, so the gap is like for like
        elicited = {f: s for f, s in curves.learned.items() if f != "plain" and s.learned}
        if elicited:
            method = min(elicited, key=lambda f: elicited[f].step)
            hidden = elicited[method]
    return Phases(label, training, memo, hidden, method, plain)
