"""The phases' story rules on hand-made phases and capability curves: jump targets in time order, the phase named
at a step, and the checkpoint where the hidden capability shows best."""

from __future__ import annotations

import numpy as np
import pytest

from concept_explorer.analysis.capability import CapabilityCurves
from concept_explorer.analysis.definitions import LearningStep, Memorization
from concept_explorer.analysis.phases import (
    GENERALIZATION,
    HIDDEN,
    MEMORIZATION,
    TRAINING,
    TURN,
    HiddenCapabilityPeak,
    Phases,
    best_elicitation,
    find_phases,
    hidden_capability_peak,
)
from concept_explorer.analysis.turn import TurningPoint
from concept_explorer.core.config import cpu_preset

STEPS = [100, 200, 300, 400, 500, 600, 700]


def phases(training: int | None = 400, window: tuple[int, int] | None = (200, 600), peak: int | None = 500,
           generalization: int | None = 700, turn: int | None = None) -> Phases:
    """Like the bundled run: memorization starts before the training classes are all learned, and the held-out
    prompt is still memorised when elicitation already works."""
    best = HiddenCapabilityPeak(peak, "intervention@1", 0.1, 0.6) if peak else None
    memo = Memorization(list(range(window[0], window[1] + 1, 100)) if window else [], "01" if window else None, window)
    turning = TurningPoint(turn, (0.1, 0.9), 0.5, 0.8) if turn else None
    return Phases("11", LearningStep(training), memo, LearningStep(600), "intervention", LearningStep(generalization),
                  best, turning)


def curves(plain: list[float], **elicited: tuple[list[float], list[str]]) -> CapabilityCurves:
    joint = {"plain": np.array(plain)} | {f: np.array(values) for f, (values, _) in elicited.items()}
    best_key = {"plain": ["plain"] * len(plain)} | {f: keys for f, (_, keys) in elicited.items()}
    return CapabilityCurves("11", STEPS[:len(plain)], joint, {}, best_key, {}, {})


def test_jump_targets_follow_training_time_not_the_papers_order() -> None:
    targets = phases().jump_targets()
    assert list(targets.items()) == [(MEMORIZATION, 200), (TRAINING, 400), (HIDDEN, 500), (GENERALIZATION, 700)]
    tie = phases(training=200).jump_targets()
    assert list(tie)[:2] == [TRAINING, MEMORIZATION]  # same step: the paper's order
    assert list(phases(peak=None, generalization=None).jump_targets()) == [MEMORIZATION, TRAINING]


def test_jump_to_hidden_capability_uses_the_best_checkpoint_not_the_first_learned_step() -> None:
    story = phases(peak=300)
    assert story.hidden_capability == LearningStep(600)  # first learned, kept for tables
    assert story.jump_targets()[HIDDEN] == 300


def test_the_sudden_turn_is_a_jump_target_in_time_order_but_never_the_phase_named() -> None:
    story = phases(turn=600)
    assert list(story.jump_targets().items()) == [(MEMORIZATION, 200), (TRAINING, 400), (HIDDEN, 500), (TURN, 600),
                                                  (GENERALIZATION, 700)]
    assert list(phases(peak=None, turn=400).jump_targets()) == [MEMORIZATION, TRAINING, TURN, GENERALIZATION]
    assert list(phases(turn=500).jump_targets())[2:4] == [HIDDEN, TURN]  # a tie: after hidden capability
    assert TURN not in phases().jump_targets()
    assert [story.phase_at(s) for s in (500, 600, 700)] == [HIDDEN, HIDDEN, GENERALIZATION]


@pytest.mark.parametrize("step, expected", [
    (100, None),
    (200, MEMORIZATION),
    (400, MEMORIZATION),  # training classes learned, but the held-out prompt is still memorised: more specific
    (500, HIDDEN),  # still inside the memorization window, but elicitation already works
    (600, HIDDEN),
    (700, GENERALIZATION),
    (5000, GENERALIZATION),
])
def test_phase_at_names_the_most_specific_phase(step: int, expected: str | None) -> None:
    assert phases().phase_at(step) == expected


