"""Evaluate a run: generate samples per class at every checkpoint, score them with the probe, store everything.

    probe (trained here if absent)   the probe that scored this run
    evaluation samples per step      images (uint8), per-sample positions and P(present), class index per sample
    evaluation summary               format, eval settings, probe identity, accuracy and calibration error,
                                     per-class summary per step (positions, and verdicts under each criterion)

Training classes are prompted with h drawn from their training distribution, held-out classes at their exact
class means (reference §1.2). The same prompts and the same sampler noise are used at every checkpoint (one
seed), so differences between checkpoints come from the weights, not from the draw. Incremental: checkpoints
already generated are skipped; if the probe changed, stored images are re-scored without sampling again.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from ..core import limits
from ..core.concepts import ConceptSpace
from ..core.folder_checks import check_tensors
from ..core.render import conditioning, sample_attributes
from ..core.run import Run, RunFolderError, atomic_save_tensors, file_digest, safetensors_header
from ..core.sampling import generate
from .definitions import DEFAULT_CRITERION, check_criterion, summarize_class
from .run_probe import ensure_probe, probe_report
from .summaries import StepSummary, read_summary


@dataclass(frozen=True)
class EvalConfig:
    samples_per_class: int = 64
    seed: int = 0
    precision: str = "fp32"  # resolved: fp32 or bf16 (core/precision.py)
    sample_steps: int | None = None  # sampler steps; None: the run's own (train.sample_steps)

    def __post_init__(self) -> None:
        limits.PASS_SAMPLES.check("samples per class", self.samples_per_class)
        limits.PASS_SEED.check("seed", self.seed)
        if self.sample_steps is not None:
            limits.SAMPLE_STEPS.check("sampling steps", self.sample_steps)

    def steps_for(self, run: Run) -> int:
        return self.sample_steps or run.config.train.sample_steps


def class_prompts(space: ConceptSpace, per_class: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """h (C·N, 11) and class index (C·N,) into space.all_classes(): training classes drawn from their training
    distribution, held-out classes at their means (on CelebA both are the class prompt: every face of a class has
    the same h)."""
    generator = torch.Generator().manual_seed(seed)
    prompts, labels = [], []
    for index, code in enumerate(space.all_classes()):
        if space.dataset == "celeba":
            prompts.append(space.class_prompt(code).expand(per_class, -1))
        else:
            codes = torch.tensor([code] * per_class)
            attributes = sample_attributes(space, codes, generator, at_mean=sum(code) > 1)
            prompts.append(conditioning(space, attributes))
        labels.append(torch.full((per_class,), index))
    return torch.cat(prompts), torch.cat(labels)


class Evaluation:
    """Stored evaluation of a run, read back as arrays indexed [checkpoint, class, ...]; the accuracies and
    outcomes are those of one criterion (definitions.CRITERIA), the coordinates and presence hold for both."""

    def __init__(self, run: Run, criterion: str = DEFAULT_CRITERION) -> None:
        self.run = run
        self.criterion = check_criterion(criterion)
        self.summary = read_summary(
            run, run.layout.evaluation_summary,
            f"{run.name} has not been evaluated yet; run `concept-explorer evaluate` on it.", "evaluate", False)
        self.space = run.config.concept_space
        self.steps: list[int] = [int(s) for s in self.summary["steps"]]
        self.classes = self.space.all_classes()
        self.labels = [self.space.class_label(c) for c in self.classes]
        per_step = [self.summary["per_step"][str(s)] for s in self.steps]
        verdicts = [[row[label]["criteria"][criterion] for label in self.labels] for row in per_step]
        self.coordinates = np.array([[[np.nan if v is None else v for v in row[label]["coordinates"]]
                                      for label in self.labels] for row in per_step], dtype=float)  # (T, C, K)
        self.concept_accuracy = np.array([[v["concept_accuracy"] for v in row] for row in verdicts])  # (T, C, K)
        self.joint_accuracy = np.array([[v["joint_accuracy"] for v in row] for row in verdicts])  # (T, C)
        self.presence = np.array([[row[label]["presence"] for label in self.labels] for row in per_step])
        self.outcomes = [[v["outcomes"] for v in row] for row in verdicts]
        for step in self.steps:
            self.check_samples(step)

    def check_samples(self, step: int) -> None:
        """The stored samples of a summarized checkpoint are there and hold what `evaluate_run` writes."""
        path = self.run.layout.evaluation_samples(step)
        where = self.run.layout.place(path)
        remedy = "delete it and the evaluation summary, then run `concept-explorer evaluate` again."
        if not path.is_file():
            raise RunFolderError(f"{where} is missing though the evaluation summary lists step {step}; {remedy}")
        total = self.summary["settings"]["samples_per_class"] * len(self.classes)
        check_tensors(safetensors_header(path, where), sample_tensors(self.space, total),
                      f"{where} does not hold the evaluation's samples", remedy)
        with safe_open(path, "pt") as handle:  # the labels index the class names: a few bytes to check
            labels = handle.get_tensor("labels")
        if not ((labels >= 0) & (labels < len(self.classes))).all():
            raise RunFolderError(f"{where} holds class labels this run does not have; {remedy}")

    def samples(self, step: int) -> dict[str, torch.Tensor]:
        """images (N,3,R,R) uint8, position (N,K), p_present (N,), labels (N,) for one checkpoint."""
        self.run.check_step(step)
        if not self.run.layout.evaluation_samples(step).is_file():
            raise RunFolderError(f"Checkpoint {step} of {self.run.name} has not been evaluated; run evaluate again.")
        self.check_samples(step)
        return load_file(self.run.layout.evaluation_samples(step))


def sample_tensors(space: ConceptSpace, total: int) -> dict[str, tuple[str, list[int]]]:
    """What an evaluation samples file of `total` samples holds: name → (safetensors dtype, shape)."""
    resolution = space.resolution
    return {"images": ("U8", [total, 3, resolution, resolution]), "position": ("F32", [total, space.num_concepts]),
            "p_present": ("F32", [total]), "labels": ("I64", [total])}


def evaluate_run(
    run: Run, config: EvalConfig = EvalConfig(), device: str | torch.device = "cpu", progress: bool = True,
    steps: list[int] | None = None,
) -> list[int]:
    """Evaluate every (or the given) checkpoint not yet evaluated. Returns the steps that were sampled."""
    space = run.config.concept_space
    run.remove_temporaries(run.layout.evaluation_summary.parent)  # what a killed pass left
    probe = ensure_probe(run, progress=progress)
    settings = asdict(config) | {"sample_steps": config.steps_for(run)}
    summary = StepSummary(run, run.layout.evaluation_summary, settings, "evaluate", per_method=False)
    summary.use_probe(file_digest(run.layout.probe), lambda: {
        "concepts": list(space.concepts) + ["present"], **probe_report(probe, space)})  # a new probe: re-score below
    h, labels = class_prompts(space, config.samples_per_class, config.seed)
    sampled = []

    def row_at(step: int) -> dict:
        path = run.layout.evaluation_samples(step)
        # Images stored under the same settings are reused (an interrupted pass, or a new probe re-scoring them).
        expected = sample_tensors(space, h.shape[0])
        reusable = path.is_file() and not summary.restarted and {  # else drawn again and overwritten
            k: (v["dtype"], v["shape"]) for k, v in safetensors_header(path).items() if k != "__metadata__"} == expected
        stored = load_file(path) if reusable else None
        if stored is not None:
            images = stored["images"]
        else:
            images = generate(run.load_model(step, device), h, config.steps_for(run), config.seed,
                              precision=config.precision)
            sampled.append(step)
        scores = probe.score(images, space)
        atomic_save_tensors(path, {"images": images, "position": scores.position, "p_present": scores.p_present,
                                   "labels": labels})
        return {
            space.class_label(code): summarize_class(
                scores.position[labels == index].numpy(), scores.p_present[labels == index].numpy(), code, space
            ).to_dict()
            for index, code in enumerate(space.all_classes())
        }

    summary.fill([run.check_step(s) for s in (steps or run.steps)], row_at, "evaluate", progress)
    return sampled
