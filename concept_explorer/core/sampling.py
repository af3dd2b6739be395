"""Sampling a checkpoint into stored images: the one path evaluation, elicitation and live generation share.

`VDM.sample` is the math (ancestral steps, guidance, embedding edits); this module fixes how it is driven so that
every caller gets the same images for the same inputs: one seeded generator for all the sampler's noise, prompts
taken in fixed-size chunks (so memory stays bounded and a batch's images do not depend on how many came before),
and the clipped x̂₀ quantised to uint8 exactly as it is stored.
"""

from __future__ import annotations

import torch

from .precision import autocast
from .vdm import VDM, EmbeddingEdit

CHUNK = 256
"""Prompts per sampler call: big enough to keep the arithmetic dense on a CPU, small enough for any GPU."""


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """[0, 1] floats → uint8, rounding to nearest (the stored form of every generated image)."""
    return (images.clamp(0, 1) * 255).round().to(torch.uint8)


def generate(
    model: VDM, h: torch.Tensor, steps: int, seed: int, guidance: float = 1.0, edit: EmbeddingEdit | None = None,
    chunk: int = CHUNK, precision: str = "fp32",
) -> torch.Tensor:
    """Sample images for prompts h (N, 11), returned as uint8 (N, 3, R, R) on the CPU. `precision` is 'fp32' or
    'bf16' (already resolved, see precision.py)."""
    generator = torch.Generator().manual_seed(seed)
    with autocast(precision, next(model.parameters()).device):
        images = [model.sample(h[i:i + chunk], steps, generator, guidance=guidance, edit=edit)
                  for i in range(0, h.shape[0], chunk)]
    return to_uint8(torch.cat(images).cpu())


def generate_embedded(
    model: VDM, e: torch.Tensor, steps: int, seed: int, guidance: torch.Tensor | None = None, group: int | None = None,
    chunk: int = CHUNK, precision: str = "fp32",
) -> torch.Tensor:
    """Sample images from concept embeddings e (N, D) (see VDM.sample_embedded), uint8 (N, 3, R, R) on the CPU.

    Rows come in blocks of `group` that share the sampler's noise: each chunk restarts the seeded generator and
    holds whole blocks, so every block gets the noise one `generate` call of `group` prompts with this seed would
    draw. That lets many methods share one sampler call (dense arithmetic) yet differ only in their embeddings."""
    group = group or e.shape[0]
    if e.shape[0] % group:
        raise ValueError(f"{e.shape[0]} rows are not whole blocks of {group}.")
    chunk = max(1, chunk // group) * group
    with autocast(precision, next(model.parameters()).device):
        images = [model.sample_embedded(e[i:i + chunk], steps, torch.Generator().manual_seed(seed),
                                        None if guidance is None else guidance[i:i + chunk], noise_rows=group)
                  for i in range(0, e.shape[0], chunk)]
    return to_uint8(torch.cat(images).cpu())
