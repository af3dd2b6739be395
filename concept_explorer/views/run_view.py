"""What the explorer shows about a run, loaded once so that every per-step panel is a cheap lookup.

`RunDashboard` reads a run's stored evaluation, capability curves and phases, renders the class-mean thumbnails,
and answers "the panels at checkpoint i" as plotly specs and images in about a millisecond each (stored
generation grids are built on first use and kept). `RunCatalog` finds the runs the app offers: every run folder
under the given roots (checkpoints/, runs/) plus folders named on the command line. No gradio here.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from ..analysis.capability import CapabilityCurves, capability_curves, load_elicitation, read_elicited_samples
from ..analysis.definitions import LearningStep
from ..analysis.evaluate import Evaluation
from ..analysis.phases import Phases, class_learning_steps, find_phases
from ..core.concepts import LEVEL_NAMES
from ..core.render import render, sample_attributes
from ..core.run import Run, RunFolderError
from . import images as raster
from . import plots

PHASE_ORDER = ("training classes learned", "memorization", "hidden capability", "generalization")
PHASE_HELP = {
    "training classes learned": "every training class is generated correctly",
    "memorization": "the held-out prompt mostly yields a training class",
    "hidden capability": "an elicitation method already produces the held-out class",
    "generalization": "plain prompting produces the held-out class",
}


def axis_title(concept: str) -> str:
    """'P(blue)' for colour: the probability of the concept's level 1, the held-out direction."""
    return f"P({LEVEL_NAMES[concept][1]})"


def class_mean_images(run: Run, seed: int = 0) -> np.ndarray:
    """One centred render per class at its exact class mean, (C, 3, R, R) uint8: what each corner means."""
    space = run.config.concept_space
    generator = torch.Generator().manual_seed(seed)
    codes = torch.tensor(space.all_classes())
    attributes = sample_attributes(space, codes, generator, at_mean=True)
    attributes = dataclasses.replace(attributes, x=torch.zeros(len(codes)), y=torch.zeros(len(codes)))
    pictures = render(space, attributes, generator)
    return (pictures * 255).round().to(torch.uint8).numpy()


