"""The turning point's stated definition (analysis/turn.py) on trajectories whose answer is known."""

from __future__ import annotations

import numpy as np

from concept_explorer.analysis.turn import MIN_MOVE, turning_point

STEPS = [100 * (i + 1) for i in range(9)]


def path(*points: tuple[float, float]) -> np.ndarray:
    return np.array(points, dtype=float)


def test_a_detour_to_the_memorised_class_then_to_the_target_turns_where_it_came_nearest() -> None:
    # Starts at the centre, goes to red-small (0, 1), turns at step 500, ends at blue-small (1, 1).
    coordinates = path((0.5, 0.5), (0.3, 0.7), (0.15, 0.85), (0.05, 0.95), (0.02, 0.98), (0.2, 1.0), (0.5, 1.0),
                       (0.8, 1.0), (0.95, 1.0))
    turn = turning_point(coordinates, STEPS, (0, 1), (1, 1), sigma=0)
    assert turn is not None and turn.step == 500
    assert turn.toward_memorized > 0.6 and turn.toward_target > 0.9
    smoothed = turning_point(coordinates, STEPS, (0, 1), (1, 1))  # σ = 1 checkpoint moves it by at most one
    assert smoothed is not None and abs(smoothed.step - 500) <= 100


def test_no_turn_without_memorisation_or_without_leaving_or_without_approaching() -> None:
    straight = path(*[(0.5 + 0.06 * i, 0.5 + 0.06 * i) for i in range(9)])
    assert turning_point(straight, STEPS, None, (1, 1)) is None
    assert turning_point(straight, STEPS, (0, 1), (1, 1), sigma=0) is None  # never approached red-small
    diagonal = path(*[(0.125 * i, 0.125 * i) for i in range(9)])  # red-large → blue-small passes red-small at 0.71
    assert turning_point(diagonal, STEPS, (0, 1), (1, 1), sigma=0) is None
    stuck = path(*[(0.5 - 0.06 * i, 0.5 + 0.06 * i) for i in range(9)])
    assert turning_point(stuck, STEPS, (0, 1), (1, 1), sigma=0) is None  # approached, never left
    short_leave = np.concatenate([stuck[:6], stuck[5:6] + [[MIN_MOVE / 2, 0]] * 3])
    assert turning_point(short_leave, STEPS, (0, 1), (1, 1), sigma=0) is None


def test_checkpoints_without_an_object_are_skipped() -> None:
    coordinates = path((np.nan, np.nan), (0.5, 0.5), (0.2, 0.8), (0.02, 0.98), (0.3, 1.0), (0.7, 1.0), (0.9, 1.0),
                       (1.0, 1.0), (1.0, 1.0))
    turn = turning_point(coordinates, STEPS, (0, 1), (1, 1), sigma=0)
    assert turn is not None and turn.step == 400
