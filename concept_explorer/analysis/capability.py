"""Capability curves: held-out-class accuracy per checkpoint under plain prompting and each elicitation method,
and the hidden-capability gap they imply.

    elicitation samples per step   per method and held-out class: images (uint8), positions and P(present)
    elicitation summary            format, settings, probe identity, per step → method → class summary (positions,
                                   and verdicts under each criterion); curves are read under one criterion

Every method at a checkpoint uses the same sampler seed and batch layout, so the methods differ only in the
prompt, the embedding edit or the embedding weights (overprompt 0 and intervention 0 are plain, bit for bit).
"Best of a grid" picks, per checkpoint, the strength with the highest joint accuracy; that is optimistic by the
sampling noise of a max (≈ ±0.06 at 64 samples), which the UI shows beside every number.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from safetensors.torch import load_file

from ..core import limits
from ..core.celeba import ATTRIBUTES
from ..core.concepts import CONCEPT_ORDER, ConceptSpace, mask_concept
from ..core.folder_checks import check_tensors
from ..core.precision import autocast
from ..core.run import Run, RunFolderError, atomic_save_tensors, file_digest, safetensors_header
from ..core.sampling import generate_embedded
from ..core.vdm import VDM
from .definitions import (
    DEFAULT_CRITERION,
    LearningStep,
    check_criterion,
    hidden_capability_gap,
    learning_step,
    summarize_class,
)
from .elicit import DIRECTIONS, intervention, overprompt, patch_embedding
from .run_probe import ensure_probe
from .summaries import StepSummary, check_format, read_summary

FAMILIES = ("plain", "overprompt", *(f"intervention-{d}" for d in DIRECTIONS), "patch", "guidance")
"""Method families; an intervention's family names its direction (elicit.DIRECTIONS), so each is its own curve."""
MASKED = "masked"
"""The held-out prompt with the run's masked concept left unspecified (train.mask_concept): what the model draws
for "a triangle" when red triangles' captions omitted their colour. Generated and scored beside the methods, but
not a family: it asks what an underspecified prompt means, not whether a capability can be elicited, so it never
enters a capability curve or the best elicitation."""


@dataclass(frozen=True)
class ElicitConfig:
    concepts: tuple[str, ...] = ("color",)
    overprompt_strengths: tuple[float, ...] = (1.0, 2.0)
    intervention_strengths: tuple[float, ...] = (0.5, 1.0)
    intervention_directions: tuple[str, ...] = tuple(DIRECTIONS)
    guidance_weights: tuple[float, ...] = (2.0, 4.0)  # sampled only for runs trained with a null token
    patch: bool = True
    samples: int = 64
    seed: int = 0
    precision: str = "fp32"  # resolved: fp32 or bf16 (core/precision.py)
    sample_steps: int | None = None  # sampler steps; None: the run's own (train.sample_steps)

    def __post_init__(self) -> None:
        limits.PASS_SAMPLES.check("samples per method", self.samples)
        limits.PASS_SEED.check("seed", self.seed)
        if self.sample_steps is not None:
            limits.SAMPLE_STEPS.check("sampling steps", self.sample_steps)
        for name, strengths in (("overprompt", self.overprompt_strengths),
                                ("intervention", self.intervention_strengths)):
            for strength in strengths:
                limits.finite(f"{name} strength", strength)
        for weight in self.guidance_weights:
            limits.GUIDANCE.check("guidance weight", weight)
        unknown = [d for d in self.intervention_directions if d not in DIRECTIONS]
        if unknown:
            raise ValueError(f"Unknown intervention direction(s) {unknown}; choose from {list(DIRECTIONS)}.")
        if not self.concepts:
            raise ValueError("Name at least one concept to elicit.")
        unknown = [c for c in self.concepts if c not in CONCEPT_ORDER + ATTRIBUTES]
        if unknown:
            raise ValueError(f"Unknown concept(s) {unknown} to elicit; choose from {list(CONCEPT_ORDER)} or the "
                             "run's CelebA attributes.")

    def methods(self, guidance: bool = True, masked: bool = False) -> list[tuple[str, str, float]]:
        """(key, family, strength) of every generation made per checkpoint and held-out class; guidance only when
        the run has a null token to guide against; "masked" (the prompt with the run's masked concept left
        unspecified, MASKED) only when it was trained with masked prompts."""
        methods = [("plain", "plain", 0.0)] + ([(MASKED, MASKED, 0.0)] if masked else [])
        methods += [(f"overprompt@{s:g}", "overprompt", s) for s in self.overprompt_strengths]
        methods += [(f"intervention-{d}@{s:g}", f"intervention-{d}", s)
                    for d in self.intervention_directions for s in self.intervention_strengths]
        if self.patch:
            methods.append(("patch@final", "patch", 1.0))
        if guidance:
            methods += [(f"guidance@{w:g}", "guidance", w) for w in self.guidance_weights]
        return methods


