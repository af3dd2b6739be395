"""Evaluate a run: generate samples per class at every checkpoint, score them with the probe, store everything.

    RUN/probe/probe.safetensors          the probe that scored this run (trained here if absent)
    RUN/evaluation/<step>.safetensors    images (uint8), per-sample probe probabilities, class index per sample
    RUN/evaluation/summary.json          eval settings, probe identity and accuracy, per-class summary per step

Training classes are prompted with h drawn from their training distribution, held-out classes at their exact
class means (reference §1.2). The same prompts and the same sampler noise are used at every checkpoint (one
seed), so differences between checkpoints come from the weights, not from the draw. Incremental: checkpoints
already generated are skipped; if the probe changed, stored images are re-scored without sampling again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file
from tqdm.auto import tqdm

from ..core.concepts import ConceptSpace
from ..core.render import conditioning, sample_attributes
from ..core.run import Run, RunFolderError, atomic_save_tensors, atomic_write_json
from ..core.vdm import VDM, EmbeddingEdit
from .definitions import summarize_class
from .probes import Probe, class_mean_accuracy, probe_config_for, train_probe


@dataclass(frozen=True)
class EvalConfig:
    samples_per_class: int = 64
    seed: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.samples_per_class <= 4096:
            raise ValueError(f"samples_per_class must be in 1..4096, got {self.samples_per_class}.")


def class_prompts(space: ConceptSpace, per_class: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """h (C·N, 11) and class index (C·N,) into space.all_classes(): training classes drawn from their training
    distribution, held-out classes at their means."""
    generator = torch.Generator().manual_seed(seed)
    prompts, labels = [], []
    for index, code in enumerate(space.all_classes()):
        codes = torch.tensor([code] * per_class)
        attributes = sample_attributes(space, codes, generator, at_mean=sum(code) > 1)
        prompts.append(conditioning(space, attributes))
        labels.append(torch.full((per_class,), index))
    return torch.cat(prompts), torch.cat(labels)


def generate(
    model: VDM, h: torch.Tensor, steps: int, seed: int, guidance: float = 1.0, edit: EmbeddingEdit | None = None,
    chunk: int = 256,
) -> torch.Tensor:
    """Sample images for prompts h, returned as uint8 (N, 3, R, R). One seed fixes all the sampler's noise."""
    generator = torch.Generator().manual_seed(seed)
    images = [model.sample(h[i:i + chunk], steps, generator, guidance=guidance, edit=edit)
              for i in range(0, h.shape[0], chunk)]
    return to_uint8(torch.cat(images).cpu())


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    return (images.clamp(0, 1) * 255).round().to(torch.uint8)


def save_summary(path: Path, summary: dict) -> None:
    """Write an incremental per-step summary (evaluation or elicitation) after each checkpoint, so an
    interrupted pass keeps what it finished; `steps` lists the checkpoints done so far."""
    summary["steps"] = sorted(int(s) for s in summary["per_step"])
    atomic_write_json(path, summary)


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def probe_path(run: Run) -> Path:
    return run.path / "probe" / "probe.safetensors"


def ensure_probe(run: Run, progress: bool = True) -> Probe:
    """The run's probe, trained (and checked on class means) the first time it is needed."""
    path = probe_path(run)
    if path.is_file():
        return Probe.load(path)
    probe = train_probe(probe_config_for(run.config.concept_space), progress=progress)
    probe.save(path)
    return probe


class Evaluation:
    """Stored evaluation of a run, read back as arrays indexed [checkpoint, class, ...]."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.directory = run.path / "evaluation"
        summary_path = self.directory / "summary.json"
        if not summary_path.is_file():
            raise RunFolderError(f"{run.name} has not been evaluated yet; run `concept-explorer evaluate {run.path}`.")
        try:
            self.summary = json.loads(summary_path.read_text())
        except ValueError:
            raise RunFolderError(f"{summary_path} is corrupt; delete it and re-run evaluate.") from None
        self.space = run.config.concept_space
        self.steps: list[int] = [int(s) for s in self.summary["steps"]]
        self.classes = self.space.all_classes()
        self.labels = [self.space.class_label(c) for c in self.classes]
        per_step = [self.summary["per_step"][str(s)] for s in self.steps]
        self.coordinates = np.array([[[np.nan if v is None else v for v in row[label]["coordinates"]]
                                      for label in self.labels] for row in per_step], dtype=float)  # (T, C, K)
        self.concept_accuracy = np.array([[row[label]["concept_accuracy"] for label in self.labels]
                                          for row in per_step])  # (T, C, K)
        self.joint_accuracy = np.array([[row[label]["joint_accuracy"] for label in self.labels]
                                        for row in per_step])  # (T, C)
        self.presence = np.array([[row[label]["presence"] for label in self.labels] for row in per_step])
        self.outcomes = [[row[label]["outcomes"] for label in self.labels] for row in per_step]

    def samples(self, step: int) -> dict[str, torch.Tensor]:
        """images (N,3,R,R) uint8, p_level1 (N,K), p_present (N,), labels (N,) for one checkpoint."""
        self.run.check_step(step)
        path = self.directory / f"{step}.safetensors"
        if not path.is_file():
            raise RunFolderError(f"Checkpoint {step} of {self.run.name} has not been evaluated; run evaluate again.")
        return load_file(path)

    def class_index(self, code: tuple[int, ...]) -> int:
        return self.classes.index(code)


def evaluate_run(
    run: Run, config: EvalConfig = EvalConfig(), device: str | torch.device = "cpu", progress: bool = True,
    steps: list[int] | None = None,
) -> list[int]:
    """Evaluate every (or the given) checkpoint not yet evaluated. Returns the steps that were sampled."""
    space = run.config.concept_space
    directory = run.path / "evaluation"
    summary_path = directory / "summary.json"
    probe = ensure_probe(run, progress=progress)
    digest = file_digest(probe_path(run))
    settings = asdict(config) | {"sample_steps": run.config.train.sample_steps}
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    if summary.get("settings") != settings:
        summary = {"settings": settings, "per_step": {}}  # other sampling settings: start over
    if summary.get("probe", {}).get("digest") != digest:
        summary["probe"] = {"digest": digest, "class_mean_accuracy": class_mean_accuracy(probe, space),
                            "concepts": list(space.concepts) + ["present"]}
        summary["per_step"] = {}  # re-score below, from stored images where they exist
    h, labels = class_prompts(space, config.samples_per_class, config.seed)
    wanted = [run.check_step(s) for s in (steps or run.steps)]
    todo = [s for s in wanted if str(s) not in summary["per_step"]]
    sampled = []
    for step in tqdm(todo, disable=not progress, desc="evaluate", unit="ckpt"):
        path = directory / f"{step}.safetensors"
        stored = load_file(path) if path.is_file() else None
        if stored is not None and stored["images"].shape[0] == h.shape[0]:
            images = stored["images"]
        else:
            model = run.load_model(step, device)
            images = generate(model, h, run.config.train.sample_steps, config.seed)
            sampled.append(step)
        scores = probe.score(images)
        atomic_save_tensors(path, {"images": images, "p_level1": scores.p_level1, "p_present": scores.p_present,
                                   "labels": labels})
        summary["per_step"][str(step)] = {
            space.class_label(code): summarize_class(
                scores.p_level1[labels == index].numpy(), scores.p_present[labels == index].numpy(), code
            ).to_dict()
            for index, code in enumerate(space.all_classes())
        }
        save_summary(summary_path, summary)
    if not todo:
        save_summary(summary_path, summary)  # a run with nothing new still gets a readable summary
    return sampled
