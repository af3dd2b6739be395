"""What the explorer shows about a run, loaded once so that every per-step panel is a cheap lookup.

`RunDashboard` reads a run's stored evaluation, capability curves and phases, renders the class-mean thumbnails,
and answers "the panels at checkpoint i" as plotly specs and images in about a millisecond each (stored
generation grids are built on first use and kept). No gradio here.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from ..analysis.capability import CapabilityCurves, capability_curves, load_elicitation, read_elicited_samples
from ..analysis.definitions import DEFAULT_CRITERION
from ..analysis.distance_time import DistanceTime, distance_time
from ..analysis.evaluate import Evaluation
from ..analysis.phases import (
    GENERALIZATION,
    HIDDEN,
    MEMORIZATION,
    PHASE_ORDER,
    TURN,
    Phases,
    best_elicitation,
    class_learning_steps,
    find_phases,
)
from ..analysis.seeds import SeedBands, group_bands
from ..analysis.summaries import MissingSummary, OutdatedSummary
from ..core.concepts import LEVEL_NAMES
from ..core.limits import Range
from ..core.render import render, sample_attributes
from ..core.run import Run, RunFolderError
from . import images as raster
from . import plots
from .concept_slots import ConceptSlots
from .concept_space import concept_planes, concept_space_spec, distance_time_spec, live_traces

PHASE_HELP = dict(zip(PHASE_ORDER, (
    "every training class is generated correctly",
    "the held-out prompt mostly yields a training class",
    "elicitation already produces the held-out class, plain prompting not yet (shown where it leads by the most)",
    "plain prompting produces the held-out class",
))) | {TURN: "the held-out trajectory stops heading for the class it was mistaken for and turns to its own corner"}
CONCEPT_NAMES = {"color": "colour", "size": "size", "bg": "background", "shape": "shape"}
"""How a concept is named on an axis."""
HELDOUT_PHASES = (MEMORIZATION, HIDDEN, GENERALIZATION)
"""The phases that are about the held-out prompt, so they are marked on its trajectory."""


@dataclasses.dataclass(frozen=True)
class PhaseTile:
    """One phase of the story: its checkpoint and what the held-out prompt draws there."""

    phase: str
    step: int
    explanation: str  # what the phase means, in a sentence
    grid: raster.LabelledGrid  # row 0: plain prompting; row 1, where stored: the elicitation method best there


def axis_title(concept: str, levels: tuple[str, str] | None = None) -> str:
    """'colour: red 0 → blue 1': the concept's position, 0 at level 0's class mean, 1 at level 1's (the held-out
    direction). `levels` names them where the concept is no synthetic one (ConceptSpace.level_names)."""
    low, high = levels or LEVEL_NAMES[concept]
    return f"{CONCEPT_NAMES.get(concept, concept)}: {low} 0 → {high} 1"


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

    def __init__(self, run: Run, criterion: str = DEFAULT_CRITERION) -> None:
        self.run = run
        self.criterion = criterion  # what counts as a class (definitions.CRITERIA): accuracies, curves, phases
        self.evaluation = Evaluation(run, criterion)
        if not self.evaluation.steps:
            raise RunFolderError(f"{run.name} has no evaluated checkpoints yet; run `concept-explorer evaluate`.")
        space = run.config.concept_space
        self.space = space
        self.steps = self.evaluation.steps
        self.labels = self.evaluation.labels
        self.names = [space.class_name(c) for c in space.all_classes()]
        self.heldout = [sum(c) > 1 for c in space.all_classes()]
        self.concepts = list(space.concepts)
        self.slots = ConceptSlots(space)  # which generation control stands for which concept
        self.axis_titles = [axis_title(c, space.level_names(c)) for c in self.concepts]
        self.heldout_label = space.class_label(space.heldout_classes()[0])
        self.heldout_name = space.class_name(space.heldout_classes()[0])
        self.learning = class_learning_steps(self.evaluation)
        self.curves: CapabilityCurves | None = None
        self.curves_problem: str | None = None
        try:
            self.curves = capability_curves(load_elicitation(run), self.heldout_label, criterion=criterion)
        except (MissingSummary, OutdatedSummary) as error:  # not elicited (yet): the rest of the run still shows
            self.curves_problem = str(error)
        self.phases: Phases = find_phases(self.evaluation, self.curves)
        self.jump_targets = self.phases.jump_targets()
        # A CelebA class has no one picture (and its faces stay in the user's copy): its corner is named by the axes.
        self.corner_images = ([raster.png_data_uri(image, scale=4) for image in class_mean_images(run)]
                              if space.dataset == "synthetic" else [None] * len(self.labels))
        self._built: dict[tuple, Any] = {}  # grids and the phase strip, built on first use
        self._lock = threading.RLock()  # a labelled grid is built from its cached text-free grid

    @classmethod
    def load(cls, path: str | Path, criterion: str = DEFAULT_CRITERION) -> RunDashboard:
        """The dashboard of a run folder; any way its files fail to make one is a RunFolderError in one sentence
        (the folder is untrusted: the checks of core/folder_checks.py and analysis/summaries.py name what is wrong,
        and whatever they miss is still reported, never raised as something else)."""
        run = Run.open(path)
        try:
            return cls(run, criterion)
        except (RunFolderError, ValueError):
            raise
        except (KeyError, TypeError, AttributeError, IndexError, ZeroDivisionError, OverflowError) as error:
            raise RunFolderError(
                f"{run.name} cannot be shown: its stored files do not fit together ({type(error).__name__}: "
                f"{str(error)[:60]}); run `concept-explorer evaluate` and `elicit` on it again.") from None

    # -- steps ------------------------------------------------------------------------------------------------------
    @property
    def supports_guidance(self) -> bool:
        return self.run.config.train.p_uncond > 0

    @property
    def supports_masking(self) -> bool:
        """Only a run trained with masked prompts has a mask token to stand in for its masked concept."""
        return bool(self.run.config.train.mask_concept)

    def nearest_index(self, step: float) -> int:
        """Index of the evaluated checkpoint nearest to `step` (ties go to the earlier one)."""
        return int(np.argmin([abs(s - step) for s in self.steps]))

    def check_index(self, index: Any) -> int:
        return Range(0, len(self.steps) - 1, whole=True).check("Checkpoint index", index)

    def phase_at(self, index: int) -> str | None:
        """The most specific phase at checkpoint `index` (the rule is `Phases.phase_at`'s)."""
        return self.phases.phase_at(self.steps[index])

    @property
    def grid_scale(self) -> int:
        """Integer upscale of stored samples in grids: 16 px samples become 64 px tiles."""
        return 4 if self.space.resolution <= 16 else 2

    # -- panels -----------------------------------------------------------------------------------------------------
    def concept_space(
        self, index: int, smoothing: float = 0.0, live_points: np.ndarray | None = None, live_name: str = "live",
        live_faded: bool = False, large: bool = False, height: int | None = None, title: str | None = None,
        axes: tuple[int, int] = (0, 1),
    ) -> plots.Spec:
        """The trajectories in the plane of concepts `axes` (one of `planes`; the first two by default)."""
        phases = {name: step for name, step in self.jump_targets.items() if name in HELDOUT_PHASES}
        return concept_space_spec(
            self.steps, self.labels, self.names, self.evaluation.coordinates, self.heldout,
            [self.axis_titles[k] for k in axes], current=index, smoothing=smoothing, axes=axes,
            corner_images=self.corner_images, live_points=live_points, live_name=live_name, live_faded=live_faded,
            large=large, height=height, title=title, phases=phases, phase_class=self.labels.index(self.phases.label),
            turn=self.phases.turning_point.step if self.phases.turning_point else None,
        )

    @property
    def planes(self) -> list[tuple[int, int]]:
        """The pairs of concepts concept space is drawn in: one for a 2-concept run, three for 2x2x2."""
        return concept_planes(len(self.concepts))

    def plane_name(self, axes: tuple[int, int]) -> str:
        """'colour – size'."""
        return " – ".join(CONCEPT_NAMES.get(self.concepts[k], self.concepts[k]) for k in axes)

    def live_traces(self, points: np.ndarray, name: str, large: bool = False,
                    axes: tuple[int, int] = (0, 1)) -> list[plots.Spec]:
        """A live generation's samples (N, K) as the traces `concept_space` draws for them in the plane `axes`,
        alone: the page adds them to the concept plot it already shows."""
        return live_traces(np.asarray(points, dtype=float)[:, list(axes)], name, False,
                           [self.axis_titles[k] for k in axes], large)

    # -- distance vs time (three or more concepts) ----------------------------------------------------------------
    @property
    def distance_time(self) -> DistanceTime:
        """Each held-out class's distance from its corner when training converged, against its learning step
        (analysis/distance_time.py), under this dashboard's criterion."""
        return self.cached(("distance time",), lambda: distance_time(
            self.evaluation.coordinates, self.steps, self.space.all_classes(),
            {label: steps["joint"] for label, steps in self.learning.items()}, self.phases.training_learned))

    def distance_time_figure(self, large: bool = False, height: int | None = None) -> plots.Spec:
        result = self.distance_time
        rho = (f"ρ = {result.rho:.2f}, {result.points} learned" if not np.isnan(result.rho)
               else f"ρ undefined: {result.points} learned")
        return distance_time_spec(
            result, dict(zip(self.labels, self.names)), dict(zip(self.labels, raster.class_colors(self.heldout))),
            self.steps[-1], large=large, height=height,
            title=f"Distance vs learning step ({self.criterion}) · {rho}")

    def learning_table(self) -> dict[str, Any]:
        """Per class its learning steps (joint and per concept; None = not learned), bits from the training
        classes and distance from its corner at convergence (None for training classes and where unknown)."""
        timing = {c.label: c for c in self.distance_time.classes}
        rows = []
        for label, name, heldout in zip(self.labels, self.names, self.heldout):
            learned, held = self.learning[label], timing.get(label)
            rows.append({"name": name, "heldout": heldout, "bits": held.hamming if held else 0,
                         "joint": learned["joint"].step, "concepts": [learned[c].step for c in self.concepts],
                         "distance": round(held.distance, 3) if held and np.isfinite(held.distance) else None})
        return {"concepts": [CONCEPT_NAMES.get(c, c) for c in self.concepts], "rows": rows,
                "convergence": self.distance_time.convergence.step}

    def accuracy(self, index: int | None, large: bool = False, height: int | None = None) -> plots.Spec:
        panels = ["joint", *self.concepts]
        learning = {p: [self.learning[label][p].step for label in self.labels] for p in panels}
        return plots.accuracy_spec(
            self.steps, self.names, self.heldout, self.evaluation.concept_accuracy, self.evaluation.joint_accuracy,
            self.concepts, learning, current_step=None if index is None else self.steps[index], large=large,
            height=height, title=f"Accuracy per class ({self.criterion})",
        )

    def phase_spans(self) -> dict[str, tuple[int, int]]:
        """Each jump target as (start, end): memorization spans its window, the others are a moment."""
        window = self.phases.memorization.window
        return {name: window if name == MEMORIZATION and window else (step, step)
                for name, step in self.jump_targets.items()}

    @property
    def seed_bands(self) -> SeedBands | None:
        """Plain prompting and the best elicitation over the run's seed group (runs that differ only in seed), read
        once per dashboard; None without a sibling seed that has been evaluated and elicited."""
        return self.cached(("seed bands",), lambda: group_bands(self.run, self.criterion))

    def capability(self, index: int | None, large: bool = False, height: int | None = None) -> plots.Spec:
        if self.curves is None:
            return plots.message_spec(self.curves_problem or "No capability curves.", height or 360, large)
        learned = {f: s.step for f, s in self.curves.learned.items()}
        shown = (min(self.steps[0], self.curves.steps[0]), max(self.steps[-1], self.curves.steps[-1]))
        seeds = self.seed_bands
        bands = {}
        if seeds is not None:
            bands["plain"] = (seeds.steps, *seeds.plain[1:])
            if seeds.elicited is not None:
                bands["elicited"] = (seeds.steps, *seeds.elicited[1:])
        return plots.capability_spec(
            self.curves.steps, self.curves.joint, learned, self.heldout_name,
            current_step=None if index is None else self.steps[index], best_key=self.curves.best_key, large=large,
            height=height, step_range=shown, phases=self.phase_spans(),
            title=f"Hidden capability: {self.heldout_name} ({self.criterion})", bands=bands,
            seeds=len(seeds.numbers) if seeds else 0,
        )

    # -- stored samples -----------------------------------------------------------------------------------------------
    def cached(self, key: tuple, make: Callable[[], Any]) -> Any:
        """`make()` built once per key for this dashboard (a run that changed on disk gets a new dashboard, so
        everything is built afresh); also what the page's views of this run are kept in (ui/stepper.py)."""
        with self._lock:
            if key not in self._built:
                self._built[key] = make()
            return self._built[key]

    def generation_grid(self, index: int, scale: int | None = None) -> raster.LabelledGrid:
        """The stored generations of every class at checkpoint `index` (8 per class), without text; `scale`
        defaults to the grid scale of this resolution (1 = native pixels, for a browser that upscales)."""
        scale = scale or self.grid_scale

        def make() -> raster.LabelledGrid:
            samples = self.evaluation.samples(self.steps[index])
            return raster.class_rows(samples["images"].numpy(), samples["labels"].numpy(), self.names, self.heldout,
                                     per_class=8, scale=scale, pad=max(1, scale // 2),
                                     caption=f"Stored generations at step {self.steps[index]:,}")
        return self.cached(("stored", index, scale), make)

    def generations(self, index: int, large: bool = False) -> Image.Image:
        """`generation_grid` with its labels drawn in (for the GIF and the report)."""
        return self.cached(("stored", index, large), lambda: raster.draw_labels(self.generation_grid(index), large))

    def elicited_samples(self, step: int) -> dict[str, np.ndarray] | None:
        """The held-out class's stored samples at `step` per elicitation method key (plain first, then the
        families in FAMILY_NAMES order), (N, 3, R, R) uint8 each; None where there are none."""
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

        suffix = f"/{self.heldout_label}/images"
        methods = sorted((k.removesuffix(suffix) for k in stored if k.endswith(suffix)), key=rank)
        return {m: stored[m + suffix].numpy() for m in methods} or None

    def elicited_grid(self, index: int, scale: int | None = None) -> raster.LabelledGrid | None:
        """The held-out class at checkpoint `index` under each stored elicitation method (8 each), without text."""
        scale = scale or self.grid_scale

        def make() -> raster.LabelledGrid | None:
            step = self.steps[index]
            samples = self.elicited_samples(step)
            if samples is None:
                return None
            methods = list(samples)
            return raster.class_rows(
                np.concatenate([images[:8] for images in samples.values()]),
                np.repeat(np.arange(len(methods)), [min(8, len(images)) for images in samples.values()]),
                [plots.method_label(m) for m in methods],
                [False] * len(methods), per_class=8, scale=scale, pad=max(1, scale // 2),
                colors=[plots.FAMILY_COLORS.get(m.split("@")[0], "#555") for m in methods],
                caption=f"{self.heldout_name} under each elicitation method at step {step:,}")
        return self.cached(("elicited", index, scale), make)

    def elicited(self, index: int, large: bool = False) -> Image.Image | None:
        """`elicited_grid` with its labels drawn in, or None."""
        def make() -> Image.Image | None:
            grid = self.elicited_grid(index)
            return None if grid is None else raster.draw_labels(grid, large)
        return self.cached(("elicited", index, large), make)

    def phase_strip(self, samples: int = 4, scale: int | None = None) -> list[PhaseTile]:
        """Per phase in training order, `samples` stored samples of the held-out prompt at the phase's checkpoint
        under plain prompting and under the elicitation method with the highest joint accuracy there."""
        scale = scale or self.grid_scale
        return self.cached(("strip", samples, scale), lambda: [
            self._phase_tile(phase, self.nearest_index(step), samples, scale)
            for phase, step in self.jump_targets.items()])

    def _phase_tile(self, phase: str, index: int, samples: int, scale: int) -> PhaseTile:
        """Plain samples come from the elicitation pass where it stored the step (the same sampler noise as the
        method's, so the columns pair up), else from the evaluation (and then there is no method row)."""
        step, curves = self.steps[index], self.curves
        stored = self.elicited_samples(step)
        best = best_elicitation(curves) if curves is not None else None
        if curves is not None and stored is not None and best is not None:
            t = curves.steps.index(step)
            accuracy, methods = best
            rows = {"plain": (stored["plain"], curves.joint["plain"][t]), methods[t]: (stored[methods[t]], accuracy[t])}
        else:
            evaluated = self.evaluation.samples(step)
            c = self.labels.index(self.heldout_label)
            rows = {"plain": (evaluated["images"].numpy()[evaluated["labels"].numpy() == c],
                              self.evaluation.joint_accuracy[index, c])}
        names = [f"{plots.method_label(key)} · {accuracy:.0%} {self.heldout_name}"
                 for key, (_, accuracy) in rows.items()]
        shown = [pictures[:samples] for pictures, _ in rows.values()]
        grid = raster.class_rows(
            np.concatenate(shown), np.repeat(np.arange(len(rows)), [len(pictures) for pictures in shown]), names,
            [False] * len(rows), per_class=samples, scale=scale, pad=max(1, scale // 2), caption=f"{phase} · step {step:,}",
            colors=[plots.FAMILY_COLORS.get(key.split("@")[0], "#555") for key in rows])
        return PhaseTile(phase, step, PHASE_HELP[phase], grid)
