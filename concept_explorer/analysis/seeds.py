"""Seeds: runs of one config that differ only in `train.seed`, and the numbers that hold over them.

A single seed's learning step can rest on one sample (52 vs 51 of 64 at the threshold), so every headline number
is reported as median [min–max] over the seeds, with the seeds that never got there counted, and a number whose
qualifying checkpoints sit within one sample of the threshold is flagged as fragile.
"""

from __future__ import annotations

import statistics
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.run import Run, RunFolderError, RunLayout
from .capability import CapabilityCurves, capability_curves, load_elicitation
from .evaluate import Evaluation
from .phases import find_phases


def _without_seed(run: Run) -> dict:
    config = run.config.to_dict()
    config["train"] = {k: v for k, v in config["train"].items() if k != "seed"}
    return config


def seed_group(run: Run) -> list[Run]:
    """`run` and its sibling folders whose config equals its own but for the seed, ordered by seed."""
    siblings = [run]
    for path in sorted(Path(run.path).parent.iterdir()):
        if path.resolve() == Path(run.path).resolve() or not RunLayout(path).is_run():
            continue
        try:
            other = Run.open(path)
        except (RunFolderError, ValueError):
            continue
        if _without_seed(other) == _without_seed(run) and other.config.train.seed != run.config.train.seed:
            siblings.append(other)
    return sorted(siblings, key=lambda r: r.config.train.seed)


@dataclass(frozen=True)
class RunNumbers:
    """The phase numbers of one seed under one criterion (steps; None = not reached within the run)."""

    seed: int
    criterion: str
    training: int | None
    memorization: tuple[int, int] | None
    mistaken_for: str | None
    turn: int | None
    plain: int | None
    elicited: int | None  # the earliest learning step of any elicitation method
    method: str | None  # its family
    per_family: dict[str, int | None]
    fragile: list[str] = field(default_factory=list)  # families whose learning step rests on one sample

    @property
    def gap(self) -> int | None:
        return None if self.plain is None or self.elicited is None else self.plain - self.elicited


def fragile_families(curves: CapabilityCurves, samples: int, threshold: float, consecutive: int) -> list[str]:
    """Families whose learning step would move if one sample of a qualifying checkpoint flipped: some accuracy in
    the streak that makes the step is less than one sample (1/samples) above the threshold."""
    fragile = []
    for family, learned in curves.learned.items():
        if learned.step is None:
            continue
        start = curves.steps.index(learned.step)
        streak = curves.joint[family][start:start + consecutive]
        if float(np.min(streak)) - threshold < 1.0 / samples:
            fragile.append(family)
    return fragile


def run_numbers(run: Run, criterion: str, threshold: float = 0.8, consecutive: int = 3) -> RunNumbers:
    """Numbers of the run's first held-out class from its stored evaluation and elicitation."""
    evaluation = Evaluation(run, criterion=criterion)
    summary = load_elicitation(run)
    space = run.config.concept_space
    label = space.class_label(space.heldout_classes()[0])
    curves = capability_curves(summary, label, threshold, consecutive, criterion=criterion)
    phases = find_phases(evaluation, curves, label, threshold, consecutive)
    turn = phases.turning_point
    samples = int(summary["settings"]["samples"])
    return RunNumbers(
        seed=run.config.train.seed, criterion=criterion, training=phases.training_learned.step,
        memorization=phases.memorization.window, mistaken_for=phases.memorization.mistaken_for,
        turn=turn.step if turn else None, plain=phases.generalization.step, elicited=phases.hidden_capability.step,
        method=phases.hidden_method, per_family={f: s.step for f, s in curves.learned.items()},
        fragile=fragile_families(curves, samples, threshold, consecutive),
    )


def spread(values: list[int | None]) -> str:
    """'median [min–max]' over the seeds that got there, and how many did not: '2818 [2613–3029]',
    '3029 [2818–3249], 1 of 3 never'; 'never (3 of 3)' when none did."""
    reached = [v for v in values if v is not None]
    missing = len(values) - len(reached)
    if not reached:
        return f"never ({missing} of {len(values)})"
    text = f"{statistics.median(reached):g}" if len(reached) == 1 else (
        f"{statistics.median(reached):g} [{min(reached)}–{max(reached)}]")
    return text + (f", {missing} of {len(values)} never" if missing else "")


def band(series: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, min and max over seeds of per-checkpoint series (same schedule), NaN-aware."""
    stacked = np.stack([np.asarray(s, dtype=float) for s in series])
    with warnings.catch_warnings():  # a checkpoint where no seed drew an object stays NaN, silently
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(stacked, 0), np.nanmin(stacked, 0), np.nanmax(stacked, 0)
