"""Seed groups and the numbers reported over them (analysis/seeds.py)."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_OVERRIDES

from concept_explorer.analysis.capability import (
    CapabilityCurves,
    ElicitConfig,
    capability_curves,
    elicit_run,
    load_elicitation,
)
from concept_explorer.analysis.definitions import LearningStep
from concept_explorer.analysis.evaluate import EvalConfig, evaluate_run
from concept_explorer.analysis.phases import best_elicitation
from concept_explorer.analysis.probes import probe_config_for, train_probe
from concept_explorer.analysis.seeds import (
    band,
    fragile_families,
    group_bands,
    run_numbers,
    seed_bands,
    seed_group,
    spread,
)
from concept_explorer.core.config import cpu_preset, with_overrides
from concept_explorer.core.run import Run
from concept_explorer.core.training import train


@pytest.fixture(scope="module")
def group(tmp_path_factory: pytest.TempPathFactory) -> list[Run]:
    """Two tiny runs that differ only in seed, one that differs in Δ too, evaluated and elicited."""
    root = tmp_path_factory.mktemp("group")
    config = with_overrides(cpu_preset(), TINY_OVERRIDES)
    probe = train_probe(dataclasses.replace(probe_config_for(config.concept_space), steps=3, batch_size=16, width=8),
                        progress=False)
    runs = []
    for name, overrides in (("a", {"train.seed": 0}), ("b", {"train.seed": 1}),
                            ("other", {"train.seed": 2, "concept_space.delta_color": 0.3})):
        run = train(with_overrides(config, overrides), root / name, device="cpu", progress=False)
        probe.save(run.layout.probe)
        runs.append(run)
    for run in runs[:2]:
        evaluate_run(run, EvalConfig(samples_per_class=4), progress=False)
        elicit_run(run, ElicitConfig(samples=4, overprompt_strengths=(1.0,), intervention_strengths=(1.0,),
                                     intervention_directions=("orthogonal",)), progress=False)
    (root / "not-a-run").mkdir()
    return runs


def test_a_seed_group_is_the_runs_that_differ_only_in_seed(group: list[Run]) -> None:
    a, b, other = group
    assert [r.config.train.seed for r in seed_group(b)] == [0, 1]
    assert [Path(r.path).name for r in seed_group(a)] == ["a", "b"]
    assert [Path(r.path).name for r in seed_group(other)] == ["other"]


def test_run_numbers_read_the_stored_results_under_each_criterion(group: list[Run]) -> None:
    for criterion in ("strict", "lenient"):
        numbers = run_numbers(group[0], criterion)
        assert numbers.seed == 0 and numbers.criterion == criterion
        assert set(numbers.per_family) == {"plain", "overprompt", "intervention-orthogonal", "patch"}
        assert numbers.plain == numbers.per_family["plain"]
        assert numbers.gap is None or numbers.gap == numbers.plain - numbers.elicited


def test_spread_is_median_min_max_and_counts_the_seeds_that_never_got_there() -> None:
    assert spread([2818, 2613, 3029]) == "2818 [2613–3029]"
    assert spread([2818, None, 3029]) == "2923.5 [2818–3029], 1 of 3 never"
    assert spread([None, None]) == "never (2 of 2)"
    assert spread([400]) == "400"


def test_band_is_mean_min_max_per_checkpoint_and_keeps_empty_checkpoints_empty() -> None:
    mean, low, high = band([np.array([0.0, 0.5, np.nan]), np.array([1.0, 0.7, np.nan])])
    assert np.allclose(mean[:2], [0.5, 0.6]) and np.allclose(low[:2], [0.0, 0.5]) and np.allclose(high[:2], [1, 0.7])
    assert np.isnan(mean[2])


def test_a_learning_step_within_one_sample_of_the_threshold_is_fragile() -> None:
    steps = [100, 200, 300, 400]
    joint = {"plain": np.array([0.5, 0.8, 0.9, 0.9]), "overprompt": np.array([0.9, 0.95, 1.0, 1.0])}
    curves = CapabilityCurves("11", steps, joint, {}, {}, {"plain": LearningStep(200), "overprompt": LearningStep(100)},
                              {})
    assert fragile_families(curves, samples=64, threshold=0.8, consecutive=3) == ["plain"]


def test_folders_that_are_not_runs_are_skipped(group: list[Run], tmp_path: Path) -> None:
    shutil.copytree(group[0].path, tmp_path / "a")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "run.json").write_text("{")
    assert [Path(r.path).name for r in seed_group(Run.open(tmp_path / "a"))] == ["a"]


def test_seed_bands_span_each_seeds_plain_and_best_elicited_accuracy(group: list[Run]) -> None:
    a, b, other = group
    bands = seed_bands([a, b], "strict")
    assert bands is not None and [n.seed for n in bands.numbers] == [0, 1] and bands.criterion == "strict"
    curves = [capability_curves(load_elicitation(r), "11", criterion="strict") for r in (a, b)]
    assert bands.steps == curves[0].steps == curves[1].steps
    plain = np.stack([c.joint["plain"] for c in curves])  # (S, T)
    elicited = np.stack([best_elicitation(c)[0] for c in curves])
    np.testing.assert_allclose(bands.plain[1], plain.min(0))
    np.testing.assert_allclose(bands.plain[2], plain.max(0))
    np.testing.assert_allclose(bands.elicited[1], elicited.min(0))
    np.testing.assert_allclose(bands.elicited[2], elicited.max(0))
    assert seed_bands([a, other], "strict") is None  # `other` was never evaluated: one readable seed, no band
    assert group_bands(other, "strict") is None  # no siblings
    assert group_bands(b, "lenient") is group_bands(a, "lenient")  # one result per group and criterion
