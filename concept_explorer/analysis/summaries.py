"""Incremental per-checkpoint summaries: the bookkeeping evaluation and elicitation share.

A summary is a JSON file `{"format": 2, "settings": ..., "probe": ..., "per_step": {step: row}, "steps": [...]}`
rewritten after every checkpoint, so an interrupted pass keeps what it finished and the next call does only what
is missing. When the settings that produced the rows change, the rows no longer mean the same thing and the
summary starts over (and its stored samples are drawn again). When only the probe or the row format changed, the
rows are dropped but the stored samples stay valid: the pass re-scores them without sampling again.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from ..core import limits
from ..core.folder_checks import read_json
from ..core.run import Run, RunFolderError, atomic_write_json
from .definitions import CRITERIA

SUMMARY_FORMAT = 2
"""2: per-class rows hold calibrated positions and verdicts per criterion ({"coordinates", "presence",
"criteria": {criterion: {...}}}); 1 (no "format" key): P(level 1) coordinates and midpoint verdicts."""


class MissingSummary(RunFolderError):
    """The pass has not run on this run yet (a normal state, unlike a damaged summary)."""


class OutdatedSummary(RunFolderError):
    """A summary of an earlier format: the pass re-scores it when run again."""


def read_summary(run: Run, path: Path, missing: str, command: str, per_method: bool) -> dict[str, Any]:
    """A stored summary, checked (`check_summary`); `missing` is the sentence to raise when there is none, `command`
    the pass that writes it (named when the summary is damaged or of an earlier format)."""
    if not path.is_file():
        raise MissingSummary(missing)
    where = run.layout.place(path)
    summary = read_json(path, where, f"delete it and run `concept-explorer {command}` again.")
    check_format(summary, where, command)
    check_summary(summary, run, where, command, per_method)
    return summary


def check_format(summary: Any, what: str, command: str) -> None:
    """Raise a clear RunFolderError for a summary written before positions and criteria."""
    if not isinstance(summary, dict):
        raise RunFolderError(f"{what} is not a summary object; delete it and run `concept-explorer {command}` again.")
    if summary.get("format") != SUMMARY_FORMAT:
        raise OutdatedSummary(
            f"{what} was written by an earlier version (P(level 1) coordinates, no strict/lenient criteria); re-run "
            f"`concept-explorer {command}` on the run (with the same settings it re-scores the stored samples instead "
            "of drawing them again).")


def _fraction(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 1


def _numbers(value: Any, length: int, check: Callable[[Any], bool]) -> bool:
    return isinstance(value, list) and len(value) == length and all(check(v) for v in value)


def _position(value: Any) -> bool:
    return value is None or isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _class_entry(entry: Any, concepts: int) -> bool:
    """One class at one checkpoint as `definitions.ClassSummary.to_dict` writes it."""
    if not (isinstance(entry, dict) and _numbers(entry.get("coordinates"), concepts, _position)
            and _fraction(entry.get("presence")) and isinstance(entry.get("criteria"), dict)):
        return False
    for criterion in CRITERIA:
        verdicts = entry["criteria"].get(criterion)
        if not (isinstance(verdicts, dict) and _numbers(verdicts.get("concept_accuracy"), concepts, _fraction)
                and _fraction(verdicts.get("joint_accuracy")) and isinstance(verdicts.get("outcomes"), dict)
                and all(isinstance(k, str) and _fraction(v) for k, v in verdicts["outcomes"].items())):
            return False
    return True


def check_summary(summary: dict[str, Any], run: Run, where: str, command: str, per_method: bool) -> None:
    """Every part of a current-format summary that readers use, against the run it belongs to: settings, the probe
    section, steps (whole numbers of the run's checkpoint schedule, each with a row) and every row's class entries
    (per class for evaluation; per method, then per held-out class, with "plain" among the methods, for elicitation).
    A RunFolderError naming the first thing wrong otherwise."""
    space = run.config.concept_space

    def broken(detail: str) -> RunFolderError:
        return RunFolderError(f"{where} is damaged ({detail}); delete it and run `concept-explorer {command}` again.")

    settings, probe, per_step, steps = (summary.get(k) for k in ("settings", "probe", "per_step", "steps"))
    samples_key = "samples" if per_method else "samples_per_class"
    if not isinstance(settings, dict) or settings.get(samples_key) not in limits.PASS_SAMPLES:
        raise broken(f"its settings lack a valid {samples_key}")
    if not isinstance(probe, dict) or not isinstance(per_step, dict):
        raise broken("its probe or per_step section is not an object")
    if not per_method and not (isinstance(probe.get("calibration"), dict) and all(
            isinstance(v, dict) and all(_position(x) and x is not None for x in v.values())
            for v in probe["calibration"].values())):
        raise broken("its probe calibration is malformed")
    schedule = set(run.config.train.checkpoint_schedule())
    if not (isinstance(steps, list) and all(isinstance(s, int) and not isinstance(s, bool) for s in steps)
            and steps == sorted(set(steps)) and set(steps) <= schedule):
        raise broken("its steps are not ascending checkpoint steps of the run")
    if set(per_step) != {str(s) for s in steps}:
        raise broken("its per_step rows do not match its steps")
    labels = [space.class_label(c) for c in (space.heldout_classes() if per_method else space.all_classes())]
    for step in steps:
        row = per_step.get(str(step))
        entries = [row] if not per_method else list(row.values()) if isinstance(row, dict) else [None]
        if per_method and (not isinstance(row, dict) or "plain" not in row):
            raise broken(f"step {step} has no plain-prompting row")
        for methods in entries:
            if not (isinstance(methods, dict) and all(_class_entry(methods.get(label), space.num_concepts)
                                                      for label in labels)):
                raise broken(f"the row of step {step} is malformed")


EARLIER_SETTINGS = {"precision": "fp32"}
"""Settings added to the format later, with the value every summary written before them used, so a pass over an
older summary (the bundled run's) does not start over just because the key is new."""

MOVED_SETTINGS = ("probe",)
"""Keys that older summaries kept in their settings and that moved out (the probe digest is now the summary's
"probe" section, so a new probe re-scores instead of re-sampling); ignored when comparing settings."""


class StepSummary:
    """One incremental summary file, opened for filling in."""

    def __init__(self, run: Run, path: Path, settings: dict[str, Any], command: str, per_method: bool) -> None:
        self.path = path
        where = run.layout.place(path)
        self.data: dict[str, Any] = {}
        if path.is_file():
            self.data = read_json(path, where, f"delete it and run `concept-explorer {command}` again.")
            if not isinstance(self.data, dict):
                raise RunFolderError(f"{where} is not a summary object; delete it and run `concept-explorer "
                                     f"{command}` again.")
        stored = self.data.get("settings")
        if isinstance(stored, dict):
            stored = {k: v for k, v in (EARLIER_SETTINGS | stored).items() if k not in MOVED_SETTINGS}
        self.restarted = stored != settings
        """True when no row of the stored summary (nor any file written with it) belongs to these settings."""
        if self.restarted:
            self.data = {"settings": settings, "per_step": {}}
        else:
            self.data["settings"] = settings
            if self.data.get("format") != SUMMARY_FORMAT:
                self.forget_rows()  # rows of an earlier format; the stored samples are re-scored
            else:
                check_summary(self.data, run, where, command, per_method)
        self.data["format"] = SUMMARY_FORMAT

    def forget_rows(self) -> None:
        self.data["per_step"] = {}

    def use_probe(self, digest: str, describe: Callable[[], dict[str, Any]]) -> bool:
        """Record the probe (by file digest) that scores the rows; a different one than the rows were scored with
        drops them (stored samples are re-scored) and stores `describe()` beside the digest. Returns whether it did."""
        if isinstance(self.data.get("probe"), dict) and self.data["probe"].get("digest") == digest:
            return False
        self.data["probe"] = {"digest": digest, **describe()}
        self.forget_rows()
        return True

    def fill(self, steps: list[int], row_at: Callable[[int], dict], desc: str, progress: bool = True) -> list[int]:
        """Compute `row_at(step)` for every step without a row, saving after each; returns the steps done now.
        A summary with nothing new is still written, so it is readable after any call."""
        todo = [s for s in steps if str(s) not in self.data["per_step"]]
        for step in tqdm(todo, disable=not progress, desc=desc, unit="ckpt"):
            self.data["per_step"][str(step)] = row_at(step)
            self.save()
        if not todo:
            self.save()
        return todo

    def save(self) -> None:
        self.data["steps"] = sorted(int(s) for s in self.data["per_step"])
        atomic_write_json(self.path, self.data)


def restrict_summary(source: Path, destination: Path, steps: list[int]) -> None:
    """A copy of a pass summary holding only `steps`' rows (for a run copied with Run.copy_to)."""
    summary = read_json(source, source.name, "run the pass again.")
    summary["steps"] = [s for s in summary["steps"] if int(s) in steps]
    summary["per_step"] = {k: v for k, v in summary["per_step"].items() if int(k) in steps}
    destination.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(destination, summary)
