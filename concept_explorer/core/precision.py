"""Numeric precision of the network's matrix work, decided per machine from what torch reports.

bf16 autocast halves the bytes a convolution moves and, on hardware with native bf16 matrix units (Intel AMX,
AVX512-BF16 on recent Xeons and EPYCs, CUDA GPUs from Ampere on), roughly doubles its speed; on a CPU without them
oneDNN emulates bf16 and it is an order of magnitude slower (measured: 12× on an AVX2-only EPYC). So `auto` asks
oneDNN (CPU) or CUDA whether bf16 is native, never a brand name. Only the network runs in bf16: the VDM's
schedule, noise and sampler updates stay fp32, so images and losses are fp32 tensors either way.
"""

from __future__ import annotations

import contextlib
import os

import torch

PRECISIONS = ("auto", "fp32", "bf16")

AUTO_OVERRIDE = "CONCEPT_EXPLORER_AUTO_PRECISION"
"""Environment variable: 'fp32' or 'bf16' makes `auto` resolve to it whatever the hardware says. Machines of one kind
differ (AMX Xeons, AVX512-BF16 EPYCs, AVX2-only EPYCs), so the suite must pass with `auto` meaning either; this lets
one machine run it both ways, subprocesses (CLI, the launched app) included: `CONCEPT_EXPLORER_AUTO_PRECISION=fp32
bash scripts/test.sh` behaves as on a CPU without native bf16."""


def native_bf16(device: torch.device) -> bool:
    """Whether `device` multiplies bf16 in hardware."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())


def resolve_precision(name: str, device: torch.device) -> str:
    """'fp32' or 'bf16' for a requested precision; `auto` is bf16 exactly where it is native."""
    if name not in PRECISIONS:
        raise ValueError(f"Unknown precision {name!r}; use one of {', '.join(PRECISIONS)}.")
    if name == "auto":
        forced = os.environ.get(AUTO_OVERRIDE, "")
        if forced:
            if forced not in ("fp32", "bf16"):
                raise ValueError(f"{AUTO_OVERRIDE} must be fp32 or bf16, got {forced!r}.")
            return forced
        return "bf16" if native_bf16(device) else "fp32"
    return name


def autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """The context the network runs in: bf16 autocast, or nothing for fp32."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    assert precision == "fp32", precision
    return contextlib.nullcontext()
