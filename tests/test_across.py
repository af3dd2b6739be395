"""Learning speed against concept signal across runs (analysis/across.py), on data whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from concept_explorer.analysis.across import ranks, signal_speed_correlation, spearman, speeds


def test_ranks_share_ties_and_spearman_reads_order_only() -> None:
    assert ranks(np.array([3.0, 1.0, 3.0, 2.0])).tolist() == [3.5, 1.0, 3.5, 2.0]
    x = np.array([0.2, 0.4, 0.6, 0.8])
    assert spearman(x, x**3) == pytest.approx(1.0) and spearman(x, -x) == pytest.approx(-1.0)
    assert np.isnan(spearman(x, np.ones(4)))


def test_a_run_that_never_learned_is_the_slowest() -> None:
    assert speeds([400, None, 800]).tolist() == [1 / 400, 0.0, 1 / 800]


def test_stronger_signal_faster_learning_gives_rho_one_with_a_tight_interval() -> None:
    deltas = [0.2, 0.4, 0.6, 0.8] * 3
    seeds = [0] * 4 + [1] * 4 + [2] * 4
    steps = [None, 3000, 2000, 1000, 5000, 2800, 1900, 1200, 4800, 3100, 2100, 900]  # Δ 0.2 of seed 0 never learns
    result = signal_speed_correlation(deltas, steps, seeds)
    assert result.rho > 0.9 and result.low > 0.8 and result.high <= 1.0 and result.never == 1 and result.cells == 12


def test_no_relation_gives_an_interval_around_zero() -> None:
    rng = np.random.default_rng(1)
    deltas = list(np.repeat([0.2, 0.4, 0.6, 0.8], 8))
    steps = list(rng.integers(1000, 5000, size=32))
    seeds = list(np.tile(np.arange(8), 4))
    result = signal_speed_correlation(deltas, steps, seeds)
    assert result.low < 0 < result.high


def test_mismatched_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="one entry per cell"):
        signal_speed_correlation([0.2], [100, 200], [0])


def test_one_seed_gives_rho_without_an_interval() -> None:
    result = signal_speed_correlation([0.2, 0.4, 0.6], [3000, 2000, 1000], [0, 0, 0])
    assert result.rho == pytest.approx(1.0) and np.isnan(result.low) and np.isnan(result.high)
