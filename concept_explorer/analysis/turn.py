"""The sudden turn: where a held-out class's trajectory stops heading for the training class it was mistaken for
and heads for its own corner of concept space (the paper's "sudden turn from concept memorization to OOD
generalization"). Pure functions over stored coordinates.

Definition (stated once, tested): smooth the held-out class's mean positions over checkpoints (Gaussian, σ = 1
checkpoint, NaN-aware). The turning point is the checkpoint where the smoothed trajectory comes nearest to the corner
of the memorised class (the training class the held-out prompt was mistaken for). It counts as a turn only when
1. the trajectory reached that class's side of the space: it came within `NEAR` of the memorised corner (a
   straight path from one training corner to the target passes it at 0.71 and never counts), and its distance
   there is at least `MIN_MOVE` smaller than at the first checkpoint with an object, and
2. it then left for the target: by the last checkpoint its distance to the target corner has dropped by at least
   `MIN_MOVE` from the turning point.
Without a memorisation phase there is nothing to turn from, so there is no turning point.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .definitions import smooth

MIN_MOVE = 0.25
"""Position units (the distance between two class means is 1 per concept): a quarter of the way, well above the
±0.05 the probe's calibration and 64 samples leave on a mean position."""


NEAR = 0.5
"""Position units: within half a class-mean gap of the memorised corner, i.e. nearer to it than the centre of the
square is (0.71)."""


@dataclass(frozen=True)
class TurningPoint:
    step: int
    position: tuple[float, ...]  # the smoothed mean position at the turn
    toward_memorized: float  # how far the trajectory closed in on the memorised corner before the turn
    toward_target: float  # how far it closed in on the target corner from the turn to the end


def turning_point(
    coordinates: np.ndarray, steps: list[int], memorized: tuple[int, ...] | None, target: tuple[int, ...],
    sigma: float = 1.0, min_move: float = MIN_MOVE,
) -> TurningPoint | None:
    """coordinates: (T, K) mean positions of the held-out class per checkpoint (NaN where nothing was drawn);
    memorized: the training class it was mistaken for (None: no memorisation); target: the held-out class."""
    if memorized is None:
        return None
    path = smooth(np.asarray(coordinates, dtype=float), sigma)  # (T, K)
    seen = np.flatnonzero(~np.isnan(path).any(1))
    if len(seen) < 3:
        return None
    to_memorized = np.linalg.norm(path[seen] - np.asarray(memorized, dtype=float), axis=1)
    to_target = np.linalg.norm(path[seen] - np.asarray(target, dtype=float), axis=1)
    t = int(np.argmin(to_memorized))
    approached = to_memorized[0] - to_memorized[t]
    left = to_target[t] - to_target[-1]
    if to_memorized[t] > NEAR or approached < min_move or left < min_move:
        return None
    index = seen[t]
    return TurningPoint(steps[index], tuple(float(v) for v in path[index]), float(approached), float(left))
