"""Incremental per-checkpoint summaries: the bookkeeping evaluation and elicitation share.

A summary is a JSON file `{"format": 2, "settings": ..., "probe": ..., "per_step": {step: row}, "steps": [...]}`
rewritten after every checkpoint, so an interrupted pass keeps what it finished and the next call does only what
is missing. When the settings that produced the rows change, the rows no longer mean the same thing and the
summary starts over (and its stored samples are drawn again). When only the probe or the row format changed, the
rows are dropped but the stored samples stay valid: the pass re-scores them without sampling again.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from ..core.run import RunFolderError, atomic_write_json

SUMMARY_FORMAT = 2
"""2: per-class rows hold calibrated positions and verdicts per criterion ({"coordinates", "presence",
"criteria": {criterion: {...}}}); 1 (no "format" key): P(level 1) coordinates and midpoint verdicts."""


def read_summary(path: Path, missing: str, command: str) -> dict[str, Any]:
    """A stored summary; `missing` is the sentence to raise when there is none, `command` the pass that writes it
    (named when the summary is of an earlier format)."""
    if not path.is_file():
        raise RunFolderError(missing)
    try:
        summary = json.loads(path.read_text())
    except ValueError:
        raise RunFolderError(f"{path} is corrupt; delete it and run the command that wrote it again.") from None
    check_format(summary, f"{path}", command)
    return summary


def check_format(summary: dict[str, Any], what: str, command: str) -> None:
    """Raise a clear RunFolderError for a summary written before positions and criteria."""
    if summary.get("format") != SUMMARY_FORMAT:
        raise RunFolderError(
            f"{what} was written by an earlier version (P(level 1) coordinates, no strict/lenient criteria); re-run "
            f"`concept-explorer {command}` on the run (with the same settings it re-scores the stored samples instead "
            "of drawing them again).")


EARLIER_SETTINGS = {"precision": "fp32"}
"""Settings added to the format later, with the value every summary written before them used, so a pass over an
older summary (the bundled run's) does not start over just because the key is new."""

MOVED_SETTINGS = ("probe",)
"""Keys that older summaries kept in their settings and that moved out (the probe digest is now the summary's
"probe" section, so a new probe re-scores instead of re-sampling); ignored when comparing settings."""


class StepSummary:
    """One incremental summary file, opened for filling in."""

    def __init__(self, path: Path, settings: dict[str, Any]) -> None:
        self.path = path
        self.data: dict[str, Any] = json.loads(path.read_text()) if path.is_file() else {}
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
        self.data["format"] = SUMMARY_FORMAT

    def forget_rows(self) -> None:
        self.data["per_step"] = {}

    def use_probe(self, digest: str, describe: Callable[[], dict[str, Any]]) -> bool:
        """Record the probe (by file digest) that scores the rows; a different one than the rows were scored with
        drops them (stored samples are re-scored) and stores `describe()` beside the digest. Returns whether it did."""
        if self.data.get("probe", {}).get("digest") == digest:
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
