"""The bundled run in checkpoints/: it loads, it is small, and its stored results are what the code computes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from concept_explorer.analysis.capability import capability_curves, load_elicitation
from concept_explorer.analysis.definitions import summarize_class
from concept_explorer.analysis.evaluate import EvalConfig, Evaluation, class_prompts, generate, probe_path
from concept_explorer.analysis.phases import find_phases
from concept_explorer.analysis.probes import Probe, class_mean_accuracy
from concept_explorer.core.config import cpu_preset
from concept_explorer.core.run import Run

BUNDLED = Path(__file__).resolve().parents[1] / "checkpoints" / "cpu-default"


@pytest.fixture(scope="module")
def bundled() -> Run:
    return Run.open(BUNDLED)  # validates every checkpoint file against the config


def test_bundled_run_is_the_cpu_preset_and_small(bundled: Run) -> None:
    assert bundled.status == "complete"
    assert bundled.config == cpu_preset()
    assert bundled.steps == cpu_preset().train.checkpoint_schedule()
    size = sum(f.stat().st_size for f in BUNDLED.rglob("*") if f.is_file())
    assert size < 60 * 2**20, f"bundled run is {size / 2**20:.1f} MB"


def test_bundled_probe_reads_class_means(bundled: Run) -> None:
    accuracy = class_mean_accuracy(Probe.load(probe_path(bundled)), bundled.config.concept_space, per_class=64)
    assert min(min(values) for values in accuracy.values()) >= 0.99


def test_bundled_run_shows_the_phases(bundled: Run) -> None:
    """Training classes first, then the held-out prompt mistaken for a training class, then generalisation."""
    evaluation = Evaluation(bundled)
    assert evaluation.steps == bundled.steps
    phases = find_phases(evaluation, capability_curves(load_elicitation(bundled), "11"))
    assert phases.training_learned.learned and phases.generalization.learned
    assert phases.memorization.window is not None
    assert phases.memorization.window[1] < phases.generalization.step
    held_out = evaluation.labels.index("11")
    final_accuracy = evaluation.concept_accuracy[-1, held_out]
    assert (final_accuracy >= 0.8).all()


@pytest.mark.slow
def test_stored_summary_matches_a_fresh_recomputation(bundled: Run) -> None:
    """Re-scoring the stored images reproduces the stored summary exactly, and sampling the checkpoint again
    reproduces the stored images."""
    evaluation = Evaluation(bundled)
    step = bundled.steps[len(bundled.steps) * 2 // 3]
    stored = evaluation.samples(step)
    probe = Probe.load(probe_path(bundled))
    settings = EvalConfig(**{k: v for k, v in evaluation.summary["settings"].items() if k != "sample_steps"})
    h, labels = class_prompts(bundled.config.concept_space, settings.samples_per_class, settings.seed)
    assert torch.equal(labels, stored["labels"])
    images = generate(bundled.load_model(step), h, bundled.config.train.sample_steps, settings.seed)
    differing = (images != stored["images"]).float().mean().item()
    assert differing < 0.01, f"{differing:.2%} of pixels differ from the stored samples"
    scores = probe.score(stored["images"])
    for index, code in enumerate(evaluation.classes):
        fresh = summarize_class(scores.p_level1[labels == index].numpy(), scores.p_present[labels == index].numpy(),
                                code).to_dict()
        assert fresh == evaluation.summary["per_step"][str(step)][evaluation.labels[index]]
