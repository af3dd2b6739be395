"""Classifier probes: where a generated image sits in concept space, and whether it shows an object at all.

A small CNN with one 2-way head per concept (P(level 1)) and a presence head. It is trained on freshly rendered
images of *all* classes, held-out ones included (as the authors do, reference §4.1), over a range of concept
signals covering every Δ a run may use (fixing §9.6). Presence matters: early generations are often empty or
faint, and a probe trained only on clean renders calls an empty image "red-small" with full confidence, which
fakes a memorisation phase (cpu-feasibility.md). So negatives (background only, or a faint object) are trained
to presence 0, and every analysis treats "no object" as its own outcome.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import safe_open
from torch import nn

from ..core.concepts import ConceptSpace
from ..core.limits import PROBED_DELTA
from ..core.render import render, sample_attributes
from ..core.run import Run, RunFolderError, atomic_save_tensors


@dataclass(frozen=True)
class ProbeConfig:
    space: ConceptSpace = field(default_factory=ConceptSpace)
    """Geometry the probe reads (resolution, concepts, size centre, shape); its Δs are replaced by the ranges."""
    delta_color_range: tuple[float, float] = PROBED_DELTA["color"].bounds
    delta_size_range: tuple[float, float] = PROBED_DELTA["size"].bounds
    delta_bg_range: tuple[float, float] = PROBED_DELTA["bg"].bounds
    width: int = 32
    steps: int = 800
    batch_size: int = 128
    lr: float = 2e-3
    absent_fraction: float = 0.3
    max_pixel_noise: float = 0.08
    seed: int = 1234

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ProbeConfig:
        data = dict(data)
        space = data.pop("space")
        space["concepts"] = tuple(space["concepts"])
        tuples = {k: tuple(v) for k, v in data.items() if isinstance(v, list)}
        return cls(space=ConceptSpace(**space), **(data | tuples))


class ProbeNet(nn.Module):
    """Conv → GN → GELU stacks with two stride-2 downsamplings, global max+mean pooling, an MLP, and
    (num_concepts + 1) logits: one per concept for level 1, the last for "an object is present"."""

    def __init__(self, num_concepts: int, width: int) -> None:
        super().__init__()

        def block(c_in: int, c_out: int, stride: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1), nn.GroupNorm(4, c_out), nn.GELU())

        self.features = nn.Sequential(
            block(3, width, 1), block(width, width, 1), block(width, 2 * width, 2), block(2 * width, 2 * width, 2)
        )
        self.head = nn.Sequential(nn.Linear(4 * width, 2 * width), nn.GELU(), nn.Linear(2 * width, num_concepts + 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        features = self.features(images)  # (B, 2W, R/4, R/4)
        pooled = torch.cat([features.amax(dim=(2, 3)), features.mean(dim=(2, 3))], dim=1)
        return self.head(pooled)  # (B, K + 1) logits


@dataclass(frozen=True)
class ProbeScores:
    """Probe verdicts for N images."""

    p_level1: torch.Tensor  # (N, K) P(concept k at level 1), e.g. P(blue), P(small)
    p_present: torch.Tensor  # (N,) P(an object is drawn)


class Probe:
    def __init__(self, config: ProbeConfig, net: ProbeNet | None = None) -> None:
        self.config = config
        self.net = net or ProbeNet(config.space.num_concepts, config.width)
        self.net.eval()

    @property
    def concepts(self) -> tuple[str, ...]:
        return self.config.space.concepts

    @torch.no_grad()
    def score(self, images: torch.Tensor, chunk: int = 512) -> ProbeScores:
        """images: (N, 3, R, R) in [0, 1] (float) or uint8."""
        if images.dtype == torch.uint8:
            images = images.float() / 255
        resolution = self.config.space.resolution
        if images.shape[-1] != resolution:
            raise ValueError(f"This probe reads {resolution} px images, got {images.shape[-1]} px.")
        logits = torch.cat([self.net(images[i:i + chunk].cpu()) for i in range(0, images.shape[0], chunk)])
        probabilities = torch.sigmoid(logits)
        return ProbeScores(p_level1=probabilities[:, :-1], p_present=probabilities[:, -1])

    def save(self, path: Path) -> None:
        atomic_save_tensors(path, self.net.state_dict(), {"probe_config": json.dumps(self.config.to_dict())})

    @classmethod
    def load(cls, path: Path) -> Probe:
        if not Path(path).is_file():
            raise RunFolderError(f"No probe at {path}; train one with `concept-explorer probe`.")
        try:
            with safe_open(str(path), "pt") as handle:
                config = ProbeConfig.from_dict(json.loads(handle.metadata()["probe_config"]))
                state = {k: handle.get_tensor(k) for k in handle.keys()}
        except Exception as error:
            raise RunFolderError(f"Cannot read the probe at {path} ({error}); retrain it.") from None
        probe = cls(config)
        probe.net.load_state_dict(state)
        return probe


def render_probe_batch(
    config: ProbeConfig, batch: int, generator: torch.Generator, groups: int = 8
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Images of random classes at random concept signals, with labels.

    Returns images (B,3,R,R), level labels (B,K) float, presence labels (B,). A fraction `absent_fraction` of
    images show no legible object and get presence 0, in three kinds early generations produce: background only
    or a faint ghost (opacity ≤ 0.15), an object buried in heavy noise (std 0.3–0.6), and pure noise. The rest
    have opacity in [0.5, 1] and light noise (std ≤ max_pixel_noise); the gap between the two keeps labels clean."""
    images, levels, present = [], [], []
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
        attributes = sample_attributes(space, codes, generator)
        absent = torch.rand(per_group, generator=generator) < config.absent_fraction
        kind = torch.randint(0, 3, (per_group,), generator=generator)  # faint, buried, pure noise
        faint, buried, pure_noise = absent & (kind == 0), absent & (kind == 1), absent & (kind == 2)
        opacity = torch.where(faint, uniform(0.0, 0.15),
                              torch.where(torch.rand(per_group, generator=generator) < 0.7, 1.0, uniform(0.5, 1.0)))
        rendered = render(space, dataclasses.replace(attributes, alpha=opacity), generator)
        noise_std = torch.where(buried, uniform(0.3, 0.6), uniform(0.0, config.max_pixel_noise))[:, None, None, None]
        rendered = rendered + noise_std * torch.randn(rendered.shape, generator=generator)
        static = 0.5 + uniform(0.2, 0.8)[:, None, None, None] * torch.randn(rendered.shape, generator=generator)
        rendered = torch.where(pure_noise[:, None, None, None], static, rendered).clamp(0, 1)
        images.append(rendered)
        levels.append(codes.float())
        present.append((~absent).float())
    return torch.cat(images), torch.cat(levels), torch.cat(present)


