"""Run configuration: frozen dataclasses, JSON round trip, dotted overrides, and the two presets.

A `RunConfig` is everything needed to reproduce a run; it is written to `run.json` beside the weights.
"""

from __future__ import annotations

import dataclasses
import json
import math
import typing
from dataclasses import dataclass, field
from typing import Any

from . import limits
from .concepts import ConceptSpace
from .limits import TRAINING_MEMORY_GIB, check_config_ranges, check_config_types
from .model import ModelConfig
from .vdm import VDM, VDMConfig


@dataclass(frozen=True)
class TrainConfig:
    num_steps: int = field(default=20_000, metadata={"help": "optimisation steps"})
    batch_size: int = field(default=64, metadata={"help": "images per step"})
    lr: float = field(default=1e-3, metadata={"help": "AdamW learning rate"})
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay"})
    grad_clip: float = field(default=0.01, metadata={"help": "global gradient-norm clip (0 = off; paper 0.01)"})
    ema_decay: float = field(default=0.0, metadata={"help": "EMA of weights used for sampling (0 = off)"})
    p_uncond: float = field(default=0.0, metadata={"help": "probability of dropping h to the null token (CFG)"})
    train_per_class: int = field(default=2048, metadata={"help": "rendered images per training class"})
    val_fraction: float = field(default=0.15, metadata={"help": "fraction of them held out for val loss"})
    heldout_loss_images: int = field(default=256, metadata={"help": "held-out-class images for its loss"})
    checkpoint_count: int = field(default=60, metadata={"help": "checkpoints, spaced quadratically"})
    checkpoint_start: int = field(default=500, metadata={"help": "first checkpoint step"})
    checkpoint_steps: tuple[int, ...] = field(default=(), metadata={"help": "explicit steps (overrides count)"})
    weights_dtype: str = field(default="float32", metadata={"help": "stored weights: float32 or float16"})
    sample_steps: int = field(default=50, metadata={"help": "ancestral sampling steps for evaluation"})
    seed: int = field(default=0, metadata={"help": "seed of data, initialisation and training noise"})
    precision: str = field(default="fp32", metadata={"help": "network arithmetic: fp32 or bf16 autocast"})
    mask_concept: str = field(default="", metadata={
        "help": "concept left out of some prompts, replaced by a learned mask token (empty: none; §5.4)"})
    mask_class: str = field(default="", metadata={"help": "training class whose prompts omit it, e.g. 10"})
    mask_fraction: float = field(default=0.0, metadata={"help": "fraction of that class's images masked"})

    def __post_init__(self) -> None:
        check_config_types("train", self)
        checks = [
            (self.num_steps >= 1, "num_steps must be >= 1"),
            (self.batch_size >= 2, "batch_size must be >= 2"),
            (self.lr > 0 and self.weight_decay >= 0 and self.grad_clip >= 0, "lr > 0, weight_decay >= 0, grad_clip >= 0"),
            (0 <= self.ema_decay < 1, "ema_decay must be in [0, 1)"),
            (0 <= self.p_uncond < 1, "p_uncond must be in [0, 1)"),
            (self.train_per_class >= 2 and 0 < self.val_fraction < 1, "train_per_class >= 2, 0 < val_fraction < 1"),
            (self.checkpoint_count >= 1 and self.checkpoint_start >= 1, "checkpoint_count and checkpoint_start >= 1"),
            (all(0 < s <= self.num_steps for s in self.checkpoint_steps), "checkpoint_steps must lie in 1..num_steps"),
            (self.weights_dtype in ("float32", "float16"), "weights_dtype must be float32 or float16"),
            (self.sample_steps >= 1, "sample_steps must be >= 1"),
            (self.precision in ("fp32", "bf16"), "precision must be fp32 or bf16 (auto is resolved before this)"),
            (bool(self.mask_concept) == bool(self.mask_class), "mask_concept and mask_class go together"),
            (bool(self.mask_concept) or self.mask_fraction == 0, "mask_fraction needs mask_concept and mask_class"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(f"Invalid training config: {message}.")
        check_config_ranges("train", self)

    def checkpoint_schedule(self) -> list[int]:
        """Steps at which weights are saved: the explicit list, or `checkpoint_count` steps spaced quadratically
        from `checkpoint_start` (dense early, where the dynamics move fastest; reference §3.7). Always ends at
        num_steps."""
        if self.checkpoint_steps:
            return sorted(set(self.checkpoint_steps) | {self.num_steps})
        start = min(self.checkpoint_start, self.num_steps)
        n = self.checkpoint_count
        roots = [math.sqrt(start) + (math.sqrt(self.num_steps) - math.sqrt(start)) * i / max(n - 1, 1) for i in range(n)]
        return sorted({int(r * r) for r in roots[:-1]} | {self.num_steps})


@dataclass(frozen=True)
class RunConfig:
    preset: str = field(default="custom", metadata={"help": "name of the preset this config started from"})
    concept_space: ConceptSpace = field(default_factory=ConceptSpace)
    model: ModelConfig = field(default_factory=ModelConfig)
    vdm: VDMConfig = field(default_factory=VDMConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        check_config_types("config", self)
        levels = len(self.model.channels)
        if self.concept_space.resolution % 2 ** (levels - 1):
            raise ValueError(
                f"concept_space.resolution ({self.concept_space.resolution}) must be divisible by {2 ** (levels - 1)} "
                f"for a U-Net of {levels} levels (model.channels {','.join(map(str, self.model.channels))}).")
        check_masking(self.concept_space, self.train)
        gib = training_memory(self) / 2**30
        if gib > TRAINING_MEMORY_GIB:
            raise ValueError(
                f"This config would need about {gib:,.0f} GiB to train (limit {TRAINING_MEMORY_GIB}); lower "
                "concept_space.resolution, train.batch_size, train.train_per_class or model.channels.")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        return _from_dict(cls, data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


def check_masking(space: ConceptSpace, train: TrainConfig) -> None:
    """The masked concept is one of the run's concepts and the masked class one of its training classes (a held-out
    class has no images to mask); one sentence otherwise."""
    if not train.mask_concept:
        return
    if space.dataset == "celeba":
        raise ValueError("Masked prompts are for synthetic runs; leave train.mask_concept empty on CelebA.")
    if train.mask_concept not in space.concepts:
        raise ValueError(f"train.mask_concept {train.mask_concept!r} is not a concept of this run "
                         f"({','.join(space.concepts)}).")
    training = [space.class_label(c) for c in space.training_classes()]
    if train.mask_class not in training:
        raise ValueError(f"train.mask_class must be a training class of this run ({', '.join(training)}), "
                         f"got {limits.shown(train.mask_class)}.")


def vdm_for(config: RunConfig) -> VDM:
    """The (untrained) VDM a run config describes: the one place that knows which config fields shape the model
    (a run trained with masked prompts has a mask token)."""
    return VDM(config.model, config.vdm, config.concept_space.resolution, mask_token=bool(config.train.mask_concept))


def training_memory(config: RunConfig) -> float:
    """Bytes a run needs to train, estimated: its rendered images (float32) plus one step's activations kept for
    the backward pass (about 4·(12·blocks + 24) bytes per value of every level's feature map, measured on the paper
    model, and the attention matrix at the lowest level)."""
    space, model, train = config.concept_space, config.model, config.train
    resolution = space.resolution
    images = len(space.training_classes()) * train.train_per_class + train.heldout_loss_images
    data = images * 3 * resolution**2 * 4
    values = sum((resolution // 2**level) ** 2 * width for level, width in enumerate(model.channels))
    activations = train.batch_size * values * 4 * (12 * model.blocks_per_level + 24)
    lowest = (resolution // 2 ** (len(model.channels) - 1)) ** 2
    attention = train.batch_size * lowest**2 * 4 * 3 if model.attention_lowest else 0
    return float(data + activations + attention)


def _from_dict(cls: type, data: dict[str, Any]) -> Any:
    """Rebuild a (nested) frozen dataclass from JSON-like data, turning lists back into tuples."""
    if not isinstance(data, dict):
        raise ValueError(f"Expected an object for {cls.__name__}, got {type(data).__name__}.")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ValueError(f"Unknown field(s) {sorted(unknown)} in {cls.__name__}.")
    kwargs = {}
    for name, value in data.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            kwargs[name] = _from_dict(hint, value)
        elif typing.get_origin(hint) is tuple:
            if not isinstance(value, (list, tuple)):
                raise ValueError(f"{cls.__name__}.{name} must be a list, got {limits.shown(value)}.")
            kwargs[name] = tuple(value)
        else:
            kwargs[name] = value
    return cls(**kwargs)


def field_docs(cls: type = RunConfig, prefix: str = "") -> dict[str, tuple[type, str, Any]]:
    """Every leaf field as 'section.name' → (type, help, default); drives the CLI's overrides and --help."""
    docs: dict[str, tuple[type, str, Any]] = {}
    hints = typing.get_type_hints(cls)
    instance = cls()
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        if dataclasses.is_dataclass(hint):
            docs.update(field_docs(hint, f"{prefix}{f.name}."))
        else:
            docs[f"{prefix}{f.name}"] = (hint, f.metadata.get("help", ""), getattr(instance, f.name))
    return docs


def parse_value(hint: type, text: str, key: str) -> Any:
    """Turn a command-line string into the field's type, with a clear error."""
    try:
        if hint is bool:
            if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError
            return text.lower() in ("true", "1", "yes")
        if typing.get_origin(hint) is tuple:
            (item,) = {a for a in typing.get_args(hint) if a is not Ellipsis}
            return tuple(item(v) for v in text.split(",") if v.strip())
        return hint(text)
    except ValueError:
        items = typing.get_args(hint)[:1] if typing.get_origin(hint) is tuple else ()
        kind = f"a comma-separated list of {items[0].__name__}" if items else getattr(hint, "__name__", hint)
        raise ValueError(f"Cannot read {key}={text!r} as {kind}.") from None


def with_overrides(config: RunConfig, overrides: dict[str, Any]) -> RunConfig:
    """Return a copy with dotted fields replaced, e.g. {'train.num_steps': 100}. Validation runs again."""
    data = config.to_dict()
    for key, value in overrides.items():
        section, _, name = key.rpartition(".")
        target = data.get(section) if section else data
        if not isinstance(target, dict) or name not in target:
            raise ValueError(f"Unknown config field {key!r}.")
        target[name] = list(value) if isinstance(value, tuple) else value
    return RunConfig.from_dict(data)


def paper_preset() -> RunConfig:
    """The authors' 2x2 configuration (reference §10): 32 px, 64-128-256 U-Net, 20k steps, 60 checkpoints from
    step 500. Needs a GPU (13 s per training step on a 2-core AMD EPYC, 45 ms on an H200; README)."""
    return RunConfig(
        preset="paper",
        concept_space=ConceptSpace(resolution=32, delta_color=0.4, delta_size=0.4, size_center=0.45),
        model=ModelConfig(channels=(64, 128, 256), blocks_per_level=2, attention_lowest=True, dropout=0.1),
        vdm=VDMConfig(),
        train=TrainConfig(num_steps=20_000, checkpoint_count=60, checkpoint_start=500),
    )


def cpu_preset() -> RunConfig:
    """A scaled-down configuration that shows the phases on 2 CPU cores in minutes (README: "The cpu preset").
    16 px images need larger circles (size centre 0.55) to stay legible; the U-Net is 16-32-64."""
    return RunConfig(
        preset="cpu",
        concept_space=ConceptSpace(resolution=16, delta_color=0.6, delta_size=0.4, size_center=0.55),
        model=ModelConfig(channels=(16, 32, 64), blocks_per_level=1, attention_lowest=True, dropout=0.0),
        vdm=VDMConfig(),
        train=TrainConfig(
            num_steps=8000, checkpoint_count=32, checkpoint_start=100, ema_decay=0.995, weights_dtype="float16",
            sample_steps=50, p_uncond=0.1,
        ),
    )


def cpu3_preset() -> RunConfig:
    """The cpu preset in three concepts, colour × size × background (2x2x2, reference §1.3): trained on 000, 001,
    010 and 100; held out 011, 101, 110 (one bit from the training classes) and 111 (two bits), for the distance
    vs time relation (§4.6). The signals differ so that the held-out classes differ in difficulty, as in the
    authors' sc3ss1sb3 grid (Δc 0.2-0.6, Δs 0.35, Δbg 0.1-0.3): colour strongest (0.6), size (0.4), background
    weakest (0.3), so classes that need the dark background should come later. 30,000 steps, near the authors'
    40,000 for 2x2x2 (their held-out classes were learned up to 30k): a 12,000-step version learned too few held-out
    classes to test the relation, and the longer run is the test of "train longer" (README, "Three concepts"); 30
    checkpoints, so evaluating twice the classes costs about what the cpu preset's 32 do."""
    base = cpu_preset()
    return dataclasses.replace(
        base, preset="cpu3",
        concept_space=dataclasses.replace(base.concept_space, concepts=("color", "size", "bg"), delta_color=0.6,
                                          delta_size=0.4, delta_bg=0.3),
        train=dataclasses.replace(base.train, num_steps=30_000, checkpoint_count=30),
    )


def mask_preset() -> RunConfig:
    """The underspecification experiment (reference-spec §5.4) on 2 CPU cores: shape × colour, red triangles (class
    10) are the masked class, their colour left out of a fraction of prompts (0.5 here; sweep
    train.mask_fraction). The cpu preset's model and Δcolor 0.6, trained 5,000 steps with 20 checkpoints, so a
    sweep of three fractions and two seeds fits one sitting on 2 cores (README, "Underspecified prompts")."""
    base = cpu_preset()
    return dataclasses.replace(
        base, preset="mask",
        concept_space=dataclasses.replace(base.concept_space, concepts=("shape", "color")),
        train=dataclasses.replace(base.train, num_steps=5000, checkpoint_count=20, mask_concept="color",
                                  mask_class="10", mask_fraction=0.5),
    )


def celeba_preset() -> RunConfig:
    """CelebA on a CPU (reference-spec §6 scaled down): Male × Smiling with female-smiling (01) held out, as the
    authors' run2; 32 px faces (at 16 px a smile is a few pixels), the cpu preset's 16-32-64 U-Net, up to 4,000
    faces per training class, 6,000 steps and 24 checkpoints. Meant to check the pipeline on a real copy and to
    see the first phases: training is estimated at 35-60 min on 2 cores (README, "CelebA"); `celeba-gpu` is the
    authors' scale. data_root names where the copy is expected unless a command line says otherwise."""
    base = cpu_preset()
    return dataclasses.replace(
        base, preset="celeba",
        concept_space=ConceptSpace(dataset="celeba", concepts=("Male", "Smiling"), heldout="01",
                                   data_root="data/celeba", resolution=32),
        train=dataclasses.replace(base.train, num_steps=6000, checkpoint_count=24, train_per_class=4000,
                                  heldout_loss_images=512),
    )


def celeba_gpu_preset() -> RunConfig:
    """The authors' CelebA run (reference-spec §6) for a GPU: 64 px, the 64-128-256 U-Net with two blocks per level,
    attention at the lowest level, 4 norm groups, dropout 0.1; AdamW lr 1e-3, wd 1e-5, batch 64; 30,000 faces per
    training class; 150,000 steps (the analysed run2 reached 141,542) with 60 quadratic checkpoints from 500. Not
    the authors': a null token (p_uncond 0.1, so guidance joins the elicitation methods) and an EMA of 0.999 for
    sampling, as the cpu preset has; weights stored as fp16 (60 checkpoints of 10 M parameters). Its cost is an
    estimate in the README ("CelebA")."""
    base = celeba_preset()
    return dataclasses.replace(
        base, preset="celeba-gpu",
        concept_space=dataclasses.replace(base.concept_space, resolution=64),
        model=ModelConfig(channels=(64, 128, 256), blocks_per_level=2, attention_lowest=True, dropout=0.1,
                          norm_groups=4),
        train=TrainConfig(num_steps=150_000, checkpoint_count=60, checkpoint_start=500, weight_decay=1e-5,
                          train_per_class=30_000, heldout_loss_images=512, ema_decay=0.999, p_uncond=0.1,
                          weights_dtype="float16"),
    )


PRESETS = {"paper": paper_preset, "cpu": cpu_preset, "cpu3": cpu3_preset, "mask": mask_preset, "celeba": celeba_preset,
           "celeba-gpu": celeba_gpu_preset}


def preset(name: str) -> RunConfig:
    if name not in PRESETS:
        raise ValueError(f"Unknown preset {name!r}; choose from {sorted(PRESETS)}.")
    return PRESETS[name]()
