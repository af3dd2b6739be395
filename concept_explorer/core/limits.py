"""Every range a user can reach, in one place, and the checks that turn a bad value into one sentence.

The CLI, the run-folder loader, live generation, shared links and the UI's controls all read their bounds from
here, so a slider, a link and an API call can never disagree about what is allowed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


def finite(name: str, value: Any) -> float:
    """A real number (bools and NaN/inf are refused: a JSON client can send either)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}.")
    return float(value)


@dataclass(frozen=True)
class Range:
    """A closed interval [low, high], optionally of whole numbers."""

    low: float
    high: float
    whole: bool = False

    def check(self, name: str, value: Any) -> float | int:
        """`value` as a float (or int when whole), or a ValueError naming the parameter and its bounds."""
        number = finite(name, value)
        if self.whole:
            if not (number.is_integer() and self.low <= number <= self.high):
                raise ValueError(f"{name} must be a whole number from {self.low:g} to {self.high:g}, got {value!r}.")
            return int(number)
        if not self.low <= number <= self.high:
            raise ValueError(f"{name} must be between {self.low:g} and {self.high:g}, got {number:g}.")
        return number

    def __contains__(self, value: object) -> bool:
        try:
            self.check("value", value)
        except ValueError:
            return False
        return True

    @property
    def bounds(self) -> tuple[float, float]:
        """(low, high), e.g. for a slider's minimum and maximum."""
        return (self.low, self.high)


# -- concept signal -------------------------------------------------------------------------------------------------
DELTA_MAX = {"color": 0.8, "size": 0.4, "bg": 0.8}
"""Largest concept signal a ConceptSpace accepts (0 < Δ ≤ max): beyond it the two levels leave the valid colour or
size range."""
PROBED_DELTA = {"color": Range(0.1, 0.8), "size": Range(0.1, 0.4), "bg": Range(0.1, 0.8)}
"""Concept signals the default probe is trained over, so a run inside them is read without a probe of its own;
the Train tab offers exactly these."""

# -- stored passes (evaluate, elicit) ------------------------------------------------------------------------------
PASS_SAMPLES = Range(1, 4096, whole=True)
"""Samples per class (evaluate) or per method (elicit) at every checkpoint."""
PASS_SEED = Range(0, 2**63 - 1, whole=True)
"""Any seed torch.Generator.manual_seed accepts."""

# -- the shared step control and links ------------------------------------------------------------------------------
STEP = Range(0, 10**9, whole=True)
SMOOTHING = Range(0.0, 3.0)
"""Gaussian σ of the trajectory smoothing, in checkpoints."""

# -- live generation ------------------------------------------------------------------------------------------------
POSITION = Range(-0.5, 1.5)
"""A concept's position along its semantic axis: 0 = level-0 class mean, 1 = level-1 class mean."""
OVERPROMPT = Range(0.0, 4.0)
WEIGHT = Range(-1.0, 1.0)
"""A concept's weight in a custom intervention direction."""
STRENGTH = Range(-4.0, 4.0)
"""Intervention strength; at ±4 the embedding is already far outside anything the model was trained on."""
GUIDANCE = Range(0.0, 10.0)
SAMPLES = Range(1, 64, whole=True)
SEED = Range(0, 2**31 - 1, whole=True)
SAMPLE_STEPS = Range(1, 100, whole=True)
"""Sampling steps of a live generation (stored evaluations use the run's own `sample_steps`, 50 by default); the
bound keeps one request's work small on a shared server."""
DEFAULT_SAMPLES = 16
DEFAULT_SAMPLE_STEPS = 20
"""Fewer than the 50 steps of stored evaluations, for speed: 16 samples at a cpu-preset checkpoint take well under
a second on one core (benchmarks/bench_ui.py). Probe coordinates at 20 steps track those at 50 closely."""

# -- the Train tab's background job ---------------------------------------------------------------------------------
JOB_STEPS = Range(20, 20_000, whole=True)
JOB_STEP_CHOICES = (300, 600, 1500, 3000, 6000)
"""Run lengths the Train tab offers (the API accepts any length in JOB_STEPS)."""
JOB_CHECKPOINTS = Range(2, 64, whole=True)
