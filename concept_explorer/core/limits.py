"""Every range a user can reach, in one place, and the checks that turn a bad value into one sentence.

The CLI, the run-folder loader, live generation, shared links and the UI's controls all read their bounds from
here, so a slider, a link and an API call can never disagree about what is allowed.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import typing
from dataclasses import dataclass
from typing import Any


def shown(value: Any, width: int = 40) -> str:
    """A value as an error message quotes it: its repr, cut short (a 400-digit number is still one sentence)."""
    text = repr(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def finite(name: str, value: Any) -> float:
    """A real number (bools and NaN/inf are refused: a JSON client can send either)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a finite number, got {shown(value)}.")
    try:
        number = float(value)
    except OverflowError:  # an int beyond any float
        raise ValueError(f"{name} must be a finite number of sensible size, got {shown(value)}.") from None
    if not math.isfinite(number):
        raise ValueError(f"{name} must be a finite number, got {shown(value)}.")
    return number


def bound(value: float) -> str:
    """A bound as a person reads it: whole numbers in full with thousands separators (2,147,483,647, never
    2.14748e+09), others in their shortest form."""
    return f"{int(value):,}" if float(value).is_integer() and abs(value) < 1e18 else f"{value:g}"


@dataclass(frozen=True)
class Range:
    """A closed interval [low, high], optionally of whole numbers."""

    low: float
    high: float
    whole: bool = False

    def check(self, name: str, value: Any) -> float | int:
        """`value` as a float (or int when whole), or a ValueError naming the parameter and its bounds."""
        wrong = f"{name} must be a whole number from {bound(self.low)} to {bound(self.high)}, got {shown(value)}."
        if self.whole and isinstance(value, int) and not isinstance(value, bool):
            if not self.low <= value <= self.high:  # compared as ints: exact for seeds near 2**63
                raise ValueError(wrong)
            return value
        number = finite(name, value)
        if self.whole:
            if not (number.is_integer() and self.low <= number <= self.high):
                raise ValueError(wrong)
            return int(number)
        if not self.low <= number <= self.high:
            raise ValueError(f"{name} must be between {bound(self.low)} and {bound(self.high)}, got {number:g}.")
        return number

    def __contains__(self, value: object) -> bool:
        try:
            self.check("value", value)
        except ValueError:
            return False
        return True

    @property
    def bounds(self) -> tuple[float, float]:
        """(low, high), e.g. for a slider's minimum and maximum."""
        return (self.low, self.high)


# -- concept signal -------------------------------------------------------------------------------------------------
DELTA_MAX = {"color": 0.8, "size": 0.4, "bg": 0.8}
"""Largest concept signal a ConceptSpace accepts (0 < Δ ≤ max): beyond it the two levels leave the valid colour or
size range."""
PROBED_DELTA = {"color": Range(0.1, 0.8), "size": Range(0.1, 0.4), "bg": Range(0.1, 0.8)}
"""Concept signals the default probe is trained over, so a run inside them is read without a probe of its own;
the Train tab offers exactly these."""

# -- stored passes (evaluate, elicit) ------------------------------------------------------------------------------
PASS_SAMPLES = Range(1, 4096, whole=True)
"""Samples per class (evaluate) or per method (elicit) at every checkpoint."""
PASS_SEED = Range(0, 2**63 - 1, whole=True)
"""Any seed torch.Generator.manual_seed accepts."""

# -- the shared step control and links ------------------------------------------------------------------------------
STEP = Range(0, 10**9, whole=True)
SMOOTHING = Range(0.0, 3.0)
"""Gaussian σ of the trajectory smoothing, in checkpoints."""