def test_phase_at_falls_back_to_training_learned_outside_the_memorization_window() -> None:
    story = phases(window=(200, 300), peak=None, generalization=None)
    assert [story.phase_at(s) for s in (100, 300, 350, 400, 700)] == [None, MEMORIZATION, None, TRAINING, TRAINING]


def test_best_elicitation_takes_the_best_family_per_checkpoint() -> None:
    accuracy, methods = best_elicitation(curves(
        [0, 0, 0], overprompt=([0.2, 0.5, 0.9], ["overprompt@1"] * 3),
        intervention=([0.3, 0.5, 0.4], ["intervention@1", "intervention@2", "intervention@1"])))
    assert accuracy.tolist() == [0.3, 0.5, 0.9]
    assert methods == ["intervention@1", "overprompt@1", "overprompt@1"]  # a tie goes to the first family
    assert best_elicitation(curves([0, 0])) is None


def test_hidden_capability_peak_is_the_largest_lead_of_elicitation_over_plain() -> None:
    plain = [0.0, 0.05, 0.1, 0.5, 0.85, 0.9, 0.9]
    elicited = [0.0, 0.3, 0.6, 0.9, 1.0, 1.0, 1.0]  # learned (≥ 0.8) first at 400, but leads most at 300
    found = hidden_capability_peak(curves(plain, patch=(elicited, ["patch@final"] * 7)), before=500)
    assert found == HiddenCapabilityPeak(300, "patch@final", 0.1, 0.6)
    assert found.gap == pytest.approx(0.5)
    # Only checkpoints before plain prompting learns count: afterwards a lead is no longer hidden.
    late = curves([0.0, 0.0, 0.5, 0.9], overprompt=([0.05, 0.1, 1.0, 1.0], ["overprompt@1"] * 4))
    assert hidden_capability_peak(late, before=300) is None  # a 0.1 lead is within the noise of a best-of-grid
    assert hidden_capability_peak(late, before=None).step == 300  # without a plain learning step: the whole run
    assert hidden_capability_peak(late, before=100) is None
    tie = curves([0.0, 0.0, 0.0], overprompt=([0.5, 0.5, 0.2], ["overprompt@1"] * 3))
    assert hidden_capability_peak(tie, before=None).step == 100  # the earliest of equal leads


class FakeEvaluation:
    """What find_phases reads of an Evaluation: a held-out class (11) memorised as red-small (01) at steps 200-400,
    whose mean position heads for red-small's corner, then turns to its own at step 500."""

    criterion = "strict"
    space = cpu_preset().concept_space
    steps = [100 * (i + 1) for i in range(9)]
    labels = ["00", "01", "10", "11"]

    def __init__(self, heldout_path: list[tuple[float, float]]) -> None:
        T, C, K = len(self.steps), len(self.labels), 2
        self.coordinates = np.full((T, C, K), 0.5)  # (T, C, K)
        self.coordinates[:, 3] = heldout_path
        self.concept_accuracy = np.zeros((T, C, K))
        self.joint_accuracy = np.zeros((T, C))
        memorised = [{"01": 1.0} if 200 <= step <= 400 else {"none": 1.0} for step in self.steps]
        self.outcomes = [[{}, {}, {}, outcome] for outcome in memorised]


def test_find_phases_turns_toward_the_target_after_the_memorised_class() -> None:
    turning = [(0.5, 0.5), (0.3, 0.7), (0.15, 0.85), (0.05, 0.95), (0.02, 0.98), (0.2, 1.0), (0.5, 1.0), (0.8, 1.0),
               (0.95, 1.0)]
    found = find_phases(FakeEvaluation(turning), None)
    assert found.memorization.mistaken_for == "01"
    assert found.turning_point is not None and abs(found.turning_point.step - 500) <= 100
    assert found.jump_targets()[TURN] == found.turning_point.step
    straight = [(0.5 + 0.06 * i, 0.5 + 0.06 * i) for i in range(9)]  # never near red-small: no turn
    assert find_phases(FakeEvaluation(straight), None).turning_point is None
