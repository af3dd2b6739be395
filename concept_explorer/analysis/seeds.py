"""Seeds: runs of one config that differ only in `train.seed`, and the numbers that hold over them.

A single seed's learning step can rest on one sample (52 vs 51 of 64 at the threshold), so every headline number
is reported as median [min–max] over the seeds, with the seeds that never got there counted, and a number whose
qualifying checkpoints sit within one sample of the threshold is flagged as fragile.
"""

from __future__ import annotations

import statistics
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.run import Run, RunFolderError, RunLayout
from .capability import CapabilityCurves, capability_curves, load_elicitation
from .evaluate import Evaluation
from .phases import best_elicitation, find_phases


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
    final_step: int = 0
    concept_per_family: dict[str, dict[str, int | None]] = field(default_factory=dict)  # family → concept → step

    @property
    def gap(self) -> int | None:
        return None if self.plain is None or self.elicited is None else self.plain - self.elicited

    @property
    def concept_plain(self) -> dict[str, int | None]:
        """concept → plain prompting's learning step of that concept alone."""
        return self.concept_per_family["plain"]

    @property
    def concept_elicited(self) -> dict[str, int | None]:
        """concept → the earliest learning step of that concept alone under any elicitation method."""
        elicited = [steps for family, steps in self.concept_per_family.items() if family != "plain"]
        return {c: min((s[c] for s in elicited if s[c] is not None), default=None) for c in self.concept_plain}

    @property
    def gap_at_least(self) -> int | None:
        """When elicitation learned the class and plain prompting never did within the run, the gap is at least
        the rest of the run: final step − elicited step (a lower bound, not a gap)."""
        return self.final_step - self.elicited if self.plain is None and self.elicited is not None else None


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
    return measure(run, criterion, threshold, consecutive)[0]


def measure(
    run: Run, criterion: str, threshold: float = 0.8, consecutive: int = 3, evaluation: Evaluation | None = None,
    summary: dict | None = None,
) -> tuple[RunNumbers, CapabilityCurves]:
    """The numbers and the capability curves of the run's first held-out class (both read from its stored passes;
    a caller that has read them already passes its `evaluation` under `criterion` and elicitation `summary`)."""
    evaluation = evaluation or Evaluation(run, criterion=criterion)
    summary = summary or load_elicitation(run)
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
        fragile=fragile_families(curves, samples, threshold, consecutive), final_step=run.steps[-1],
        concept_per_family={f: {c: s[k].step for k, c in enumerate(space.concepts)}
                            for f, s in curves.concept_learned.items()},
    ), curves


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


@dataclass(frozen=True)
class SeedBands:
    """A seed group's held-out-class accuracy per checkpoint under one criterion, as (mean, min, max) over seeds of
    plain prompting and of the best elicitation method there (each seed's own best), with each seed's numbers."""

    criterion: str
    steps: list[int]  # the checkpoints every seed's elicitation pass measured
    plain: tuple[np.ndarray, np.ndarray, np.ndarray]  # (T,) each
    elicited: tuple[np.ndarray, np.ndarray, np.ndarray] | None  # None when no seed stored an elicitation method
    numbers: list[RunNumbers]  # per seed, in seed order


def seed_bands(runs: list[Run], criterion: str, threshold: float = 0.8, consecutive: int = 3) -> SeedBands | None:
    """Bands over the seeds of `runs` whose evaluation and elicitation can be read; None when fewer than two can
    (a seed still training or never elicited is left out, not counted as "never")."""
    measured = []
    for run in runs:
        try:
            measured.append(measure(run, criterion, threshold, consecutive))
        except (RunFolderError, KeyError, ValueError, IndexError):
            continue
    if len(measured) < 2:
        return None
    steps = sorted(set.intersection(*(set(curves.steps) for _, curves in measured)))
    if not steps:
        return None

    def at_steps(curves: CapabilityCurves, values: np.ndarray) -> np.ndarray:
        return np.asarray(values, dtype=float)[[curves.steps.index(s) for s in steps]]  # (T,)

    plain = band([at_steps(curves, curves.joint["plain"]) for _, curves in measured])
    best = [(curves, best_elicitation(curves)) for _, curves in measured]
    elicited = (band([at_steps(curves, found[0]) for curves, found in best if found is not None])
                if any(found is not None for _, found in best) else None)
    return SeedBands(criterion, steps, plain, elicited, [numbers for numbers, _ in measured])


_GROUP_BANDS: dict[tuple, SeedBands | None] = {}
_GROUP_LOCK = threading.Lock()


def group_bands(run: Run, criterion: str) -> SeedBands | None:
    """`seed_bands` of the run's seed group, computed once per group, criterion and state of the group's files (a
    run that differs only in seed shares its siblings' result). None for a run without siblings."""
    runs = seed_group(run)
    if len(runs) < 2:
        return None
    key = (tuple((str(Path(r.path).resolve()), r.layout.stamp()) for r in runs), criterion)
    with _GROUP_LOCK:
        if key in _GROUP_BANDS:
            return _GROUP_BANDS[key]
    bands = seed_bands(runs, criterion)
    with _GROUP_LOCK:
        _GROUP_BANDS[key] = bands
        while len(_GROUP_BANDS) > 64:  # stale entries of groups whose files changed since
            del _GROUP_BANDS[next(iter(_GROUP_BANDS))]
    return bands