# -- live generation ------------------------------------------------------------------------------------------------
POSITION = Range(-0.5, 1.5)
"""A concept's position along its semantic axis: 0 = level-0 class mean, 1 = level-1 class mean."""
OVERPROMPT = Range(0.0, 4.0)
WEIGHT = Range(-1.0, 1.0)
"""A concept's weight in a custom intervention direction."""
STRENGTH = Range(-4.0, 4.0)
"""Intervention strength; at ±4 the embedding is already far outside anything the model was trained on."""
GUIDANCE = Range(0.0, 10.0)
SAMPLES = Range(1, 64, whole=True)
SEED = Range(0, 2**31 - 1, whole=True)
SAMPLE_STEPS = Range(1, 100, whole=True)
"""Sampling steps of a live generation (stored evaluations use the run's own `sample_steps`, 50 by default); the
bound keeps one request's work small on a shared server."""
DEFAULT_SAMPLES = 16
DEFAULT_SAMPLE_STEPS = 20
"""Fewer than the 50 steps of stored evaluations, for speed: 16 samples at a cpu-preset checkpoint take well under
a second on one core (benchmarks/bench_ui.py). Probe coordinates at 20 steps track those at 50 closely."""

# -- the Train tab's background job ---------------------------------------------------------------------------------
JOB_STEPS = Range(20, 20_000, whole=True)
JOB_STEP_CHOICES = (300, 600, 1500, 3000, 6000)
"""Run lengths the Train tab offers (the API accepts any length in JOB_STEPS)."""
JOB_CHECKPOINTS = Range(2, 64, whole=True)

# -- the command line and the server --------------------------------------------------------------------------------
PORT = Range(1, 65535, whole=True)
THREADS = Range(1, 1024, whole=True)
"""torch threads of one process (CLI --threads, app --threads)."""
WORKERS = Range(1, 1024, whole=True)
PROBE_STEPS = Range(1, 100_000, whole=True)
PROBE_CONFIG = {f"probe.{name}": value_range for name, value_range in {
    "delta_color_range": Range(0, 1), "delta_size_range": Range(0, 1), "delta_bg_range": Range(0, 1),
    "position_range": Range(-5, 5), "width": Range(1, 512, whole=True), "steps": PROBE_STEPS,
    "batch_size": Range(1, 4096, whole=True), "lr": Range(1e-9, 1), "absent_fraction": Range(0, 1),
    "max_pixel_noise": Range(0, 1), "seed": PASS_SEED, "per_class": Range(1, 100_000, whole=True)}.items()}
PROBE_PAIRS = {f"probe.{name}": Range(2, 2, whole=True) for name in (
    "delta_color_range", "delta_size_range", "delta_bg_range", "position_range")}
"""Every field of a probe's config but its concept space (analysis/probes.py; per_class is the CelebA attribute
probe's, analysis/attribute_probe.py), and its fields that are (low, high)
pairs: a probe file carries its config, so these bound what a damaged or forged file can ask for."""

# -- run configuration ----------------------------------------------------------------------------------------------
CONFIG_FIELDS: dict[str, Range] = {
    "concept_space.resolution": Range(8, 128, whole=True),
    "concept_space.delta_color": Range(0.001, DELTA_MAX["color"]),
    "concept_space.delta_size": Range(0.001, DELTA_MAX["size"]),
    "concept_space.delta_bg": Range(0.001, DELTA_MAX["bg"]),
    "concept_space.size_center": Range(0, 1.5),
    "concept_space.position_range": Range(0, 1),
    "concept_space.blur_px_at_32": Range(0, 8),
    "concept_space.noise_level": Range(0, 1),
    "concept_space.min_size": Range(0, 1),
    "model.channels": Range(1, 1024, whole=True),
    "model.blocks_per_level": Range(1, 8, whole=True),
    "model.dropout": Range(0, 0.99),
    "model.norm_groups": Range(1, 1024, whole=True),
    "model.embedding_hidden": Range(1, 4096, whole=True),
    "vdm.gamma_min": Range(-30, 30),
    "vdm.gamma_max": Range(-30, 30),
    "vdm.data_noise": Range(1e-6, 1),
    "train.num_steps": Range(1, 10_000_000, whole=True),
    "train.batch_size": Range(2, 4096, whole=True),
    "train.lr": Range(1e-9, 1),
    "train.weight_decay": Range(0, 10),
    "train.grad_clip": Range(0, 1e6),
    "train.ema_decay": Range(0, 0.99999),
    "train.p_uncond": Range(0, 0.99),
    "train.train_per_class": Range(2, 100_000, whole=True),
    "train.val_fraction": Range(0.001, 0.999),
    "train.heldout_loss_images": Range(0, 100_000, whole=True),
    "train.checkpoint_count": Range(1, 1000, whole=True),
    "train.checkpoint_start": Range(1, 10_000_000, whole=True),
    "train.checkpoint_steps": Range(1, 10_000_000, whole=True),
    "train.sample_steps": Range(1, 1000, whole=True),
    "train.seed": Range(0, 2**63 - 4, whole=True),
    "train.mask_fraction": Range(0, 1),
}
"""Every numeric field of a run's config (core/config.py), as `section.field` → its range (for a list field, the
range of each entry); the sections' own checks come on top (e.g. channels divisible by norm_groups). A config that
passes them trains without torch raising; the bounds are generous (the paper's model is far inside them) but keep
one run within a machine."""
CONFIG_LENGTHS: dict[str, Range] = {
    "concept_space.concepts": Range(2, 4, whole=True),
    "model.channels": Range(1, 6, whole=True),
    "train.checkpoint_steps": Range(0, 1000, whole=True),
}
"""How many entries a list field may hold."""
CONFIG_TEXT_LENGTH = 100
"""Longest text field (a preset name, a backbone)."""
TRAINING_MEMORY_GIB = 16
"""Largest estimated memory of one run's training set plus one step's activations (core/config.py)."""