class RunDashboard:
    """The panels of one evaluated run."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.evaluation = Evaluation(run)
        if not self.evaluation.steps:
            raise RunFolderError(f"{run.name} has no evaluated checkpoints yet; run `concept-explorer evaluate`.")
        space = run.config.concept_space
        self.space = space
        self.steps = self.evaluation.steps
        self.labels = self.evaluation.labels
        self.names = [space.class_name(c) for c in space.all_classes()]
        self.heldout = [sum(c) > 1 for c in space.all_classes()]
        self.concepts = list(space.concepts)
        self.axis_titles = [axis_title(c) for c in self.concepts]
        self.heldout_label = space.class_label(space.heldout_classes()[0])
        self.heldout_name = space.class_name(space.heldout_classes()[0])
        self.learning = class_learning_steps(self.evaluation)
        self.curves: CapabilityCurves | None = None
        self.curves_problem: str | None = None
        try:
            self.curves = capability_curves(load_elicitation(run), self.heldout_label)
        except (RunFolderError, KeyError, ValueError, IndexError) as error:
            self.curves_problem = str(error) if isinstance(error, RunFolderError) else (
                f"The capability curves of {run.name} are incomplete; re-run `concept-explorer elicit`.")
        self.phases: Phases = find_phases(self.evaluation, self.curves)
        self.jump_targets = self.phases.jump_targets()
        self.corner_images = [raster.png_data_uri(image, scale=4) for image in class_mean_images(run)]
        self._grids: dict[tuple[int, bool], Image.Image] = {}
        self._elicited: dict[tuple[int, bool], Image.Image | None] = {}
        self._lock = threading.Lock()

    @classmethod
    def load(cls, path: str | Path) -> RunDashboard:
        return cls(Run.open(path))

    # -- steps ------------------------------------------------------------------------------------------------------
    @property
    def supports_guidance(self) -> bool:
        return self.run.config.train.p_uncond > 0

    def nearest_index(self, step: float) -> int:
        """Index of the evaluated checkpoint nearest to `step` (ties go to the earlier one)."""
        return int(np.argmin([abs(s - step) for s in self.steps]))

    def check_index(self, index: Any) -> int:
        if isinstance(index, bool) or not isinstance(index, (int, float)) or not np.isfinite(index) \
                or int(index) != index or not 0 <= index < len(self.steps):
            raise ValueError(f"Checkpoint index must be a whole number from 0 to {len(self.steps) - 1}, got {index!r}.")
        return int(index)

    # -- panels -----------------------------------------------------------------------------------------------------
    def concept_space(
        self, index: int, smoothing: float = 0.0, live_points: np.ndarray | None = None, live_name: str = "live",
        live_faded: bool = False, large: bool = False, height: int | None = None, title: str | None = None,
    ) -> plots.Spec:
        return plots.concept_space_spec(
            self.steps, self.labels, self.names, self.evaluation.coordinates, self.heldout, self.axis_titles,
            current=index, smoothing=smoothing, corner_images=self.corner_images, live_points=live_points,
            live_name=live_name, live_faded=live_faded, large=large, height=height, title=title,
        )

    def accuracy(self, index: int | None, large: bool = False, height: int | None = None) -> plots.Spec:
        panels = ["joint", *self.concepts]
        learning = {p: [self.learning[label][p].step for label in self.labels] for p in panels}
        return plots.accuracy_spec(
            self.steps, self.names, self.heldout, self.evaluation.concept_accuracy, self.evaluation.joint_accuracy,
            self.concepts, learning, current_step=None if index is None else self.steps[index], large=large,
            height=height,
        )

    def capability(self, index: int | None, large: bool = False, height: int | None = None) -> plots.Spec:
        if self.curves is None:
            return plots.message_spec(self.curves_problem or "No capability curves.", height or 360, large)
        learned = {f: s.step for f, s in self.curves.learned.items()}
        shown = (min(self.steps[0], self.curves.steps[0]), max(self.steps[-1], self.curves.steps[-1]))
        return plots.capability_spec(
            self.curves.steps, self.curves.joint, learned, self.heldout_name,
            current_step=None if index is None else self.steps[index], best_key=self.curves.best_key, large=large,
            height=height, step_range=shown,
        )

    def generations(self, index: int, large: bool = False) -> Image.Image:
        """The stored generations of every class at checkpoint `index` (8 per class)."""
        key = (index, large)
        with self._lock:
            if key not in self._grids:
                samples = self.evaluation.samples(self.steps[index])
                self._grids[key] = raster.class_grid(
                    samples["images"].numpy(), samples["labels"].numpy(), self.names, self.heldout, per_class=8,
                    scale=4 if self.space.resolution <= 16 else 2, large=large,
                    caption=f"Stored generations at step {self.steps[index]:,}",
                )
            return self._grids[key]

    def elicited(self, index: int, large: bool = False) -> Image.Image | None:
        """The held-out class at checkpoint `index` under each stored elicitation method, or None."""
        key = (index, large)
        with self._lock:
            if key not in self._elicited:
                self._elicited[key] = self._elicited_grid(self.steps[index], large)
            return self._elicited[key]

    def _elicited_grid(self, step: int, large: bool) -> Image.Image | None:
        if self.curves is None or step not in self.curves.steps:
            return None
        try:
            stored = read_elicited_samples(self.run, step)
        except RunFolderError:
            return None
        order = list(plots.FAMILY_NAMES)

        def rank(method: str) -> tuple[int, str]:
            family = method.split("@")[0]
            return (order.index(family) if family in order else len(order), method)

        methods = sorted({k.split("/")[0] for k in stored if k.endswith(f"/{self.heldout_label}/images")}, key=rank)
        if not methods:
            return None
        pictures = np.concatenate([stored[f"{m}/{self.heldout_label}/images"].numpy()[:8] for m in methods])
        counts = [min(8, len(stored[f"{m}/{self.heldout_label}/images"])) for m in methods]
        colors = [plots.FAMILY_COLORS.get(m.split("@")[0], "#555") for m in methods]
        return raster.class_grid(pictures, np.repeat(np.arange(len(methods)), counts), methods,
                                 [False] * len(methods), per_class=8, scale=4 if self.space.resolution <= 16 else 2,
                                 large=large, colors=colors,
                                 caption=f"{self.heldout_name} under each elicitation method at step {step:,}")

    # -- words ------------------------------------------------------------------------------------------------------
    def step_caption(self, index: int) -> str:
        """One line about the held-out class at this checkpoint, in plain words."""
        c = self.labels.index(self.heldout_label)
        outcomes = self.evaluation.outcomes[index][c]
        correct = outcomes.get(self.heldout_label, 0.0)
        others = {k: v for k, v in outcomes.items() if k != self.heldout_label}
        text = f"Prompted as **{self.heldout_name}**, {correct:.0%} of the samples are {self.heldout_name}"
        if others:
            label, share = max(others.items(), key=lambda item: item[1])
            name = "no object" if label == "none" else self.names[self.labels.index(label)]
            text += f"; the most common mistake is {name} ({share:.0%})"
        phase = self.phase_at(index)
        if phase:
            text += f". Phase: *{phase}*"
        return text + "."

    def phase_at(self, index: int) -> str | None:
        """The latest phase that has begun by checkpoint `index`."""
        step = self.steps[index]
        begun = [(s, name) for name, s in self.jump_targets.items() if s <= step]
        return max(begun)[1] if begun else None

    def describe(self) -> str:
        config = self.run.config
        space = config.concept_space
        deltas = ", ".join(f"Δ{c} = {getattr(space, 'delta_' + c):g}" for c in space.concepts if c != "shape")
        guidance = f", null token for guidance (p_uncond = {config.train.p_uncond:g})" if self.supports_guidance else ""
        return (f"**{self.run.name}** · preset `{config.preset}` · {space.resolution} px · concepts "
                f"{', '.join(space.concepts)} ({deltas}) · {len(self.steps)} evaluated checkpoints up to step "
                f"{self.steps[-1]} · seed {config.train.seed}{guidance} · status {self.run.status}")

    def learning_summary(self) -> str:
        rows = []
        for label, name in zip(self.labels, self.names):
            step = self.learning[label]["joint"]
            rows.append(f"{name}{' (held out)' if self.heldout[self.labels.index(label)] else ''}: {step}")
        if self.curves is not None:
            for family, learned in self.curves.learned.items():
                gap = self.curves.gap(family) if family != "plain" else None
                extra = f" (gap {gap} steps)" if gap is not None else ""
                rows.append(f"{plots.FAMILY_NAMES.get(family, family)} → {self.heldout_name}: {learned}{extra}")
        return "Learning steps (first checkpoint of ≥3 in a row at ≥80 % correct): " + "; ".join(rows) + "."

    # -- exports ----------------------------------------------------------------------------------------------------
    def table(self) -> list[dict[str, Any]]:
        """One row per (checkpoint, class): concept-space coordinates, accuracies, presence."""
        rows = []
        for t, step in enumerate(self.steps):
            for c, (label, name) in enumerate(zip(self.labels, self.names)):
                row: dict[str, Any] = {"run": self.run.name, "step": step, "class": label, "name": name,
                                       "held_out": self.heldout[c]}
                for k, concept in enumerate(self.concepts):
                    value = self.evaluation.coordinates[t, c, k]
                    row[self.axis_titles[k]] = None if np.isnan(value) else round(float(value), 5)
                for k, concept in enumerate(self.concepts):
                    row[f"{concept}_accuracy"] = round(float(self.evaluation.concept_accuracy[t, c, k]), 5)
                row["joint_accuracy"] = round(float(self.evaluation.joint_accuracy[t, c]), 5)
                row["presence"] = round(float(self.evaluation.presence[t, c]), 5)
                rows.append(row)
        return rows

    def to_csv(self) -> str:
        rows = self.table()
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
        return buffer.getvalue()

    def to_json(self) -> str:
        def learned(step: LearningStep) -> int | None:
            return step.step

        data: dict[str, Any] = {
            "run": self.run.name, "config": self.run.config.to_dict(), "steps": self.steps,
            "classes": dict(zip(self.labels, self.names)), "heldout": self.heldout_label,
            "per_step": self.table(),
            "learning_steps": {label: {k: learned(v) for k, v in per.items()} for label, per in self.learning.items()},
            "phases": self.jump_targets,
        }
        if self.curves is not None:
            data["capability"] = {
                "class": self.heldout_label, "steps": self.curves.steps,
                "joint": {f: [round(float(v), 5) for v in values] for f, values in self.curves.joint.items()},
                "best_key": self.curves.best_key,
                "learned": {f: learned(s) for f, s in self.curves.learned.items()},
                "gap": {f: self.curves.gap(f) for f in self.curves.learned if f != "plain"},
            }
        return json.dumps(data, indent=1)

    def animation(self, smoothing: float = 0.0, frame_ms: int = 400) -> bytes:
        """A GIF of the trajectories growing checkpoint by checkpoint, with each checkpoint's generations."""
        from ..analysis.definitions import smooth

        xy = smooth(self.evaluation.coordinates, smoothing)[..., :2]
        grids = []
        for t in range(len(self.steps)):
            grid = self.generations(t)
            grids.append(grid.resize((grid.width * 400 // max(grid.height, 1), 400)) if grid.height > 400 else grid)
        frames = raster.concept_space_frames(self.steps, self.names, xy, self.heldout, self.axis_titles[:2],
                                             grids=grids, title=self.run.name)
        return raster.gif_bytes(frames, frame_ms=frame_ms)


class RunCatalog:
    """The runs the app offers, by unique name; dashboards are built once and rebuilt when a run changes."""

    def __init__(self, roots: Iterable[str | Path] = (), extra: Iterable[str | Path] = ()) -> None:
        self.roots = [Path(r).resolve() for r in roots]
        self.extra = [Path(p).resolve() for p in extra]
        self.paths: dict[str, Path] = {}
        self.problems: dict[str, str] = {}
        self._dashboards: dict[str, tuple[tuple, RunDashboard]] = {}
        self._lock = threading.RLock()
        self.refresh()

    def refresh(self) -> None:
        """Re-scan the roots: new run folders appear, deleted ones go away."""
        found: list[Path] = []
        for root in self.roots:
            if root.is_dir():
                found += sorted(p for p in root.iterdir() if (p / "run.json").is_file())
        found += [p for p in self.extra if p not in found]
        paths: dict[str, Path] = {}
        for path in found:
            name = path.name if path.name not in paths else f"{path.parent.name}/{path.name}"
            paths[name] = path
        with self._lock:
            self.paths = paths

    @property
    def names(self) -> list[str]:
        """Runs that can be shown (evaluated and valid), in discovery order."""
        return [n for n in self.paths if self._try(n) is not None]

    def _try(self, name: str) -> RunDashboard | None:
        try:
            return self.get(name)
        except (RunFolderError, ValueError) as error:
            self.problems[name] = str(error)
            return None

    @staticmethod
    def _stamp(path: Path) -> tuple:
        """Changes whenever training, evaluation or elicitation wrote something new."""
        files = [path / "run.json", path / "evaluation" / "summary.json", path / "elicitation" / "summary.json"]
        return tuple(f.stat().st_mtime_ns if f.is_file() else None for f in files)

    def get(self, name: str) -> RunDashboard:
        """The dashboard of a run by name; a clear RunFolderError for an unknown or unusable run."""
        with self._lock:
            if name not in self.paths:
                known = ", ".join(self.paths) or "none"
                raise RunFolderError(f"Unknown run {name!r}; available runs: {known}.")
            path = self.paths[name]
            stamp = self._stamp(path)
            cached = self._dashboards.get(name)
            if cached is not None and cached[0] == stamp:
                return cached[1]
        dashboard = RunDashboard.load(path)
        with self._lock:
            self._dashboards[name] = (stamp, dashboard)
            self.problems.pop(name, None)
        return dashboard

    def add(self, path: str | Path) -> str:
        """Offer another run folder (e.g. one trained from the UI); returns its name."""
        path = Path(path).resolve()
        with self._lock:
            if path not in self.extra:
                self.extra.append(path)
            self.refresh()
            return next(n for n, p in self.paths.items() if p == path)

    def warm(self, names: Sequence[str] | None = None) -> None:
        """Build dashboards and the final checkpoint's grids ahead of the first request."""
        for name in names or list(self.paths):
            dashboard = self._try(name)
            if dashboard is not None:
                dashboard.generations(len(dashboard.steps) - 1)
