"""Live generation: sample a checkpoint at settings a viewer chooses, and place each sample in concept space.

This is the science half of the UI's generation panel (no gradio here). `LiveGenerator` keeps loaded models per
(run, step), patched copies per (run, step, donor step) and one probe per run, validates every setting with a
one-sentence `ValueError`, and caches results by their inputs, so moving a slider back is instant.

Settings, and how they map onto the core's elicitation functions (elicit.py):
- `concept_vector`: a position along each concept's semantic axis, 0 = level-0 class mean (red, large), 1 =
  level-1 class mean (blue, small); h = `ConceptSpace.prompt_at(positions)`, clipped to [0, 1] like training h.
- `overprompt` s: `elicit.overprompt` applied to that prompt, for each concept in `overprompt_concepts`.
- `intervention` weights w_k and `intervention_strength` s: `elicit.intervention` with strengths s·w_k toward the
  target class (the class nearest to the concept vector), along difference directions of this checkpoint taken as
  `direction` says (`elicit.DIRECTIONS`: pairs, orthogonal or at the target).
- `patch_step`: `elicit.patch_embedding` with the ConceptEmbedding of that checkpoint.
- `guidance` w: classifier-free guidance, only for runs trained with a null token.
- `masked`: the run's masked concept (train.mask_concept) left unspecified in the prompt, so its learned mask token
  stands in (concepts.mask_concept), only for runs trained with masked prompts.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..core import limits
from ..core.concepts import ConceptSpace, mask_concept
from ..core.precision import resolve_precision
from ..core.run import Run
from ..core.sampling import generate
from ..core.vdm import VDM
from .definitions import BETWEEN, DEFAULT_CRITERION, summarize_class
from .elicit import DEFAULT_DIRECTION, DIRECTIONS, check_guidance, intervention, overprompt, patch_embedding
from .run_probe import RunProbe, load_probe


@dataclass(frozen=True)
class LiveSettings:
    """Everything that determines a live generation (hashable: it is the cache key)."""

    step: int
    concept_vector: tuple[float, ...]
    overprompt: float = 0.0
    overprompt_concepts: tuple[str, ...] = ()
    intervention: tuple[float, ...] = ()
    intervention_strength: float = 0.0
    projection: bool = False
    direction: str = DEFAULT_DIRECTION  # how each concept's direction d is taken (elicit.DIRECTIONS)
    patch_step: int | None = None
    guidance: float = 1.0
    masked: bool = False
    seed: int = 0
    samples: int = limits.DEFAULT_SAMPLES
    sample_steps: int = limits.DEFAULT_SAMPLE_STEPS

    def validated(self, run: Run) -> LiveSettings:
        """A normalised copy (ints as ints, floats as floats), or a ValueError saying what is wrong."""
        space = run.config.concept_space
        concepts = list(space.concepts)
        step = _check_step(run, self.step, "step")
        patch = None if self.patch_step is None else _check_step(run, self.patch_step, "patch source step")
        if len(self.concept_vector) != len(concepts):
            raise ValueError(f"The concept vector needs one position per concept {concepts}, got "
                             f"{len(self.concept_vector)}.")
        vector = tuple(limits.POSITION.check(f"{c} position", v) for c, v in zip(concepts, self.concept_vector))
        unknown = [c for c in self.overprompt_concepts if c not in concepts]
        if unknown:
            raise ValueError(f"Unknown concept(s) {unknown} to overprompt; this run's concepts are {concepts}.")
        weights = self.intervention or (0.0,) * len(concepts)
        if len(weights) != len(concepts):
            raise ValueError(f"The intervention direction needs one weight per concept {concepts}, got {len(weights)}.")
        weights = tuple(limits.WEIGHT.check(f"{c} intervention weight", w) for c, w in zip(concepts, weights))
        if not isinstance(self.projection, bool):
            raise ValueError(f"projection must be true or false, got {self.projection!r}.")
        if not isinstance(self.direction, str) or self.direction not in DIRECTIONS:
            *others, last = DIRECTIONS
            raise ValueError(f"Unknown direction {self.direction!r} for the intervention; choose "
                             f"{', '.join(others)} or {last}.")
        strength = limits.STRENGTH.check("intervention strength", self.intervention_strength)
        # Without an intervention the direction changes nothing: one cache entry, not one per direction.
        direction = self.direction if strength and any(weights) else DEFAULT_DIRECTION
        guidance = limits.GUIDANCE.check("guidance weight", self.guidance)
        check_guidance(guidance, run.config.train.p_uncond > 0)
        if not isinstance(self.masked, bool):
            raise ValueError(f"masked must be true or false, got {limits.shown(self.masked)}.")
        if self.masked and not run.config.train.mask_concept:
            raise ValueError(f"{run.name} was not trained with masked prompts, so no concept can be left unspecified.")
        return LiveSettings(
            step=step, concept_vector=vector,
            overprompt=limits.OVERPROMPT.check("overprompt strength", self.overprompt),
            overprompt_concepts=tuple(c for c in concepts if c in self.overprompt_concepts),
            intervention=weights, intervention_strength=strength, projection=self.projection, direction=direction,
            patch_step=patch, guidance=guidance, masked=self.masked,
            seed=limits.SEED.check("seed", self.seed),
            samples=limits.SAMPLES.check("sample count", self.samples),
            sample_steps=limits.SAMPLE_STEPS.check("sampling steps", self.sample_steps),
        )

    def target_code(self) -> tuple[int, ...]:
        """The class nearest to the concept vector: the class an intervention and overprompting push toward."""
        return tuple(int(p >= 0.5) for p in self.concept_vector)


def _check_step(run: Run, step: Any, name: str) -> int:
    value = limits.STEP.check(name, step)
    if value not in run.steps:
        if not run.steps:
            raise ValueError(f"{run.name} has no checkpoints yet.")
        nearest = min(run.steps, key=lambda s: abs(s - value))
        raise ValueError(f"{name} {value} is not a checkpoint of {run.name}; the nearest checkpoint is {nearest}.")
    return value


@dataclass(frozen=True)
class LiveResult:
    settings: LiveSettings
    images: np.ndarray  # (N, 3, R, R) uint8
    coordinates: np.ndarray | None  # (N, K) position per sample and concept; None when the run has no probe
    presence: np.ndarray | None  # (N,) P(an object is drawn)
    h: np.ndarray  # (11,) the prompt actually used (after overprompting and clipping; NaN where masked)
    target: str  # label of the class the settings point at, e.g. '11'
    target_name: str  # e.g. 'blue-small'
    clipped: tuple[str, ...]  # concepts whose prompt was clipped to [0, 1]
    seconds: float  # wall time of the sampling (of the first, uncached call)
    space: ConceptSpace  # the run's concept space (its class ranges decide the strict verdicts)
    notes: tuple[str, ...] = field(default=())

    def summary(self, criterion: str = DEFAULT_CRITERION) -> str:
        """One line for the UI: where the samples landed, judged under `criterion`."""
        if self.coordinates is None:
            return f"{len(self.images)} samples; this run has no probe, so they are not placed in concept space."
        summary = summarize_class(self.coordinates, self.presence, tuple(int(b) for b in self.target), self.space)
        if summary.presence == 0:
            return f"No object in any of the {len(self.images)} samples."
        verdicts = summary.under(criterion)
        between = verdicts.outcomes.get(BETWEEN, 0.0)
        return (f"{verdicts.joint_accuracy:.0%} of {len(self.images)} samples are {self.target_name}"
                + (f", {between:.0%} in between classes" if between else "")
                + f"; {summary.presence:.0%} show an object.")


class LiveGenerator:
    """Loads, samples and scores with bounded caches; safe to call from several threads."""

    def __init__(self, max_models: int = 8, max_results: int = 64, device: str = "cpu",
                 precision: str = "auto", max_work: int | None = None) -> None:
        self.device = device
        self.max_work = max_work  # samples × sampling steps one request may ask for (None: the ranges' product)
        self.precision = resolve_precision(precision, torch.device(device))
        self.max_models = max_models
        self.max_results = max_results
        self._models: OrderedDict[Hashable, VDM] = OrderedDict()
        self._probes: dict[Hashable, RunProbe | None] = {}
        self._results: OrderedDict[Hashable, LiveResult] = OrderedDict()
        self._lock = threading.RLock()
        self.hits = 0
        self.misses = 0

    # -- caches -----------------------------------------------------------------------------------------------------
    @staticmethod
    def _stamp(run: Run, step: int) -> tuple[str, int, int]:
        """Identifies a checkpoint file's content: a retrained run at the same path gets new mtimes."""
        return str(run.path.resolve()), step, run.layout.checkpoint(step).stat().st_mtime_ns

    def _remember(self, cache: OrderedDict, key: Hashable, value: Any, limit: int) -> None:
        cache[key] = value
        cache.move_to_end(key)
        while len(cache) > limit:
            cache.popitem(last=False)

    def model(self, run: Run, step: int, patch_step: int | None = None) -> VDM:
        """The checkpoint's model, optionally with the ConceptEmbedding of `patch_step`, loaded once."""
        key = (self._stamp(run, step), None if patch_step is None else self._stamp(run, patch_step))
        with self._lock:
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key]
        model = run.load_model(step, self.device)
        if patch_step is not None:
            model = patch_embedding(model, run.load_state(patch_step))
        with self._lock:
            self._remember(self._models, key, model, self.max_models)
        return model

    def probe(self, run: Run) -> RunProbe | None:
        path = run.layout.probe
        key = (str(path.resolve()), path.stat().st_mtime_ns if path.is_file() else None)
        with self._lock:
            if key not in self._probes:
                self._probes[key] = (load_probe(path, run.config.concept_space, run.layout.place(path))
                                     if path.is_file() else None)
            return self._probes[key]

    # -- generation -------------------------------------------------------------------------------------------------
    def checked(self, run: Run, settings: LiveSettings) -> LiveSettings:
        """The settings validated for the run and within the work one request may ask for, or a ValueError."""
        settings = settings.validated(run)
        work = settings.samples * settings.sample_steps
        if self.max_work is not None and work > self.max_work:
            raise ValueError(f"{settings.samples} samples × {settings.sample_steps} sampling steps is more than this "
                             f"server samples per request (at most {self.max_work:,} samples × steps); use fewer "
                             "samples or steps.")
        return settings

    def lookup(self, run: Run, settings: LiveSettings) -> LiveResult | None:
        """The cached result of these (checked) settings, or None."""
        key = (self._stamp(run, settings.step), settings)
        with self._lock:
            if key in self._results:
                self.hits += 1
                self._results.move_to_end(key)
                return self._results[key]
        return None

    def generate(self, run: Run, settings: LiveSettings) -> LiveResult:
        """Sample and score, or return the cached result of identical settings (the same object)."""
        settings = self.checked(run, settings)
        cached = self.lookup(run, settings)
        if cached is not None:
            return cached
        key = (self._stamp(run, settings.step), settings)
        with self._lock:
            self.misses += 1
        started = time.perf_counter()
        space = run.config.concept_space
        code = settings.target_code()
        prompt = overprompt(space, code, {c: settings.overprompt for c in settings.overprompt_concepts},
                            base=space.prompt_at(settings.concept_vector))
        h, clipped = prompt.h, prompt.clipped
        mask = run.config.train.mask_concept
        if settings.masked:
            h = mask_concept(h, mask)
        model = self.model(run, settings.step, settings.patch_step)
        strengths = {c: settings.intervention_strength * w for c, w in zip(space.concepts, settings.intervention)}
        edit = intervention(model, space, code, strengths, projection=settings.projection,
                            direction=settings.direction)
        images = generate(model, h[None].repeat(settings.samples, 1), settings.sample_steps, settings.seed,
                          guidance=settings.guidance, edit=edit, precision=self.precision)
        probe = self.probe(run)
        coordinates = presence = None
        if probe is not None:
            scores = probe.score(images, space)
            coordinates, presence = scores.position.numpy(), scores.p_present.numpy()
        notes: tuple[str, ...] = ()
        if clipped:
            notes = (f"The prompt for {', '.join(clipped)} left the training range and was clipped to [0, 1].",)
        if settings.masked:
            notes += (f"The prompt leaves {mask} unspecified (the run's learned mask token).",)
        result = LiveResult(
            settings=settings, images=images.numpy(), coordinates=coordinates, presence=presence, h=h.numpy(),
            target=space.class_label(code), target_name=space.class_name(code), clipped=clipped,
            seconds=time.perf_counter() - started, space=space, notes=notes,
        )
        with self._lock:
            self._remember(self._results, key, result, self.max_results)
        return result
