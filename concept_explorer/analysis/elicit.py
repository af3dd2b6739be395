"""Eliciting hidden capabilities at a checkpoint (reference §5): overprompting, linear latent intervention,
embedding patching and classifier-free guidance — each a function of a loaded model, usable from Python, the CLI
and the UI. The capability curves that measure them across a trajectory are in capability.py.

Strength conventions (0 is always the plain prompt, bit for bit):
- overprompt s: each chosen concept of the prompt moves past its class mean, away from the other level, by
  s·Δ/2, so the prompt has the Δ-equivalent Δ·(1 + s) (the authors' grid is Δ-equivalents 0.2…0.9, §5.1);
  values are clipped to [0, 1] and the clipped concepts are reported. The same push applies to any base prompt
  (live generation starts from the viewer's concept sliders instead of the class mean).
- intervention s: e′ = e + s·d with d a difference of embeddings e(level-1 prompt) − e(level-0 prompt) of a
  concept, computed at the checkpoint it is applied to (difference directions, §5.2's cleaner choice);
  `projection` mode instead adds s·(e·d̂)d̂ (the authors' form). The sign follows the target class's level.
  Three ways to take d (`DIRECTIONS`), because the training pairs that differ in colour share one size: in the 2x2
  space red-large → blue-large is the only colour pair, so its d also carries "large" and pushes a blue-small
  target toward large.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch

from ..core.concepts import ConceptSpace
from ..core.limits import finite
from ..core.vdm import VDM, EmbeddingEdit


def _check_concept(space: ConceptSpace, concept: str) -> str:
    if concept not in space.concepts:
        raise ValueError(f"Unknown concept {concept!r}; this run's concepts are {list(space.concepts)}.")
    return concept


@dataclass(frozen=True)
class Overprompt:
    h: torch.Tensor  # (11,)
    clipped: tuple[str, ...]  # concepts whose slots were clipped to [0, 1]


def overprompt(
    space: ConceptSpace, code: tuple[int, ...], strengths: dict[str, float], base: torch.Tensor | None = None
) -> Overprompt:
    """A prompt pushed along the given concepts' semantic axes, away from the other level of `code`'s class.
    `base` is the prompt to push (default: the class mean of `code`); every concept's slots end in [0, 1], except
    CelebA's one-hot attributes: they have no range to leave, and clipping would undo the push."""
    h = space.class_prompt(code) if base is None else base.clone()
    for concept, strength in strengths.items():
        strength = finite(f"overprompt {concept} strength", strength)
        bit = code[space.concepts.index(_check_concept(space, concept))]
        slot = space.slot(concept)
        h[slot] = h[slot] + (1 if bit else -1) * strength * space.concept_axis(concept)[slot] / 2
    if space.dataset == "celeba":
        return Overprompt(h=h, clipped=())
    clipped = tuple(c for c in space.concepts if ((h[space.slot(c)] < 0) | (h[space.slot(c)] > 1)).any())
    return Overprompt(h=h.clamp(0, 1), clipped=clipped)


DIRECTIONS = {
    "pairs": "mean over training-class pairs that differ only in the concept (carries their shared levels)",
    "orthogonal": "the pairs direction with every other concept's pairs direction projected out",
    "target": "the difference at the target class's own levels of the other concepts (continuous h, so the "
              "embedding answers even for a held-out combination)",
}
"""How `concept_direction` takes d; which one is the default is measured (README, "Which intervention")."""

DEFAULT_DIRECTION = "target"


@torch.no_grad()
def _pairs_direction(model: VDM, space: ConceptSpace, k: int) -> torch.Tensor:
    training = space.training_classes()
    pairs = [(c, c[:k] + (1,) + c[k + 1:]) for c in training if c[k] == 0 and c[:k] + (1,) + c[k + 1:] in training]
    device = next(model.parameters()).device
    embed = model.denoiser.embedding
    level0 = embed(torch.stack([space.class_prompt(a) for a, _ in pairs]).to(device))
    level1 = embed(torch.stack([space.class_prompt(b) for _, b in pairs]).to(device))
    return (level1 - level0).mean(0)  # (D,)


@torch.no_grad()
def concept_direction(
    model: VDM, space: ConceptSpace, concept: str, direction: str = "pairs", target: tuple[int, ...] | None = None
) -> torch.Tensor:
    """d (D,) of `concept` at this model, taken as `DIRECTIONS[direction]` says; `target` (a class code) is needed
    by "target" only."""
    k = space.concepts.index(_check_concept(space, concept))
    if direction == "pairs":
        return _pairs_direction(model, space, k)
    if direction == "orthogonal":
        d = _pairs_direction(model, space, k)
        others = [_pairs_direction(model, space, j) for j in range(space.num_concepts) if j != k]
        basis: list[torch.Tensor] = []  # Gram-Schmidt over the other concepts' directions, then project them out
        for other in others:
            for unit in basis:
                other = other - (other @ unit) * unit
            if other.norm() > 1e-8:
                basis.append(other / other.norm())
        for unit in basis:
            d = d - (d @ unit) * unit
        return d
    if direction == "target":
        if target is None:
            raise ValueError("The 'target' direction needs the target class.")
        device = next(model.parameters()).device
        level0, level1 = target[:k] + (0,) + target[k + 1:], target[:k] + (1,) + target[k + 1:]
        prompts = torch.stack([space.class_prompt(level0), space.class_prompt(level1)]).to(device)
        e = model.denoiser.embedding(prompts)
        return e[1] - e[0]
    raise ValueError(f"Unknown intervention direction {direction!r}; choose from {list(DIRECTIONS)}.")


def intervention(
    model: VDM, space: ConceptSpace, code: tuple[int, ...], strengths: dict[str, float], projection: bool = False,
    direction: str = DEFAULT_DIRECTION,
) -> EmbeddingEdit | None:
    """An edit of e toward the target class along concept directions of this model; None when all strengths are 0
    (so the plain sampler runs, bit for bit)."""
    terms = []
    for concept, strength in strengths.items():
        strength = finite(f"intervention {concept} strength", strength)
        if strength == 0:
            continue
        sign = 1.0 if code[space.concepts.index(_check_concept(space, concept))] else -1.0
        terms.append((sign * strength, concept_direction(model, space, concept, direction, code)))
    if not terms:
        return None

    def edit(e: torch.Tensor) -> torch.Tensor:
        for strength, direction in terms:
            if projection:
                unit = direction / direction.norm().clamp(min=1e-12)
                e = e + strength * (e @ unit)[:, None] * unit[None]
            else:
                e = e + strength * direction[None]
        return e

    return edit


def patch_embedding(model: VDM, donor_state: dict[str, torch.Tensor]) -> VDM:
    """A copy of `model` whose ConceptEmbedding comes from `donor_state` (e.g. the final checkpoint): the U-Net,
    time embedding and schedule stay. Pure state-dict surgery; nothing on disk changes."""
    patched = copy.deepcopy(model)
    embedding = {k[len("denoiser.embedding."):]: v for k, v in donor_state.items()
                 if k.startswith("denoiser.embedding.")}
    patched.denoiser.embedding.load_state_dict(embedding)
    return patched


def check_guidance(weight: float, trained_with_null: bool) -> float:
    weight = finite("guidance weight", weight)
    if weight != 1.0 and not trained_with_null:
        raise ValueError("This run was trained without a null token (p_uncond = 0), so guidance must be 1.")
    return weight
