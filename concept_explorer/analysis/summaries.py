"""Incremental per-checkpoint summaries: the bookkeeping evaluation and elicitation share.

A summary is a JSON file `{"settings": ..., "per_step": {step: row}, "steps": [...]}` rewritten after every
checkpoint, so an interrupted pass keeps what it finished and the next call does only what is missing. When the
settings that produced the rows change, the rows no longer mean the same thing and the summary starts over.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from ..core.run import RunFolderError, atomic_write_json


def read_summary(path: Path, missing: str) -> dict[str, Any]:
    """A stored summary; `missing` is the sentence to raise when there is none."""
    if not path.is_file():
        raise RunFolderError(missing)
    try:
        return json.loads(path.read_text())
    except ValueError:
        raise RunFolderError(f"{path} is corrupt; delete it and run the command that wrote it again.") from None


EARLIER_SETTINGS = {"precision": "fp32"}
"""Settings added to the format later, with the value every summary written before them used, so a pass over an
older summary (the bundled run's) does not start over just because the key is new."""


class StepSummary:
    """One incremental summary file, opened for filling in."""

    def __init__(self, path: Path, settings: dict[str, Any]) -> None:
        self.path = path
        self.data: dict[str, Any] = json.loads(path.read_text()) if path.is_file() else {}
        stored = self.data.get("settings")
        if isinstance(stored, dict):
            stored = EARLIER_SETTINGS | stored
        self.restarted = stored != settings
        """True when no row of the stored summary (nor any file written with it) belongs to these settings."""
        if self.restarted:
            self.data = {"settings": settings, "per_step": {}}
        else:
            self.data["settings"] = settings

    def forget_rows(self) -> None:
        self.data["per_step"] = {}

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
