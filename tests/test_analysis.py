"""Analysis functions on hand-made probe verdicts and trajectories (no models)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from concept_explorer.analysis.capability import capability_curves
from concept_explorer.analysis.definitions import (
    BETWEEN,
    CRITERIA,
    TOLERANCE,
    LearningStep,
    class_half_widths,
    hidden_capability_gap,
    learning_step,
    levels,
    memorization,
    smooth,
    summarize_class,
)
from concept_explorer.analysis.evaluate import Evaluation
from concept_explorer.analysis.phases import HiddenCapabilityPeak, find_phases
from concept_explorer.core.concepts import ConceptSpace
from concept_explorer.core.config import with_overrides
from concept_explorer.core.run import Run, RunFolderError

SPACE = ConceptSpace()  # colour and size, Δc = Δs = 0.4: strict reaches 1/8 + 0.05 (colour), 3/8 + 0.05 (size)


def test_class_half_widths_are_position_units_of_the_training_ranges() -> None:
    assert class_half_widths(SPACE).tolist() == pytest.approx([1 / 8, 3 / 8])
    assert class_half_widths(ConceptSpace(delta_color=0.2, delta_size=0.1)).tolist() == pytest.approx([1 / 8, 3 / 8])
    assert class_half_widths(ConceptSpace(concepts=("shape", "color", "bg"))).tolist() == pytest.approx(
        [0, 1 / 8, 1 / 8])


def test_strict_levels_are_three_way_and_lenient_ones_the_midpoint() -> None:
    colour_reach, size_reach = 1 / 8 + TOLERANCE, 3 / 8 + TOLERANCE
    position = np.array([
        [0.0, 1.0],  # the class means of red-small
        [colour_reach - 1e-9, 1 - size_reach + 1e-9],  # the edges of the strict ranges still count
        [colour_reach + 0.01, 1 - size_reach - 0.01],  # just past them: in between
        [0.55, 0.45],  # purple, medium
        [-0.3, 1.3],  # past the class means
    ])
    assert levels(position, SPACE, "strict").tolist() == [[0, 1], [0, 1], [-1, -1], [-1, -1], [0, 1]]
    assert levels(position, SPACE, "lenient").tolist() == [[0, 1], [0, 1], [0, 1], [1, 0], [0, 1]]
    with pytest.raises(ValueError, match="Unknown criterion"):
        levels(position, SPACE, "midpoint")


def test_summary_counts_empty_images_as_their_own_outcome() -> None:
    position = np.array([[0.95, 0.9], [0.8, 0.2], [0.1, 0.95], [0.1, 0.95]])
    p_present = np.array([1.0, 1.0, 1.0, 0.1])  # the last sample shows no object
    summary = summarize_class(position, p_present, (1, 1), SPACE)
    assert summary.presence == 0.75
    # Coordinates average only samples with an object, and do not depend on the criterion.
    assert summary.coordinates == pytest.approx([(0.95 + 0.8 + 0.1) / 3, (0.9 + 0.2 + 0.95) / 3])
    lenient = summary.under("lenient")
    assert lenient.outcomes == {"11": 0.25, "10": 0.25, "01": 0.25, "none": 0.25}
    # The empty sample is wrong on every concept even though its positions say "blue-small".
    assert lenient.concept_accuracy == [0.5, 0.5]
    assert lenient.joint_accuracy == 0.25  # mean of per-sample products: only the first sample is fully right
    # Strictly, a colour at 0.8 is not yet blue (blue's training range starts at 7/8): in between, never right.
    strict = summary.under("strict")
    assert strict.outcomes == {"11": 0.25, BETWEEN: 0.25, "01": 0.25, "none": 0.25}
    assert strict.concept_accuracy == [0.25, 0.5] and strict.joint_accuracy == 0.25
    stored = summary.to_dict()
    assert set(stored) == {"coordinates", "presence", "criteria"} and set(stored["criteria"]) == set(CRITERIA)
    assert stored["criteria"]["strict"] == {"concept_accuracy": [0.25, 0.5], "joint_accuracy": 0.25,
                                            "outcomes": strict.outcomes}


def test_summary_of_only_empty_images_has_no_coordinates() -> None:
    summary = summarize_class(np.full((3, 2), 0.9), np.zeros(3), (1, 1), SPACE)
    assert all(math.isnan(c) for c in summary.coordinates)
    assert summary.under("strict").joint_accuracy == 0.0 and summary.under("lenient").joint_accuracy == 0.0
    assert summary.to_dict()["coordinates"] == [None, None]


def test_learning_step_needs_consecutive_checkpoints() -> None:
    steps = [100, 200, 300, 400, 500, 600]
    accuracy = np.array([0.1, 0.85, 0.5, 0.9, 0.95, 0.9])
    assert learning_step(accuracy, steps, threshold=0.8, consecutive=3) == LearningStep(400)
    assert learning_step(accuracy, steps, threshold=0.8, consecutive=1) == LearningStep(200)
    assert learning_step(accuracy, steps, threshold=0.96, consecutive=1) == LearningStep(None)
    assert str(LearningStep(None)) == "not learned"


def test_learning_step_is_censored_not_invented() -> None:
    steps = [1, 2, 3, 4]
    never = learning_step(np.array([0.1, 0.2, 0.79, 0.7]), steps)
    assert not never.learned and never.step is None
    assert hidden_capability_gap(never, LearningStep(2)) is None
    # A streak that runs to the end of the run counts, even if shorter than `consecutive`.
    assert learning_step(np.array([0.1, 0.2, 0.9, 0.9]), steps, consecutive=3) == LearningStep(3)


def test_learning_step_validates_inputs() -> None:
    with pytest.raises(ValueError, match="same length"):
        learning_step(np.ones(3), [1, 2])
    with pytest.raises(ValueError, match="threshold"):
        learning_step(np.ones(2), [1, 2], threshold=1.5)


def test_smoothing_is_nan_aware_and_keeps_constants() -> None:
    series = np.array([0.5, np.nan, 0.5, 0.5])
    assert np.allclose(smooth(series, 1.0), 0.5)
    spike = np.array([0.0, 0.0, 1.0, 0.0, 0.0])
    smoothed = smooth(spike, 1.0)
    assert smoothed[2] < 1.0 and smoothed[1] > 0.0 and np.isclose(smoothed[1], smoothed[3])
    assert np.array_equal(smooth(spike, 0.0), spike)
    two_d = smooth(np.stack([spike, spike], axis=1), 1.0)
    assert np.allclose(two_d[:, 0], smoothed)
    # Smoothing can delay a learning step past a one-checkpoint blip.
    steps = [1, 2, 3, 4, 5]
    assert learning_step(spike, steps, threshold=0.8, consecutive=1) == LearningStep(3)
    assert not learning_step(spike, steps, threshold=0.8, consecutive=1, sigma=1.0).learned


def test_memorization_window_and_mistaken_class() -> None:
    steps = [100, 200, 300, 400, 500]
    outcomes = [
        {"00": 0.4, "10": 0.4, "11": 0.2},
        {"01": 0.7, "11": 0.3},
        {"01": 0.55, "11": 0.45},
        {"none": 0.9, "11": 0.1},  # empty images are never a memorised class
        {"11": 0.9, "01": 0.1},
    ]
    memo = memorization(outcomes, steps, ["00", "01", "10"])
    assert memo.steps == [200, 300]
    assert memo.window == (200, 300)
    assert memo.mistaken_for == "01"
    assert memorization(outcomes[-1:], steps[-1:], ["00", "01", "10"]).window is None
    # An early default to another class counts as a hit but does not stretch the window of the main detour.
    early = [{"00": 0.6, "11": 0.4}] + outcomes
    memo = memorization(early, [50] + steps, ["00", "01", "10"])
    assert memo.steps == [50, 200, 300] and memo.mistaken_for == "01" and memo.window == (200, 300)
    # Samples in between classes are never a training class, however many there are.
    assert memorization([{BETWEEN: 0.7, "01": 0.3}], [100], ["00", "01", "10"]).steps == []


def row(joint: float, outcomes: dict, concept: list[float] | None = None,
        lenient: tuple[float, dict] | None = None) -> dict:
    """A stored class summary with these verdicts under the strict criterion (and `lenient`, default the same)."""
    concept = concept or [joint, joint]
    lenient_joint, lenient_outcomes = lenient or (joint, outcomes)
    return {"coordinates": concept, "presence": 1.0, "criteria": {
        "strict": {"concept_accuracy": concept, "joint_accuracy": joint, "outcomes": outcomes},
        "lenient": {"concept_accuracy": [lenient_joint] * 2, "joint_accuracy": lenient_joint,
                    "outcomes": lenient_outcomes}}}


def _write_fake_run(tmp_path, tiny) -> Run:
    """A run folder holding hand-made evaluation and elicitation summaries with known phases. Under the lenient
    criterion the held-out class is right from step 300 (its in-between samples there count as blue-small)."""
    steps = [100, 200, 300, 400, 500, 600, 700]
    run = Run.create(tmp_path / "fake", with_overrides(tiny, {"train.num_steps": 700,
                                                              "train.checkpoint_steps": tuple(steps)}))
    heldout_joint = [0.0, 0.0, 0.1, 0.3, 0.9, 0.9, 0.95]
    heldout_lenient = [0.0, 0.0, 0.85, 0.9, 0.9, 0.9, 0.95]
    elicited_joint = [0.0, 0.2, 0.85, 0.9, 0.9, 0.95, 0.95]
    training_joint = [0.2, 0.9, 0.9, 0.95, 1.0, 1.0, 1.0]
    mistaken = [0.1, 0.8, 0.7, 0.5, 0.05, 0.0, 0.0]

    per_step, elicit = {}, {}
    for i, step in enumerate(steps):
        between = 1 - mistaken[i] - heldout_joint[i]
        held = row(heldout_joint[i], {"01": mistaken[i], BETWEEN: between, "11": heldout_joint[i]},
                   lenient=(heldout_lenient[i], {"01": mistaken[i], "11": 1 - mistaken[i]}))
        per_step[str(step)] = {label: row(training_joint[i], {label: 1.0}) for label in ("00", "01", "10")}
        per_step[str(step)]["11"] = held
        elicit[str(step)] = {
            "plain": {"11": held},
            "overprompt@1": {"11": row(elicited_joint[i], {"11": 1.0})},
            "overprompt@2": {"11": row(elicited_joint[i] / 2, {"11": 1.0})},
        }
    (run.path / "evaluation").mkdir()
    (run.path / "evaluation" / "summary.json").write_text(json.dumps(
        {"format": 2, "settings": {"samples_per_class": 1}, "probe": {"calibration": {}}, "steps": steps,
         "per_step": per_step}))
    resolution = run.config.concept_space.resolution
    for step in steps:  # the readers check that every summarized checkpoint's samples are stored
        save_file({"images": torch.zeros(4, 3, resolution, resolution, dtype=torch.uint8),
                   "position": torch.zeros(4, 2), "p_present": torch.ones(4), "labels": torch.arange(4)},
                  run.layout.evaluation_samples(step))
    (run.path / "elicitation").mkdir()
    (run.path / "elicitation" / "summary.json").write_text(json.dumps(
        {"format": 2, "settings": {"samples": 64}, "probe": {}, "steps": steps, "per_step": elicit}))
    return run


def test_capability_curves_and_phases_from_stored_summaries(tmp_path, tiny) -> None:
    run = _write_fake_run(tmp_path, tiny)
    summary = json.loads((run.path / "elicitation" / "summary.json").read_text())
    curves = capability_curves(summary, "11")
    assert curves.criterion == "strict"
    assert curves.best_key["overprompt"][0] in ("overprompt@1", "overprompt@2")
    assert curves.best_key["overprompt"][2] == "overprompt@1"
    assert curves.learned["plain"] == LearningStep(500)
    assert curves.learned["overprompt"] == LearningStep(300)
    assert curves.gap("overprompt") == 200
    phases = find_phases(Evaluation(run), curves)
    assert phases.training_learned == LearningStep(200)
    assert phases.memorization.window == (200, 400) and phases.memorization.mistaken_for == "01"
    assert phases.hidden_capability == LearningStep(300) and phases.hidden_method == "overprompt"
    assert phases.generalization == LearningStep(500)
    # Elicitation leads plain prompting most at step 300 (0.85 vs 0.1), where it is also first learned.
    assert phases.hidden_capability_best == HiddenCapabilityPeak(300, "overprompt@1", 0.1, 0.85)
    # The held-out mean position runs straight from (0, 0) to (0.95, 0.95): it never comes near red-small's corner
    # (0, 1), so by turn.py's definition there is no turn to mark.
    assert phases.turning_point is None
    assert list(phases.jump_targets().items()) == [("training classes learned", 200), ("memorization", 200),
                                                   ("hidden capability", 300), ("generalization", 500)]


def test_phases_follow_the_criterion_of_evaluation_and_curves(tmp_path, tiny) -> None:
    run = _write_fake_run(tmp_path, tiny)
    summary = json.loads((run.path / "elicitation" / "summary.json").read_text())
    lenient = capability_curves(summary, "11", criterion="lenient")
    evaluation = Evaluation(run, criterion="lenient")
    assert evaluation.joint_accuracy[2, 3] == 0.85 and Evaluation(run).joint_accuracy[2, 3] == 0.1
    assert np.array_equal(evaluation.coordinates, Evaluation(run).coordinates)  # positions hold for both
    assert BETWEEN in Evaluation(run).outcomes[2][3] and BETWEEN not in evaluation.outcomes[2][3]
    phases = find_phases(evaluation, lenient)
    assert lenient.learned["plain"] == LearningStep(300) and phases.generalization == LearningStep(300)
    with pytest.raises(ValueError, match="one criterion"):
        find_phases(evaluation, capability_curves(summary, "11"))
    with pytest.raises(ValueError, match="Unknown criterion"):
        Evaluation(run, criterion="midpoint")


def test_summaries_of_the_earlier_format_say_to_rerun_the_pass(tmp_path, tiny) -> None:
    """Summaries written before positions and criteria (P(level 1) rows, no "format") name the pass to re-run."""
    run = _write_fake_run(tmp_path, tiny)
    for part, command in (("evaluation", "evaluate"), ("elicitation", "elicit")):
        path = run.path / part / "summary.json"
        old = json.loads(path.read_text())
        del old["format"]
        path.write_text(json.dumps(old))
        with pytest.raises(RunFolderError, match=f"earlier version.*re-run `concept-explorer {command}`"):
            Evaluation(run) if part == "evaluation" else capability_curves(old, "11")


def test_unevaluated_run_says_what_to_do(tmp_path, tiny) -> None:
    run = Run.create(tmp_path / "plain", tiny)
    with pytest.raises(RunFolderError, match="concept-explorer evaluate"):
        Evaluation(run)


def test_per_concept_learning_uses_each_concepts_best_strength() -> None:
    """Concept accuracies that differ from the joint one, and per concept a different best strength: colour is
    right early at overprompt 1, size at overprompt 2, but neither strength gets both right, so the joint
    overprompt curve never learns while each concept does, at its own step."""
    steps = [100, 200, 300, 400, 500, 600, 700]
    table = {  # key → (colour accuracy, size accuracy, joint accuracy) per checkpoint
        "plain": ([0.1, 0.2, 0.3, 0.5, 0.9, 0.9, 0.95], [0.5, 0.9, 0.9, 0.9, 0.95, 0.95, 1.0],
                  [0.05, 0.2, 0.3, 0.45, 0.85, 0.85, 0.95]),
        "overprompt@1": ([0.2, 0.85, 0.9, 0.9, 0.9, 0.95, 0.95], [0.3, 0.3, 0.4, 0.5, 0.6, 0.6, 0.6],
                         [0.1, 0.3, 0.35, 0.45, 0.55, 0.6, 0.6]),
        "overprompt@2": ([0.1, 0.3, 0.4, 0.6, 0.7, 0.7, 0.7], [0.6, 0.7, 0.85, 0.9, 0.9, 0.95, 0.95],
                         [0.05, 0.25, 0.4, 0.5, 0.65, 0.7, 0.7]),
    }
    summary = {"format": 2, "steps": steps, "per_step": {
        str(step): {key: {"11": row(joint[i], {"11": joint[i]}, [color[i], size[i]])}
                    for key, (color, size, joint) in table.items()}
        for i, step in enumerate(steps)}}
    curves = capability_curves(summary, "11")
    # Joint: the winner by joint accuracy per checkpoint, never ≥ 0.8 for overprompting.
    assert curves.best_key["overprompt"] == ["overprompt@1"] * 2 + ["overprompt@2"] * 5
    assert curves.joint["overprompt"].tolist() == [0.1, 0.3, 0.4, 0.5, 0.65, 0.7, 0.7]
    assert curves.learned["overprompt"] == LearningStep(None) and curves.gap("overprompt") is None
    # `concept` reports the joint winner's concept accuracies ...
    assert curves.concept["overprompt"].tolist() == [[0.2, 0.3], [0.85, 0.3], [0.4, 0.85], [0.6, 0.9],
                                                     [0.7, 0.9], [0.7, 0.95], [0.7, 0.95]]
    # ... but each concept's learning step takes its own best strength per checkpoint: colour from overprompt@1
    # (0.85 from step 200), size from overprompt@2 (0.85 from step 300). Read off the joint winner instead,
    # colour would never be learned (0.4 at step 300).
    assert curves.concept_learned["overprompt"] == [LearningStep(200), LearningStep(300)]
    # Plain prompting: one key, concepts at their own steps, both different from the joint step.
    assert curves.learned["plain"] == LearningStep(500)
    assert curves.concept_learned["plain"] == [LearningStep(500), LearningStep(200)]