@torch.no_grad()
def method_embeddings(
    model: VDM, space: ConceptSpace, layout: list[tuple[str, str, float, tuple[int, ...]]], config: ElicitConfig,
    donor: dict[str, torch.Tensor] | None, device: str | torch.device, mask: str = "",
) -> tuple[torch.Tensor, torch.Tensor]:
    """The concept embeddings (M·N, D) and guidance weights (M·N,) of every (method, held-out class) in `layout`,
    N = config.samples rows each, so one sampler call draws them all; computed under the pass's precision, as the
    sampler would compute them from the prompts. `mask`: the concept the MASKED method leaves unspecified."""
    embed = model.denoiser.embedding
    patched = patch_embedding(model, donor).denoiser.embedding if donor is not None else None
    blocks, weights = [], []
    with autocast(config.precision, next(model.parameters()).device):
        for _, family, strength, code in layout:
            h = space.class_prompt(code)
            if family == "overprompt":
                h = overprompt(space, code, {c: strength for c in config.concepts}).h
            if family == MASKED:
                h = mask_concept(h, mask)
            h = h[None].repeat(config.samples, 1).to(device)
            e = (patched if family == "patch" else embed)(h)
            if family.startswith("intervention-"):
                e = intervention(model, space, code, {c: strength for c in config.concepts},
                                 direction=family.removeprefix("intervention-"))(e)
            blocks.append(e)
            weights.append(torch.full((config.samples,), strength if family == "guidance" else 1.0))
    return torch.cat(blocks), torch.cat(weights)


def sample_distinct(
    model: VDM, e: torch.Tensor, weights: torch.Tensor, steps: int, config: ElicitConfig
) -> torch.Tensor:
    """Images of every block of config.samples rows, sampling each distinct (embeddings, weights) block once:
    blocks share the sampler's noise, so equal blocks draw equal images (overprompting at two strengths that both
    clip to [0, 1] is one prompt, e.g. colour at Δ 0.6 pushed by 1 or by 2)."""
    blocks = list(zip(e.split(config.samples), weights.split(config.samples)))
    distinct: list[int] = []
    source = []
    for block, weight in blocks:
        match = next((j for j in distinct if torch.equal(blocks[j][0], block) and torch.equal(blocks[j][1], weight)),
                     None)
        if match is None:
            distinct.append(len(source))
            match = len(source)
        source.append(match)
    drawn = generate_embedded(model, torch.cat([blocks[j][0] for j in distinct]), steps, config.seed,
                              torch.cat([blocks[j][1] for j in distinct]), group=config.samples,
                              precision=config.precision).split(config.samples)
    images = dict(zip(distinct, drawn))
    return torch.cat([images[j] for j in source])


def elicit_run(
    run: Run, config: ElicitConfig = ElicitConfig(), device: str | torch.device = "cpu", progress: bool = True,
    steps: list[int] | None = None,
) -> list[int]:
    """Fill in capability curves for checkpoints not yet done. Returns the steps that were sampled."""
    space = run.config.concept_space
    for concept in config.concepts:
        if concept not in space.concepts:
            raise ValueError(f"Unknown concept {concept!r}; this run's concepts are {list(space.concepts)}.")
    run.remove_temporaries(run.layout.elicitation_summary.parent)  # what a killed pass left
    probe = ensure_probe(run, progress=progress)
    settings = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(config).items()}
    settings |= {"sample_steps": config.sample_steps or run.config.train.sample_steps, "donor_step": run.final_step}
    summary = StepSummary(run, run.layout.elicitation_summary, settings, "elicit", per_method=True)
    summary.use_probe(file_digest(run.layout.probe), dict)  # a new probe: stored images are re-scored below
    donor = run.load_state(run.final_step) if config.patch else None

    def row_at(step: int) -> dict:
        model = run.load_model(step, device)
        mask = run.config.train.mask_concept
        methods = config.methods(guidance=run.config.train.p_uncond > 0, masked=bool(mask))
        layout = [(key, family, strength, code) for key, family, strength in methods
                  for code in space.heldout_classes()]
        names = [f"{key}/{space.class_label(code)}" for key, _, _, code in layout]
        # Images stored under the same settings are reused (an interrupted pass, or a new probe re-scoring them).
        path = run.layout.elicitation_samples(step)
        stored = load_file(path) if path.is_file() and not summary.restarted else {}
        shape = (config.samples, 3, space.resolution, space.resolution)
        if all(stored.get(f"{name}/images", torch.empty(0)).shape == shape for name in names):
            images = torch.cat([stored[f"{name}/images"] for name in names])
        else:
            e, weights = method_embeddings(model, space, layout, config, donor, device, mask)
            images = sample_distinct(model, e, weights, settings["sample_steps"], config)
            sampled.add(step)
        tensors: dict[str, torch.Tensor] = {}
        row: dict[str, dict] = {key: {} for key, _, _ in methods}
        for (key, _, _, code), name, block in zip(layout, names, images.split(config.samples)):
            scores = probe.score(block, space)
            tensors |= {f"{name}/images": block, f"{name}/position": scores.position,
                        f"{name}/p_present": scores.p_present}
            row[key][space.class_label(code)] = summarize_class(scores.position.numpy(), scores.p_present.numpy(),
                                                                code, space).to_dict()
        atomic_save_tensors(path, tensors)
        return row

    sampled: set[int] = set()
    summary.fill([run.check_step(s) for s in (steps or run.steps)], row_at, "elicit", progress)
    return sorted(sampled)