def train_probe(config: ProbeConfig, progress: bool = True) -> Probe:
    """Train on fresh renders every step (no fixed dataset, so no overfitting to one draw)."""
    from tqdm.auto import tqdm

    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    probe = Probe(config)
    net = probe.net.train()
    optimizer = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=config.steps)
    loss_fn = nn.BCEWithLogitsLoss(reduction="none")
    for _ in tqdm(range(config.steps), disable=not progress, desc="probe", unit="step"):
        images, levels, present = render_probe_batch(config, config.batch_size, generator)
        logits = net(images)
        # Concept heads learn only from images that show an object: an empty image has no colour or size.
        concept_loss = (loss_fn(logits[:, :-1], levels).mean(1) * present).sum() / present.sum().clamp(min=1)
        loss = concept_loss + loss_fn(logits[:, -1], present).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
    net.eval()
    return probe


def class_mean_accuracy(probe: Probe, space: ConceptSpace, per_class: int = 256, seed: int = 0) -> dict[str, list[float]]:
    """Per class (label → per-concept accuracy) on renders at the exact class means of `space`, plus presence."""
    generator = torch.Generator().manual_seed(seed)
    result: dict[str, list[float]] = {}
    for code in space.all_classes():
        codes = torch.tensor([code] * per_class)
        attributes = sample_attributes(space, codes, generator, at_mean=True)
        scores = probe.score(render(space, attributes, generator))
        correct = ((scores.p_level1 > 0.5).float() == codes.float()).float().mean(0)
        result[space.class_label(code)] = correct.tolist() + [(scores.p_present > 0.5).float().mean().item()]
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



def ensure_probe(run: Run, progress: bool = True) -> Probe:
    """The run's probe, trained the first time it is needed (and stored in the run folder)."""
    path = run.layout.probe
    if path.is_file():
        return Probe.load(path)
    probe = train_probe(probe_config_for(run.config.concept_space), progress=progress)
    probe.save(path)
    return probe
