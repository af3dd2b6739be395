"""The diffusers backbone end to end: a few training steps, checkpoints written, loaded back bit for bit, sampled."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from concept_explorer.core.config import RunConfig
from concept_explorer.core.run import Run
from concept_explorer.core.training import train

pytestmark = pytest.mark.slow


def test_diffusers_backbone_trains_saves_loads_and_samples(
    tmp_path: Path, tiny_config: Callable[..., RunConfig], monkeypatch: pytest.MonkeyPatch
) -> None:
    from diffusers import UNet2DModel

    config = tiny_config(model__backbone="diffusers", train__p_uncond=0.5)
    saved: dict[int, dict[str, torch.Tensor]] = {}
    write = Run.add_checkpoint

    def record(self: Run, step: int, state: dict[str, torch.Tensor], metrics: dict) -> None:
        saved[step] = {key: value.detach().clone() for key, value in state.items()}
        write(self, step, state, metrics)

    monkeypatch.setattr(Run, "add_checkpoint", record)
    run = Run.open(train(config, tmp_path / "run", device="cpu", progress=False).path)
    assert run.status == "complete" and run.steps == [2, 4, 6] and sorted(saved) == [2, 4, 6]
    assert "denoiser.backbone.down_blocks.0.resnets.0.conv1.weight" in saved[6]  # diffusers' names, not lean's

    for step in run.steps:
        model = run.load_model(step)
        assert isinstance(model.denoiser.backbone, UNet2DModel) and not model.training
        loaded = model.state_dict()
        assert loaded.keys() == saved[step].keys()
        for key, value in saved[step].items():
            assert torch.equal(loaded[key], value), f"step {step}: {key}"
    # Training moved the zero-initialised output layer, so the loaded U-Net is more than ε̂ = z.
    assert saved[6]["denoiser.backbone.conv_out.weight"].abs().sum() > 0
    assert not torch.equal(saved[2]["denoiser.backbone.conv_out.weight"], saved[6]["denoiser.backbone.conv_out.weight"])

    model = run.load_model(run.final_step)
    prompt = config.concept_space.class_prompt((1, 1)).expand(2, -1)
    resolution = config.concept_space.resolution
    for guidance in (1.0, 2.0):
        images = model.sample(prompt, 3, torch.Generator().manual_seed(0), guidance=guidance)
        assert images.shape == (2, 3, resolution, resolution)
        assert torch.isfinite(images).all() and images.min() >= 0 and images.max() <= 1
        assert torch.equal(images, model.sample(prompt, 3, torch.Generator().manual_seed(0), guidance=guidance))