@dataclass(frozen=True)
class CapabilityCurves:
    """For one held-out class, under one criterion: per family, the best-of-grid accuracy at each checkpoint and
    which strength won."""

    label: str
    steps: list[int]
    joint: dict[str, np.ndarray]  # family → (T,)
    concept: dict[str, np.ndarray]  # family → (T, K)
    best_key: dict[str, list[str]]  # family → per checkpoint, the method key that won
    learned: dict[str, LearningStep]
    concept_learned: dict[str, list[LearningStep]]  # family → per concept, with its own best strength per step
    criterion: str = DEFAULT_CRITERION  # the criterion every accuracy here is read under

    def gap(self, family: str) -> int | None:
        return hidden_capability_gap(self.learned["plain"], self.learned[family])

    def earliest_elicited(self) -> tuple[str | None, LearningStep]:
        """The elicitation family that learns the class first (the first of equals in family order) and its
        learning step; (None, not learned) when no elicitation family learns it."""
        elicited = {f: s for f, s in self.learned.items() if f != "plain" and s.learned}
        if not elicited:
            return None, LearningStep(None)
        family = min(elicited, key=lambda f: elicited[f].step)
        return family, elicited[family]


def load_elicitation(run: Run) -> dict:
    """The elicitation summary, checked, after checking the stored samples of every step it lists."""
    summary = read_summary(run, run.layout.elicitation_summary,
                           f"{run.name} has no capability curves yet; run `concept-explorer elicit` on it.", "elicit",
                           per_method=True)
    space, samples = run.config.concept_space, summary["settings"]["samples"]
    for step in summary["steps"]:
        path = run.layout.elicitation_samples(step)
        where = run.layout.place(path)
        remedy = "delete it and the elicitation summary, then run `concept-explorer elicit` again."
        if not path.is_file():
            raise RunFolderError(f"{where} is missing though the elicitation summary lists step {step}; {remedy}")
        expected = {}
        for method in summary["per_step"][str(step)]:
            for code in space.heldout_classes():
                name = f"{method}/{space.class_label(code)}"
                expected |= {f"{name}/images": ("U8", [samples, 3, space.resolution, space.resolution]),
                             f"{name}/position": ("F32", [samples, space.num_concepts]),
                             f"{name}/p_present": ("F32", [samples])}
        check_tensors(safetensors_header(path, where), expected, f"{where} does not hold the elicitation's samples",
                      remedy)
    return summary


def capability_curves(
    summary: dict, label: str, threshold: float = 0.8, consecutive: int = 3, criterion: str = DEFAULT_CRITERION
) -> CapabilityCurves:
    """Best-of-grid curves and learning steps of one held-out class from an elicitation summary, with the
    accuracies of `criterion` (the best strength is picked under that criterion too)."""
    check_criterion(criterion)
    check_format(summary, "This elicitation summary", "elicit")
    steps = [int(s) for s in summary["steps"]]
    rows = [{key: {name: entry["criteria"][criterion] for name, entry in classes.items()}
             for key, classes in summary["per_step"][str(s)].items()} for s in steps]
    joint, concept, best_key, learned, concept_learned = {}, {}, {}, {}, {}
    for family in FAMILIES:
        keys = [k for k in rows[0] if k.split("@")[0] == family] if rows else []
        if not keys:
            continue
        winners = [max(keys, key=lambda k: row[k][label]["joint_accuracy"]) for row in rows]
        best_key[family] = winners
        joint[family] = np.array([row[k][label]["joint_accuracy"] for row, k in zip(rows, winners)])
        concept[family] = np.array([row[k][label]["concept_accuracy"] for row, k in zip(rows, winners)])
        learned[family] = learning_step(joint[family], steps, threshold, consecutive)
        per_concept = np.array([[max(row[k][label]["concept_accuracy"][c] for k in keys)
                                 for c in range(len(row[keys[0]][label]["concept_accuracy"]))] for row in rows])
        concept_learned[family] = [learning_step(per_concept[:, c], steps, threshold, consecutive)
                                   for c in range(per_concept.shape[1])]
    return CapabilityCurves(label, steps, joint, concept, best_key, learned, concept_learned, criterion)


def read_elicited_samples(run: Run, step: int) -> dict[str, torch.Tensor]:
    run.check_step(step)
    path = run.layout.elicitation_samples(step)
    if not path.is_file():
        raise RunFolderError(f"Checkpoint {step} of {run.name} has no elicitation samples; run elicit again.")
    safetensors_header(path, run.layout.place(path))
    return load_file(path)
