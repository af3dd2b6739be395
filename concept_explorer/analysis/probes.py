"""Classifier probes: where a generated image sits in concept space, and whether it shows an object at all.

A small CNN that reads, per concept, the attribute value it sees — colour u = (B − R)/2 of the object, the
radius, the background's grey level — and for shape the probability of level 1 (a logit), plus a presence logit.
These readings are absolute (they do not depend on Δ), so one probe reads runs of any concept signal; `score`
turns them into *positions* with the run's concept space: 0 at level 0's class mean, 1 at level 1's (a purple
circle half-way between red and blue reads ≈ 0.5). It is trained on freshly rendered images whose attribute
values are drawn continuously along each concept's axis, past both class means, over a range of concept signals
covering every Δ a run may use (fixing §9.6), held-out combinations included (as the authors do, reference §4.1).
Presence matters: early generations are often empty or faint, and a probe trained only on clean renders calls an
empty image "red-small" with full confidence, which fakes a memorisation phase (cpu-feasibility.md). So negatives
(background only, or a faint object) are trained to presence 0, and every analysis treats "no object" as its own
outcome. `calibration_error` measures how far positions are off along the whole axis.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from torch import nn

from ..core.concepts import ConceptSpace
from ..core.limits import PROBE_CONFIG, PROBE_PAIRS, PROBED_DELTA, check_ranges
from ..core.render import Attributes, render, sample_attributes
from ..core.run import RunFolderError, atomic_save_tensors
from .definitions import CRITERIA, correctness

PROBE_FORMAT = "positions"
"""Stored with every probe; probes without it read P(level 1) per concept and must be retrained."""

LOGIT_CONCEPTS = ("shape",)
"""Concepts without a continuous attribute: the probe reads P(level 1) as a logit, and that is the position."""


@dataclass(frozen=True)
class ProbeConfig:
    space: ConceptSpace = field(default_factory=ConceptSpace)
    """Geometry the probe reads (resolution, concepts, size centre, shape); its Δs are replaced by the ranges."""
    delta_color_range: tuple[float, float] = PROBED_DELTA["color"].bounds
    delta_size_range: tuple[float, float] = PROBED_DELTA["size"].bounds
    delta_bg_range: tuple[float, float] = PROBED_DELTA["bg"].bounds
    position_range: tuple[float, float] = (-0.4, 1.4)
    """Training attribute values are uniform over these positions (at each batch group's Δ): both class ranges
    (±3/8 around a mean for size) and what overprompting reaches, so positions past a class mean are read too."""
    width: int = 32
    steps: int = 800
    batch_size: int = 128
    lr: float = 2e-3
    absent_fraction: float = 0.3
    max_pixel_noise: float = 0.08
    seed: int = 1234

    def __post_init__(self) -> None:
        check_ranges("probe", self, PROBE_CONFIG, PROBE_PAIRS)  # a probe file carries its config: untrusted input

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ProbeConfig:
        data = dict(data)
        space = data.pop("space")
        space["concepts"] = tuple(space["concepts"])
        tuples = {k: tuple(v) for k, v in data.items() if isinstance(v, list)}
        return cls(space=ConceptSpace(**space), **(data | tuples))


def attribute_value(concept: str, value: torch.Tensor) -> torch.Tensor:
    """The scalar the probe reads for a concept, from the attribute as h holds it (..., width) → (...): colour
    u = (B − R)/2, size the radius, background the grey level (channel mean), shape the level-1 one-hot entry."""
    if concept == "color":
        return (value[..., 2] - value[..., 0]) / 2
    if concept == "bg":
        return value.mean(-1)
    return value[..., 0] if concept == "size" else value[..., 1]


def level_values(space: ConceptSpace) -> torch.Tensor:
    """(2, K): the scalar of each concept at the class mean of level 0 (row 0) and level 1 (row 1)."""
    return torch.stack([torch.stack([attribute_value(c, space.level_mean(c, level)) for c in space.concepts])
                        for level in (0, 1)])


def to_position(values: torch.Tensor, space: ConceptSpace) -> torch.Tensor:
    """(N, K) attribute scalars → positions along each concept's axis: 0 at level 0's class mean, 1 at level 1's."""
    start, end = level_values(space)
    return (values - start) / (end - start)


def attribute_targets(space: ConceptSpace, attributes: Attributes) -> torch.Tensor:
    """(N, K) the scalars an image shows. A translucent object's colour is what it shows: the opacity-weighted mix
    with the background (its true colour cannot be told from a paler one in the pixels)."""
    alpha = attributes.alpha[:, None]
    shown = {"color": alpha * attributes.color + (1 - alpha) * attributes.bg, "size": attributes.size[:, None],
             "bg": attributes.bg, "shape": nn.functional.one_hot(attributes.shape.clamp(max=1), 2).float()}
    return torch.stack([attribute_value(c, shown[c]) for c in space.concepts], dim=1)


class ProbeNet(nn.Module):
    """Conv → GN → GELU stacks with two stride-2 downsamplings, global max+mean pooling, an MLP, and
    (num_concepts + 1) outputs: one reading per concept (a normalised attribute value, or a logit for shape),
    the last a logit for "an object is present"."""

    def __init__(self, num_concepts: int, width: int) -> None:
        super().__init__()

        def block(c_in: int, c_out: int, stride: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1), nn.GroupNorm(4, c_out), nn.GELU())

        self.features = nn.Sequential(
            block(3, width, 1), block(width, width, 1), block(width, 2 * width, 2), block(2 * width, 2 * width, 2)
        )
        self.head = nn.Sequential(nn.Linear(4 * width, 2 * width), nn.GELU())
        self.readings = nn.Linear(2 * width, num_concepts)
        self.presence = nn.Linear(2 * width, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        features = self.features(images)  # (B, 2W, R/4, R/4)
        hidden = self.head(torch.cat([features.amax(dim=(2, 3)), features.mean(dim=(2, 3))], dim=1))  # (B, 2W)
        return torch.cat([self.readings(hidden), self.presence(hidden)], dim=1)  # (B, K + 1)


@dataclass(frozen=True)
class ProbeScores:
    """Probe verdicts for N images, calibrated with one run's concept space."""

    position: torch.Tensor  # (N, K) position along each concept's axis: 0 = level 0's class mean, 1 = level 1's
    p_present: torch.Tensor  # (N,) P(an object is drawn)


class OutdatedProbe(RunFolderError):
    """A probe file from an earlier version (it read P(level 1), not attribute values)."""


class Probe:
    def __init__(self, config: ProbeConfig, net: ProbeNet | None = None) -> None:
        self.config = config
        self.net = net or ProbeNet(config.space.num_concepts, config.width)
        self.net.eval()

    @property
    def concepts(self) -> tuple[str, ...]:
        return self.config.space.concepts

    def readout(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """centre (K,), scale (K,) and is_logit (K,) bool: a reading o of a continuous concept means the value
        centre + scale·o (centre: the class-mean midpoint, scale: the widest Δ trained on, so readings are O(1))."""
        widest = {"color": self.config.delta_color_range[1], "size": self.config.delta_size_range[1],
                  "bg": self.config.delta_bg_range[1]}
        centre = level_values(self.config.space).mean(0)
        scale = torch.tensor([widest.get(c, 1.0) for c in self.concepts])
        return centre, scale, torch.tensor([c in LOGIT_CONCEPTS for c in self.concepts])

    @torch.no_grad()
    def values(self, images: torch.Tensor, chunk: int = 512) -> tuple[torch.Tensor, torch.Tensor]:
        """Attribute scalars (N, K) (see `attribute_value`; P(level 1) for shape) and P(present) (N,) of images
        (N, 3, R, R) in [0, 1] (float) or uint8."""
        if images.dtype == torch.uint8:
            images = images.float() / 255
        resolution = self.config.space.resolution
        if images.shape[-1] != resolution:
            raise ValueError(f"This probe reads {resolution} px images, got {images.shape[-1]} px.")
        outputs = torch.cat([self.net(images[i:i + chunk].cpu()) for i in range(0, images.shape[0], chunk)])
        centre, scale, is_logit = self.readout()
        readings = outputs[:, :-1]
        values = torch.where(is_logit, torch.sigmoid(readings), centre + scale * readings)
        return values, torch.sigmoid(outputs[:, -1])

    def score(self, images: torch.Tensor, space: ConceptSpace, chunk: int = 512) -> ProbeScores:
        """Positions in `space` (the run's concept space: its Δs calibrate them) and P(present) of the images."""
        if space.concepts != self.concepts:
            raise ValueError(f"This probe reads the concepts {list(self.concepts)}, not {list(space.concepts)}.")
        values, p_present = self.values(images, chunk)
        return ProbeScores(position=to_position(values, space), p_present=p_present)

    def save(self, path: Path) -> None:
        atomic_save_tensors(path, self.net.state_dict(), {"probe_config": json.dumps(self.config.to_dict()),
                                                          "probe_format": PROBE_FORMAT})

    @classmethod
    def load(cls, path: Path, where: str | None = None) -> Probe:
        where = where or str(path)  # how messages name it: in a run, its place there (RunLayout.place)
        if not Path(path).is_file():
            raise RunFolderError(f"No probe at {where}; train one with `concept-explorer probe`.")
        try:
            with safe_open(str(path), "pt") as handle:
                metadata = handle.metadata() or {}
                config = ProbeConfig.from_dict(json.loads(metadata["probe_config"]))
                state = {k: handle.get_tensor(k) for k in handle.keys()}
        except Exception as error:
            raise RunFolderError(f"Cannot read the probe at {where} ({str(error)[:80]}); retrain it.") from None
        probe = cls(config)
        try:
            if metadata.get("probe_format") != PROBE_FORMAT:
                raise RuntimeError("no calibrated readings")
            probe.net.load_state_dict(state)
        except RuntimeError:
            raise OutdatedProbe(
                f"The probe at {where} was made by an earlier version (it read P(level 1), not positions); retrain "
                "it with `concept-explorer probe` (`evaluate` and `elicit` retrain it themselves).") from None
        return probe


def sample_along_axes(
    space: ConceptSpace, codes: torch.Tensor, position_range: tuple[float, float], generator: torch.Generator
) -> Attributes:
    """Attributes whose continuous concepts lie anywhere along their axes: per image a position uniform in
    `position_range` (0 and 1 are the class means), plus the within-class per-channel jitter for colours (so
    the other channels vary too); shape and the nuisance attributes come from `codes` as in `sample_attributes`."""
    attributes = sample_attributes(space, codes, generator)
    low, high = position_range
    changes = {}
    for concept in space.concepts:
        if concept in LOGIT_CONCEPTS:
            continue
        position = low + (high - low) * torch.rand(len(codes), 1, generator=generator)  # (N, 1)
        changes[concept] = along_axis(space, concept, position, generator)
    return dataclasses.replace(attributes, **changes)


def along_axis(
    space: ConceptSpace, concept: str, position: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """A continuous concept's attribute at `position` (N, 1) along its axis, as `Attributes` holds it (sizes (N,),
    colours (N, 3)), clamped as the data generator clamps: sizes at min_size, channels to [0, 1]. With a
    `generator`, colour channels get the within-class per-channel jitter (so the other channels vary too)."""
    start, end = space.level_mean(concept, 0), space.level_mean(concept, 1)
    value = start + position * (end - start)  # (N, width)
    if concept == "size":
        return value[:, 0].clamp(min=space.min_size)
    if generator is not None:
        value = value + (torch.rand(value.shape, generator=generator) * 2 - 1) * space.level_half_width(concept)
    return value.clamp(0, 1)


def render_probe_batch(
    config: ProbeConfig, batch: int, generator: torch.Generator, groups: int = 8
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Images at random concept signals with attribute values along the whole axes (`sample_along_axes`), with
    the scalars they show.

    Returns images (B,3,R,R), attribute scalars (B,K) (`attribute_targets`), presence labels (B,). A fraction
    `absent_fraction` of images show no legible object and get presence 0, in three kinds early generations
    produce: background only or a faint ghost (opacity ≤ 0.15), an object buried in heavy noise (std 0.3–0.6),
    and pure noise. The rest have opacity in [0.5, 1] and light noise (std ≤ max_pixel_noise); the gap between
    the two keeps labels clean."""
    images, targets, present = [], [], []
    per_group = batch // groups
    k = config.space.num_concepts
    for _ in range(groups):
        def draw(low_high: tuple[float, float]) -> float:
            low, high = low_high
            return low + (high - low) * torch.rand((), generator=generator).item()

        def uniform(low: float, high: float) -> torch.Tensor:
            return low + (high - low) * torch.rand(per_group, generator=generator)

        space = dataclasses.replace(
            config.space, delta_color=draw(config.delta_color_range), delta_size=draw(config.delta_size_range),
            delta_bg=draw(config.delta_bg_range),
        )
        codes = torch.randint(0, 2, (per_group, k), generator=generator)
        attributes = sample_along_axes(space, codes, config.position_range, generator)
        absent = torch.rand(per_group, generator=generator) < config.absent_fraction
        kind = torch.randint(0, 3, (per_group,), generator=generator)  # faint, buried, pure noise
        faint, buried, pure_noise = absent & (kind == 0), absent & (kind == 1), absent & (kind == 2)
        opacity = torch.where(faint, uniform(0.0, 0.15),
                              torch.where(torch.rand(per_group, generator=generator) < 0.7, 1.0, uniform(0.5, 1.0)))
        attributes = dataclasses.replace(attributes, alpha=opacity)
        rendered = render(space, attributes, generator)
        noise_std = torch.where(buried, uniform(0.3, 0.6), uniform(0.0, config.max_pixel_noise))[:, None, None, None]
        rendered = rendered + noise_std * torch.randn(rendered.shape, generator=generator)
        static = 0.5 + uniform(0.2, 0.8)[:, None, None, None] * torch.randn(rendered.shape, generator=generator)
        rendered = torch.where(pure_noise[:, None, None, None], static, rendered).clamp(0, 1)
        images.append(rendered)
        targets.append(attribute_targets(space, attributes))
        present.append((~absent).float())
    return torch.cat(images), torch.cat(targets), torch.cat(present)


READING_WEIGHT = 10.0
"""Weight of the squared error of the normalised readings against the presence and shape cross-entropies."""


def train_probe(config: ProbeConfig, progress: bool = True) -> Probe:
    """Train on fresh renders every step (no fixed dataset, so no overfitting to one draw)."""
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    probe = Probe(config)
    centre, scale, is_logit = probe.readout()
    net = probe.net
    loss_fn = nn.BCEWithLogitsLoss(reduction="none")

    def batch_loss() -> torch.Tensor:
        images, targets, present = render_probe_batch(config, config.batch_size, generator)
        outputs = net(images)
        readings = outputs[:, :-1]  # (B, K)
        per_concept = torch.where(is_logit, loss_fn(readings, targets),
                                  READING_WEIGHT * (readings - (targets - centre) / scale) ** 2)
        # Readings learn only from images that show an object: an empty image has no colour or size.
        concept_loss = (per_concept.mean(1) * present).sum() / present.sum().clamp(min=1)
        return concept_loss + loss_fn(outputs[:, -1], present).mean()

    fit(net, batch_loss, config.lr, config.steps, "probe", progress)
    return probe


def fit(net: nn.Module, batch_loss: Callable[[], torch.Tensor], lr: float, steps: int, desc: str,
        progress: bool) -> None:
    """The probes' one training loop (the synthetic probe and CelebA's attribute probe): AdamW with a one-cycle
    schedule over `steps` batches of `batch_loss()`; leaves `net` in eval mode."""
    from tqdm.auto import tqdm

    net.train()
    optimizer = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps)
    for _ in tqdm(range(steps), disable=not progress, desc=desc, unit="step"):
        loss = batch_loss()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
    net.eval()


def class_mean_accuracy(
    probe: Probe, space: ConceptSpace, per_class: int = 256, seed: int = 0
) -> dict[str, dict[str, list[float]]]:
    """Per criterion, per class (label → per-concept accuracy, then presence) on renders at the exact class means
    of `space`."""
    generator = torch.Generator().manual_seed(seed)
    result: dict[str, dict[str, list[float]]] = {criterion: {} for criterion in CRITERIA}
    for code in space.all_classes():
        codes = torch.tensor([code] * per_class)
        attributes = sample_attributes(space, codes, generator, at_mean=True)
        scores = probe.score(render(space, attributes, generator), space)
        presence = (scores.p_present > 0.5).float().mean().item()
        for criterion in CRITERIA:
            # Per concept, whatever the presence head says: this measures the readings, presence has its own column.
            right = correctness(scores.position.numpy(), np.ones(per_class), code, space, criterion).mean(0)
            result[criterion][space.class_label(code)] = right.tolist() + [presence]
    return result


def calibration_error(
    probe: Probe, space: ConceptSpace, positions: np.ndarray = np.linspace(-0.25, 1.25, 13), per_point: int = 64,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """How far the probe's positions are off along each continuous concept's whole axis (red → blue,
    large → small, light → dark) in `space`: at each of `positions`, `per_point` renders with that concept there
    and the other concepts at random levels (within-class jitter). Per concept: the mean absolute error in
    position units, the worst per-point bias (signed mean error) and where it was."""
    generator = torch.Generator().manual_seed(seed)
    result = {}
    for k, concept in enumerate(space.concepts):
        if concept in LOGIT_CONCEPTS:
            continue
        errors = []
        for position in positions:
            codes = torch.randint(0, 2, (per_point, space.num_concepts), generator=generator)
            attributes = sample_attributes(space, codes, generator)
            value = along_axis(space, concept, torch.full((per_point, 1), float(position)))
            attributes = dataclasses.replace(attributes, **{concept: value})
            truth = to_position(attribute_targets(space, attributes), space)[:, k]  # clamping included
            errors.append(probe.score(render(space, attributes, generator), space).position[:, k] - truth)
        bias = torch.stack(errors).mean(1)  # (P,)
        worst = int(bias.abs().argmax())
        result[concept] = {"mean_abs_error": torch.stack(errors).abs().mean().item(),
                           "worst_bias": bias[worst].item(), "worst_at": float(positions[worst])}
    return result


def probe_fits(config: ProbeConfig, space: ConceptSpace) -> bool:
    """Whether a probe trained with `config` reads images of `space`: the same geometry (everything but the Δs)
    and concept signals inside the ranges it was trained on. Such a probe can score another run unchanged."""
    geometry = {f.name for f in dataclasses.fields(ConceptSpace)} - {"delta_color", "delta_size", "delta_bg"}
    if any(getattr(config.space, name) != getattr(space, name) for name in geometry):
        return False
    ranges = {"color": config.delta_color_range, "size": config.delta_size_range, "bg": config.delta_bg_range}
    return all(ranges[c][0] <= getattr(space, f"delta_{c}") <= ranges[c][1] for c in space.concepts if c in ranges)


def probe_config_for(space: ConceptSpace, **overrides: object) -> ProbeConfig:
    """A probe that reads images of this space's geometry at every Δ in the standard ranges (and this one)."""
    config = ProbeConfig(space=space, **overrides)  # type: ignore[arg-type]
    widen = lambda r, v: (min(r[0], v), max(r[1], v))  # noqa: E731
    return dataclasses.replace(
        config, delta_color_range=widen(config.delta_color_range, space.delta_color),
        delta_size_range=widen(config.delta_size_range, space.delta_size),
        delta_bg_range=widen(config.delta_bg_range, space.delta_bg),
    )
