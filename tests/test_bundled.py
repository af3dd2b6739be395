"""The bundled run in checkpoints/: it loads, it is small, and its stored results are what the code computes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from test_numbers import load_numbers_script

from concept_explorer.analysis.capability import capability_curves, load_elicitation
from concept_explorer.analysis.definitions import correctness, summarize_class
from concept_explorer.analysis.evaluate import EvalConfig, Evaluation, class_prompts
from concept_explorer.analysis.phases import find_phases
from concept_explorer.analysis.probes import Probe, class_mean_accuracy
from concept_explorer.analysis.seeds import seed_group
from concept_explorer.analysis.sweep import Sweep
from concept_explorer.analysis.sweep_results import load_results
from concept_explorer.core.config import cpu_preset, preset, with_overrides
from concept_explorer.core.run import Run
from concept_explorer.core.sampling import generate

BUNDLED = Path(__file__).resolve().parents[1] / "checkpoints" / "cpu-default"


@pytest.fixture(scope="module")
def bundled() -> Run:
    return Run.open(BUNDLED)  # validates every checkpoint file against the config


def test_bundled_runs_are_seeds_of_the_cpu_preset_and_fit_the_budget(bundled: Run) -> None:
    seeds = seed_group(bundled)
    assert len(seeds) >= 3
    for run in seeds:
        assert run.status == "complete"
        train = run.config.train  # the seed, and the precision `train --precision auto` resolved to
        assert run.config == with_overrides(cpu_preset(), {"train.seed": train.seed, "train.precision": train.precision})
        assert run.steps == cpu_preset().train.checkpoint_schedule()
    assert megabytes(BUNDLED.parent) < CHECKPOINTS_BUDGET_MB, f"checkpoints/ holds {megabytes(BUNDLED.parent):.1f} MB"


megabytes = load_numbers_script("readme_block").megabytes  # what the README's storage lines count
CHECKPOINTS_BUDGET_MB = load_numbers_script().CHECKPOINTS_BUDGET_MB


def test_the_three_concept_run_is_the_cpu3_preset_and_fits_its_budget() -> None:
    run = Run.open(BUNDLED.parent / "three-concepts")
    assert run.status == "complete" and run.config.concept_space.concepts == ("color", "size", "bg")
    train = run.config.train
    assert run.config == with_overrides(preset("cpu3"), {"train.seed": train.seed, "train.precision": train.precision})
    assert run.layout.evaluation_summary.is_file() and run.layout.elicitation_summary.is_file()
    assert megabytes(run.path) < load_numbers_script("three_numbers").BUDGET_MB


def test_the_underspecification_sweep_is_the_mask_preset_over_f_and_fits_its_budget() -> None:
    folder = BUNDLED.parent / "sweep-mask"
    sweep = Sweep.open(folder)
    assert sweep.data["preset"] == "mask" and list(sweep.data["grid"]) == ["train.mask_fraction"]
    results = load_results(folder)
    assert results["cells"] and all(cell["mask"]["concept"] == "color" for cell in results["cells"])
    assert megabytes(folder) < load_numbers_script("mask_numbers").BUDGET_MB


def test_bundled_probe_reads_class_means(bundled: Run) -> None:
    accuracy = class_mean_accuracy(Probe.load(bundled.layout.probe), bundled.config.concept_space, per_class=64)
    assert min(min(values) for values in accuracy["strict"].values()) >= 0.99


def test_bundled_run_shows_the_phases(bundled: Run) -> None:
    """Seed 0, the trajectory the app opens: training classes learned, the held-out prompt mistaken for a training
    class, then a hidden capability: elicitation learns the held-out class while plain prompting has not."""
    for criterion in ("strict", "lenient"):
        evaluation = Evaluation(bundled, criterion)
        assert evaluation.steps == bundled.steps
        phases = find_phases(evaluation, capability_curves(load_elicitation(bundled), "11", criterion=criterion))
        assert phases.training_learned.learned
        assert phases.memorization.window is not None and phases.memorization.window[0] < bundled.steps[-1]
        assert phases.hidden_capability.learned
        assert not phases.generalization.learned or phases.hidden_capability.step < phases.generalization.step


FLOAT_TOLERANCE = 1e-4
"""Probabilities and coordinates recomputed on another CPU (e.g. AVX-512 kernels) differ by ~1e-8; one sample
changing its verdict moves an accuracy or outcome fraction by 1/64 ≈ 0.016 at 64 samples per class."""


def assert_same_summary(fresh: object, stored: object, where: str) -> None:
    """Same structure, keys (so the same set of outcomes), strings, integers and None exactly; floats within
    FLOAT_TOLERANCE."""
    if isinstance(stored, dict):
        assert isinstance(fresh, dict) and sorted(fresh) == sorted(stored), f"{where}: keys {fresh} vs {stored}"
        for key, value in stored.items():
            assert_same_summary(fresh[key], value, f"{where}, {key}")
    elif isinstance(stored, list):
        assert isinstance(fresh, list) and len(fresh) == len(stored), f"{where}: {fresh} vs {stored}"
        for i, (a, b) in enumerate(zip(fresh, stored)):
            assert_same_summary(a, b, f"{where}[{i}]")
    elif isinstance(stored, float) and not isinstance(fresh, bool) and isinstance(fresh, (int, float)):
        assert abs(fresh - stored) <= FLOAT_TOLERANCE, f"{where}: {fresh} vs {stored}"
    else:
        assert type(fresh) is type(stored) and fresh == stored, f"{where}: {fresh!r} vs {stored!r}"


def test_summary_comparison_tolerates_rounding_but_not_a_changed_sample() -> None:
    stored = {"coordinates": [0.016403481, None], "presence": 0.78125, "concept_accuracy": [0.671875, 0.59375],
              "joint_accuracy": 0.53125, "outcomes": {"00": 0.53125, "none": 0.46875}}
    rounded = {**stored, "coordinates": [0.016403486, None]}
    assert_same_summary(rounded, stored, "rounded")
    one_sample = 1 / 64
    changed = [
        {**stored, "joint_accuracy": 0.53125 - one_sample},
        {**stored, "concept_accuracy": [0.671875, 0.59375 + one_sample]},
        {**stored, "outcomes": {"00": 0.53125 - one_sample, "none": 0.46875 + one_sample}},
        {**stored, "outcomes": {"00": 0.53125 - one_sample, "01": one_sample, "none": 0.46875}},
        {**stored, "coordinates": [0.016403481, 0.5]},
        {**stored, "coordinates": [0.0174, None]},
    ]
    for summary in changed:
        with pytest.raises(AssertionError):
            assert_same_summary(summary, stored, "changed")


@pytest.mark.slow
def test_stored_summary_matches_a_fresh_recomputation(bundled: Run) -> None:
    """Re-scoring the stored images reproduces the stored summary (to float rounding: another CPU's kernels
    differ in the last bits), and sampling the checkpoint again reproduces the stored images."""
    evaluation = Evaluation(bundled)
    step = bundled.steps[len(bundled.steps) * 2 // 3]
    stored = evaluation.samples(step)
    probe = Probe.load(bundled.layout.probe)
    settings = EvalConfig(**{k: v for k, v in evaluation.summary["settings"].items() if k != "sample_steps"})
    h, labels = class_prompts(bundled.config.concept_space, settings.samples_per_class, settings.seed)
    assert torch.equal(labels, stored["labels"])
    images = generate(bundled.load_model(step), h, bundled.config.train.sample_steps, settings.seed,
                      precision=settings.precision)
    space = bundled.config.concept_space
    differing = (images != stored["images"]).float().mean().item()
    if differing >= 0.01:
        # The seeds were sampled in bf16 on an AVX512-BF16 CPU; another CPU's bf16 kernels (AMX, or emulation
        # without native bf16) round differently and 50 ancestral steps amplify it. The samples must then still
        # say the same thing: every class's fraction of fully right samples within 0.15 of the stored one (a wrong
        # model, prompt or sampler moves whole classes from ≈ 1 to ≈ 0).
        fresh, again = probe.score(images, space), probe.score(stored["images"], space)
        for index, code in enumerate(evaluation.classes):
            rows = labels == index
            right = [correctness(s.position[rows].numpy(), s.p_present[rows].numpy(), code, space, "lenient")
                     .prod(1).mean() for s in (fresh, again)]
            assert abs(right[0] - right[1]) <= 0.15, f"class {code}: {right[0]:.2f} resampled vs {right[1]:.2f}"
    space = bundled.config.concept_space
    scores = probe.score(stored["images"], space)
    for index, code in enumerate(evaluation.classes):
        fresh = summarize_class(scores.position[labels == index].numpy(), scores.p_present[labels == index].numpy(),
                                code, space).to_dict()
        label = evaluation.labels[index]
        assert_same_summary(fresh, evaluation.summary["per_step"][str(step)][label], f"step {step}, class {label}")
