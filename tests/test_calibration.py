"""Calibrated positions: a trained probe places class means at 0 and 1 and a half-way colour at 0.5, the strict
criterion calls that colour "in between" where the midpoint rule calls it a level, and the calibration check
measures the error along whole axes. One small probe of the cpu geometry is trained for the module."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from concept_explorer.analysis.definitions import BETWEEN, levels, summarize_class
from concept_explorer.analysis.probes import (
    Probe,
    attribute_targets,
    calibration_error,
    level_values,
    probe_config_for,
    sample_along_axes,
    to_position,
    train_probe,
)
from concept_explorer.core.config import cpu_preset
from concept_explorer.core.render import render, sample_attributes

SPACE = dataclasses.replace(cpu_preset().concept_space, delta_color=0.4)  # 16 px, colour and size, Δc = Δs = 0.4
TOLERANCE = 0.1
"""How close (position units) this test probe must read a render: trained in a fraction of the real probe's
steps, it is a few times less precise (the real one's error is in the README)."""


@pytest.fixture(scope="module")
def probe() -> Probe:
    torch.manual_seed(0)
    config = probe_config_for(SPACE, steps=250, batch_size=64)
    return train_probe(config, progress=False)


def renders_at(colour: float, size: float, n: int = 64, seed: int = 0) -> torch.Tensor:
    """n renders with colour and size at these positions (0 = red / large mean, 1 = blue / small mean)."""
    generator = torch.Generator().manual_seed(seed)
    attributes = sample_attributes(SPACE, torch.zeros(n, 2, dtype=torch.long), generator, at_mean=True)
    axis = lambda concept, p: SPACE.level_mean(concept, 0) + p * (SPACE.level_mean(concept, 1)  # noqa: E731
                                                                  - SPACE.level_mean(concept, 0))
    attributes = dataclasses.replace(attributes, color=axis("color", colour).expand(n, 3),
                                     size=axis("size", size).expand(n, 1)[:, 0])
    return render(SPACE, attributes, generator)


def test_positions_are_the_attribute_scalars_scaled_by_the_runs_class_means() -> None:
    assert torch.allclose(level_values(SPACE), torch.tensor([[-0.2, 0.75], [0.2, 0.35]]))  # u and radius
    generator = torch.Generator().manual_seed(0)
    codes = torch.randint(0, 2, (256, 2), generator=generator)
    exact = to_position(attribute_targets(SPACE, sample_attributes(SPACE, codes, generator, at_mean=True)), SPACE)
    assert torch.allclose(exact, codes.float(), atol=1e-6)
    # Training draws cover both class ranges and beyond: positions about -0.4 … 1.4.
    along = sample_along_axes(SPACE, codes, (-0.4, 1.4), generator)
    spread = to_position(attribute_targets(SPACE, along), SPACE)
    assert spread.min() < -0.3 and spread.max() > 1.3


def test_class_means_read_at_0_and_1_and_a_half_way_colour_at_one_half(probe: Probe) -> None:
    for colour, size in ((0, 0), (1, 0), (0, 1), (1, 1)):
        position = probe.score(renders_at(colour, size), SPACE).position.mean(0)
        assert position.tolist() == pytest.approx([colour, size], abs=TOLERANCE), (colour, size)
    purple = probe.score(renders_at(0.5, 0), SPACE).position
    assert purple[:, 0].mean().item() == pytest.approx(0.5, abs=TOLERANCE)


def test_one_reading_calibrates_to_any_runs_concept_signal(probe: Probe) -> None:
    """The probe reads absolute values; the run's Δ only rescales them: the Δc = 0.4 blue mean (u = 0.2) sits
    at 0.75 of the way from red to blue in a run of Δc = 0.8."""
    images = renders_at(1, 0)
    narrow = probe.score(images, SPACE).position[:, 0]
    wide = probe.score(images, dataclasses.replace(SPACE, delta_color=0.8)).position[:, 0]
    assert torch.allclose(wide, (narrow * 0.4 - 0.2 + 0.4) / 0.8, atol=1e-5)
    assert wide.mean().item() == pytest.approx(0.75, abs=TOLERANCE / 2)


def test_strict_calls_a_half_way_colour_in_between_and_lenient_a_level(probe: Probe) -> None:
    scores = probe.score(renders_at(0.5, 1), SPACE)  # purple, small
    position, present = scores.position.numpy(), scores.p_present.numpy()
    assert (present > 0.5).all()
    assert (levels(position, SPACE, "strict")[:, 0] == -1).all()
    assert set(levels(position, SPACE, "lenient")[:, 0]) <= {0, 1}
    summary = summarize_class(position, present, (1, 1), SPACE)
    assert summary.under("strict").outcomes == {BETWEEN: 1.0} and summary.under("strict").joint_accuracy == 0
    assert BETWEEN not in summary.under("lenient").outcomes
    # Fully blue and small is right under both.
    blue = probe.score(renders_at(1, 1), SPACE)
    for criterion in ("strict", "lenient"):
        verdicts = summarize_class(blue.position.numpy(), blue.p_present.numpy(), (1, 1), SPACE).under(criterion)
        assert verdicts.joint_accuracy >= 0.9, criterion


def test_calibration_error_reports_each_axis(probe: Probe) -> None:
    error = calibration_error(probe, SPACE, positions=np.linspace(-0.25, 1.25, 7), per_point=32)
    assert set(error) == {"color", "size"}
    for concept, values in error.items():
        assert set(values) == {"mean_abs_error", "worst_bias", "worst_at"}
        assert 0 < values["mean_abs_error"] < TOLERANCE, (concept, values)
        assert abs(values["worst_bias"]) < 2 * TOLERANCE and -0.25 <= values["worst_at"] <= 1.25
