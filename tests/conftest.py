"""Shared fixtures: a tiny run configuration that trains in about a second on one CPU thread."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from concept_explorer.core.config import RunConfig, cpu_preset, with_overrides

# Tiny models gain nothing from more threads, and one thread keeps the suite light on a shared 2-core machine.
torch.set_num_threads(1)

TINY_OVERRIDES = {
    "concept_space.resolution": 8,
    "model.channels": (8, 16),
    "train.train_per_class": 16,
    "train.heldout_loss_images": 8,
    "train.num_steps": 6,
    "train.batch_size": 8,
    "train.checkpoint_steps": (2, 4, 6),
    "train.weights_dtype": "float32",
    "train.p_uncond": 0.0,  # the plain tiny run has no null token; tests that need one set it
    "concept_space.delta_color": 0.4,  # the tests' colour arithmetic is written for Δc 0.4
}
"""The cpu preset shrunk to 8 px and an 8-16 U-Net; stored in float32 so weights compare bit for bit."""


def _tiny_config(**overrides: object) -> RunConfig:
    extra = {key.replace("__", "."): value for key, value in overrides.items()}
    return with_overrides(cpu_preset(), TINY_OVERRIDES | extra)


@pytest.fixture
def tiny_config() -> Callable[..., RunConfig]:
    """Makes the tiny configuration, with dotted overrides as keyword arguments (`train__ema_decay=0.9`)."""
    return _tiny_config


@pytest.fixture
def tiny(tiny_config: Callable[..., RunConfig]) -> RunConfig:
    return tiny_config()


@pytest.fixture
def tiny_cli_args() -> list[str]:
    """TINY_OVERRIDES as `concept-explorer train` options (later options of the same name win)."""
    args = []
    for key, value in TINY_OVERRIDES.items():
        args += [f"--{key}", ",".join(map(str, value)) if isinstance(value, tuple) else str(value)]
    return args
