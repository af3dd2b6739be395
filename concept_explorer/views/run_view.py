"""What the explorer shows about a run, loaded once so that every per-step panel is a cheap lookup.

`RunDashboard` reads a run's stored evaluation, capability curves and phases, renders the class-mean thumbnails,
and answers "the panels at checkpoint i" as plotly specs and images in about a millisecond each (stored
generation grids are built on first use and kept). No gradio here.
"""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from ..analysis.capability import CapabilityCurves, capability_curves, load_elicitation, read_elicited_samples
from ..analysis.evaluate import Evaluation
from ..analysis.phases import Phases, class_learning_steps, find_phases
from ..core.concepts import LEVEL_NAMES
from ..core.limits import Range
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
        return Range(0, len(self.steps) - 1, whole=True).check("Checkpoint index", index)

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

    def phase_at(self, index: int) -> str | None:
        """The latest phase that has begun by checkpoint `index`."""
        step = self.steps[index]
        begun = [(s, name) for name, s in self.jump_targets.items() if s <= step]
        return max(begun)[1] if begun else None
