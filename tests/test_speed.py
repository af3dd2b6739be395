"""The training step's speed-ups keep its arithmetic: channels-last activations, the permuted attention and the fused
AdamW give what the straightforward computations give, within float rounding (benchmarks/bench_reference.py times
them)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from concept_explorer.core.config import with_overrides
from concept_explorer.core.model import Attention, LeanUNet, ModelConfig
from concept_explorer.core.vdm import VDM, VDMConfig


def perturbed(module: nn.Module, seed: int = 0) -> nn.Module:
    """Weights moved off their (partly zero) initialisation, so every layer shapes the output."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.add_(0.05 * torch.randn(parameter.shape, generator=generator))
    return module


def straightforward_attention(attention: Attention, x: torch.Tensor) -> torch.Tensor:
    """Single-head softmax(q kᵀ/√C) v over positions, written out with the NCHW reshapes."""
    b, c, height, width = x.shape
    qkv = attention.qkv(attention.norm(x)).reshape(b, 3, c, height * width)
    q, k, v = (qkv[:, i].transpose(1, 2) for i in range(3))  # (B, HW, C)
    weights = torch.softmax(q @ k.transpose(1, 2) / c**0.5, dim=-1)
    out = (weights @ v).transpose(1, 2).reshape(b, c, height, width)
    return x + attention.proj(out)


@pytest.mark.parametrize("channels_last", [False, True], ids=["nchw", "channels-last"])
def test_attention_matches_the_straightforward_computation(channels_last: bool) -> None:
    attention = perturbed(Attention(16, groups=8))
    x = torch.randn(3, 16, 4, 4, generator=torch.Generator().manual_seed(1))
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(attention(x), straightforward_attention(attention, x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_channels_last_activations_keep_the_loss_and_its_gradients(precision: str) -> None:
    torch.manual_seed(0)
    model = perturbed(VDM(ModelConfig(channels=(8, 16), blocks_per_level=1, dropout=0.0), VDMConfig(), 8))
    x = torch.rand(4, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    h = torch.rand(4, 11, generator=torch.Generator().manual_seed(3))
    results = []
    for channels_last in (False, True):
        model.denoiser.backbone.channels_last_on_cpu = channels_last
        model.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            diffusion = model.loss(x, h, torch.Generator().manual_seed(4)).diffusion  # the term the network shapes
        diffusion.sum().backward()
        results.append((diffusion.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}))
    (nchw, nchw_grads), (last, last_grads) = results
    tolerance = {"fp32": 1e-5, "bf16": 2e-2}[precision]
    torch.testing.assert_close(last, nchw, rtol=tolerance, atol=tolerance)
    assert nchw_grads.keys() == last_grads.keys()
    # Compared as one vector: some gradients are zero up to rounding (a bias right before a one-channel-per-group
    # GroupNorm), so a per-tensor relative test would compare noise with noise.
    nchw_all = torch.cat([grad.flatten() for grad in nchw_grads.values()])
    last_all = torch.cat([last_grads[name].flatten() for name in nchw_grads])
    assert (last_all - nchw_all).norm() <= tolerance * nchw_all.norm()


def test_channels_last_is_chosen_only_where_it_was_measured_faster(monkeypatch) -> None:
    from concept_explorer.core import model as model_module

    monkeypatch.setattr(model_module, "_amx", lambda: False)
    assert not LeanUNet(channels=(64, 128, 256)).channels_last_on_cpu
    monkeypatch.setattr(model_module, "_amx", lambda: True)
    assert LeanUNet(channels=(64, 128, 256)).channels_last_on_cpu
    assert not LeanUNet(channels=(16, 32, 64)).channels_last_on_cpu  # the cpu preset's widths ran slower


def test_the_trainer_uses_the_fused_adamw_and_it_steps_like_the_per_tensor_loop(tmp_path, tiny_config) -> None:
    from concept_explorer.core.run import Run
    from concept_explorer.core.training import Trainer

    trainer = Trainer(Run.create(tmp_path / "run", with_overrides(tiny_config(), {})), torch.device("cpu"))
    assert trainer.optimizer.param_groups[0]["fused"]
    loop_model = perturbed(VDM(trainer.config.model, trainer.config.vdm, 8), seed=5)
    trainer.model.load_state_dict(loop_model.state_dict())
    loop = torch.optim.AdamW(
        [p for p in loop_model.parameters() if p.requires_grad], lr=trainer.config.train.lr,
        weight_decay=trainer.config.train.weight_decay, foreach=False,
    )
    generator = torch.Generator().manual_seed(6)
    for _ in range(3):
        grads = [torch.randn(p.shape, generator=generator) for p in loop_model.parameters() if p.requires_grad]
        for model, optimizer in ((trainer.model, trainer.optimizer), (loop_model, loop)):
            for parameter, grad in zip((p for p in model.parameters() if p.requires_grad), grads):
                parameter.grad = grad.clone()
            optimizer.step()
    for (name, fused), looped in zip(trainer.model.state_dict().items(), loop_model.state_dict().values()):
        torch.testing.assert_close(fused, looped, rtol=1e-6, atol=1e-6, msg=name)
