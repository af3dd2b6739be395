"""The attribute probe of a CelebA run: a small CNN classifier of its two attributes, trained on labelled faces.

The authors score CelebA generations with a classifier trained on the labelled images (reference-spec §6): the
trajectory is x = P(female), y = P(smiling). Here the classifier is the synthetic probe's network (`ProbeNet`), its
two readings trained as logits of level 1 of each concept (so the flip that makes the held-out combination class
11 is learned in, and P(level 1) *is* the position: 0 at level 0, 1 at level 1, as on synthetic runs). It is
trained on every combination of the copy's train partition, the held-out one included, balanced per combination
(as the authors train theirs on all of CelebA); a rare combination (women with hats) gets what the copy holds.
A face dataset has no empty images, so the presence output is not trained and `score` reports every sample as
showing a face (p_present = 1): evaluation, elicitation and the views then run unchanged.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from torch import nn

from ..core import celeba
from ..core.concepts import ConceptSpace
from ..core.limits import PROBE_CONFIG, check_ranges
from ..core.run import RunFolderError, atomic_save_tensors
from .definitions import CRITERIA, correctness
from .probes import ProbeNet, ProbeScores, fit

ATTRIBUTE_FORMAT = "attributes"
"""The `probe_format` of an attribute probe's file (the synthetic probe's is probes.PROBE_FORMAT)."""


@dataclass(frozen=True)
class AttributeProbeConfig:
    space: ConceptSpace
    """The run's CelebA space: its attributes, held-out combination (the flips), copy and resolution."""
    per_class: int = 2000
    """Faces per combination of the two attributes, from the train partition."""
    width: int = 32
    steps: int = 800
    batch_size: int = 128
    lr: float = 2e-3
    seed: int = 1234

    def __post_init__(self) -> None:
        check_ranges("probe", self, PROBE_CONFIG, {})  # a probe file carries its config: untrusted input
        if self.space.dataset != "celeba":
            raise ValueError("An attribute probe reads CelebA runs; synthetic runs use the probe of probes.py.")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> AttributeProbeConfig:
        space = dict(data["space"]) | {"concepts": tuple(data["space"]["concepts"])}
        return cls(**(dict(data) | {"space": ConceptSpace(**space)}))


class AttributeProbe:
    """P(level 1) of each attribute of a CelebA space, as the positions every analysis reads."""

    def __init__(self, config: AttributeProbeConfig, net: ProbeNet | None = None) -> None:
        self.config = config
        self.net = net or ProbeNet(config.space.num_concepts, config.width)
        self.net.eval()

    @torch.no_grad()
    def score(self, images: torch.Tensor, space: ConceptSpace, chunk: int = 512) -> ProbeScores:
        """Positions (N, 2) = P(level 1) per attribute and p_present (N,) = 1 of images (N, 3, R, R), float in
        [0, 1] or uint8."""
        mine = self.config.space
        if (space.concepts, space.flips) != (mine.concepts, mine.flips):
            raise ValueError(f"This probe reads {' & '.join(mine.level_names(c)[1] for c in mine.concepts)} as level "
                             f"1, not {' & '.join(space.level_names(c)[1] for c in space.concepts)}.")
        if images.shape[-1] != mine.resolution:
            raise ValueError(f"This probe reads {mine.resolution} px images, got {images.shape[-1]} px.")
        if images.dtype == torch.uint8:
            images = images.float() / 255
        logits = torch.cat([self.net(images[i:i + chunk].cpu())[:, :-1] for i in range(0, images.shape[0], chunk)])
        return ProbeScores(position=torch.sigmoid(logits), p_present=torch.ones(images.shape[0]))

    def save(self, path: Path) -> None:
        atomic_save_tensors(path, self.net.state_dict(), {"probe_config": json.dumps(self.config.to_dict()),
                                                          "probe_format": ATTRIBUTE_FORMAT})

    @classmethod
    def load(cls, path: Path, where: str | None = None) -> AttributeProbe:
        where = where or str(path)
        if not Path(path).is_file():
            raise RunFolderError(f"No probe at {where}; train one with `concept-explorer probe`.")
        try:
            with safe_open(str(path), "pt") as handle:
                metadata = handle.metadata() or {}
                if metadata.get("probe_format") != ATTRIBUTE_FORMAT:
                    raise ValueError("not an attribute probe")
                probe = cls(AttributeProbeConfig.from_dict(json.loads(metadata["probe_config"])))
                probe.net.load_state_dict({k: handle.get_tensor(k) for k in handle.keys()})
        except Exception as error:
            raise RunFolderError(f"Cannot read the CelebA attribute probe at {where} ({str(error)[:80]}); retrain it "
                                 "with `concept-explorer probe`.") from None
        return probe


def train_attribute_probe(config: AttributeProbeConfig, progress: bool = True) -> AttributeProbe:
    """Cross-entropy on the level bits of up to `per_class` train-partition faces of each combination, in random
    batches with random horizontal flips (a face's attributes do not change in a mirror)."""
    space = config.space
    codes = space.all_classes()
    images, labels = celeba.load_classes(space, codes, config.per_class, config.seed)
    targets = torch.tensor(codes, dtype=torch.float32)[labels]  # (N, 2) level bits
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    probe = AttributeProbe(config)
    net = probe.net
    loss_fn = nn.BCEWithLogitsLoss()

    def batch_loss() -> torch.Tensor:
        index = torch.randint(images.shape[0], (config.batch_size,), generator=generator)
        mirror = torch.rand(config.batch_size, generator=generator) < 0.5
        batch = torch.where(mirror[:, None, None, None], images[index].flip(-1), images[index])
        return loss_fn(net(batch)[:, :-1], targets[index])

    fit(net, batch_loss, config.lr, config.steps, "attribute probe", progress)
    return probe


def attribute_accuracy(probe: AttributeProbe, space: ConceptSpace, per_class: int = 256, seed: int = 0
                       ) -> dict[str, dict[str, list[float]]]:
    """Per criterion, per class (label → per-concept accuracy, then presence) on up to `per_class` labelled faces of
    the validation and test partitions, which the probe never saw: the CelebA counterpart of
    probes.class_mean_accuracy, stored in the evaluation summary beside it."""
    codes = space.all_classes()
    images, labels = celeba.load_classes(space, codes, per_class, seed, ("val", "test"))
    scores = probe.score(images, space)
    result: dict[str, dict[str, list[float]]] = {criterion: {} for criterion in CRITERIA}
    for k, code in enumerate(codes):
        rows = (labels == k).numpy()
        for criterion in CRITERIA:
            right = correctness(scores.position[rows].numpy(), np.ones(rows.sum()), code, space, criterion).mean(0)
            result[criterion][space.class_label(code)] = right.tolist() + [1.0]
    return result

