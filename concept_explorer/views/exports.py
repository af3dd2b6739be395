"""A run's data as files a viewer takes away: the per-checkpoint table (CSV), everything the page knows (JSON),
and the trajectory animation (GIF)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import numpy as np

from ..analysis.definitions import LearningStep, smooth
from . import images as raster
from .run_view import RunDashboard


def table(view: RunDashboard) -> list[dict[str, Any]]:
    """One row per (checkpoint, class): concept-space coordinates (mean position per concept: 0 = level 0's class
    mean, 1 = level 1's), accuracies under the view's criterion, presence."""
    evaluation = view.evaluation
    rows = []
    for t, step in enumerate(view.steps):
        for c, (label, name) in enumerate(zip(view.labels, view.names)):
            row: dict[str, Any] = {"run": view.run.name, "step": step, "class": label, "name": name,
                                   "held_out": view.heldout[c]}
            for k, concept in enumerate(view.concepts):
                value = evaluation.coordinates[t, c, k]
                row[f"{concept}_position"] = None if np.isnan(value) else round(float(value), 5)
            for k, concept in enumerate(view.concepts):
                row[f"{concept}_accuracy"] = round(float(evaluation.concept_accuracy[t, c, k]), 5)
            row["joint_accuracy"] = round(float(evaluation.joint_accuracy[t, c]), 5)
            row["presence"] = round(float(evaluation.presence[t, c]), 5)
            rows.append(row)
    return rows


def to_csv(view: RunDashboard) -> str:
    rows = table(view)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def to_json(view: RunDashboard) -> str:
    def learned(step: LearningStep) -> int | None:
        return step.step

    data: dict[str, Any] = {
        "run": view.run.name, "config": view.run.config.to_dict(), "criterion": view.criterion, "steps": view.steps,
        "classes": dict(zip(view.labels, view.names)), "heldout": view.heldout_label,
        "per_step": table(view),
        "learning_steps": {label: {k: learned(v) for k, v in per.items()} for label, per in view.learning.items()},
        "phases": view.jump_targets,
    }
    if view.curves is not None:
        curves = view.curves
        data["capability"] = {
            "class": view.heldout_label, "steps": curves.steps,
            "joint": {f: [round(float(v), 5) for v in values] for f, values in curves.joint.items()},
            "best_key": curves.best_key,
            "learned": {f: learned(s) for f, s in curves.learned.items()},
            "gap": {f: curves.gap(f) for f in curves.learned if f != "plain"},
        }
    return json.dumps(data, indent=1)


def animation(view: RunDashboard, smoothing: float = 0.0, frame_ms: int = 400) -> bytes:
    """A GIF of the trajectories growing checkpoint by checkpoint, with each checkpoint's generations."""
    xy = smooth(view.evaluation.coordinates, smoothing)[..., :2]
    grids = []
    for t in range(len(view.steps)):
        grid = view.generations(t)
        grids.append(grid.resize((grid.width * 400 // max(grid.height, 1), 400)) if grid.height > 400 else grid)
    frames = raster.concept_space_frames(view.steps, view.names, xy, view.heldout, view.axis_titles[:2],
                                         grids=grids, title=view.run.name)
    return raster.gif_bytes(frames, frame_ms=frame_ms)