@functools.cache
def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _check_type(name: str, hint: Any, value: Any) -> None:
    """A field's value against its annotation: int (never a bool), float (an int will do), bool, str or a tuple of
    one of them."""
    if typing.get_origin(hint) is tuple:
        if not isinstance(value, tuple):
            raise ValueError(f"{name} must be a list, got {shown(value)}.")
        (item,) = {a for a in typing.get_args(hint) if a is not Ellipsis}
        for entry in value:
            _check_type(f"an entry of {name}", item, entry)
        return
    if hint is bool:
        ok = isinstance(value, bool)
    elif hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif hint is float:
        ok = isinstance(value, int) and not isinstance(value, bool) or isinstance(value, float) and math.isfinite(value)
    elif hint is str:
        ok = isinstance(value, str) and len(value) <= CONFIG_TEXT_LENGTH
    else:
        ok = True
    if not ok:
        raise ValueError(f"{name} must be {_TYPE_NAMES.get(hint, hint)}, got {shown(value)}.")


_TYPE_NAMES = {bool: "true or false", int: "a whole number", float: "a finite number", str: "a short text"}


def check_config_types(section: str, instance: Any) -> None:
    """Every field of one config section (a frozen dataclass) has its annotated type: run before the section's own
    checks, so they compare numbers with numbers. `section` is its name in a RunConfig ("train")."""
    for field in dataclasses.fields(instance):
        hint = _field_types(type(instance))[field.name]
        if not dataclasses.is_dataclass(hint):
            _check_type(f"{section}.{field.name}", hint, getattr(instance, field.name))


def check_ranges(prefix: str, instance: Any, ranges: dict[str, Range], lengths: dict[str, Range]) -> None:
    """Every field `prefix.name` of a dataclass instance named in `ranges` lies in its range (each entry of a list
    field), every one named in `lengths` is a list of that many entries."""
    for field in dataclasses.fields(instance):
        name, value = f"{prefix}.{field.name}", getattr(instance, field.name)
        if name in lengths and (not isinstance(value, tuple) or len(value) not in lengths[name]):
            low, high = lengths[name].bounds
            raise ValueError(f"{name} must be a list of {bound(low)} to {bound(high)} entries, got {shown(value)}.")
        if name in ranges:
            for entry in value if isinstance(value, tuple) else (value,):
                ranges[name].check(name, entry)


def check_config_ranges(section: str, instance: Any) -> None:
    """Every numeric field of one config section lies in its CONFIG_FIELDS range (finite included), every list
    field has a CONFIG_LENGTHS length."""
    check_ranges(section, instance, CONFIG_FIELDS, CONFIG_LENGTHS)
