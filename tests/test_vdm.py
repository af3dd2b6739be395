"""The math of the VDM and the denoiser: schedule, loss, sampler, both backbones."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from concept_explorer.core.concepts import CONDITIONING_DIM
from concept_explorer.core.model import Denoiser, LeanUNet, ModelConfig
from concept_explorer.core.vdm import VDM, LearnedLinearGamma, VDMConfig

RESOLUTION = 8


def make_vdm(backbone: str = "lean", seed: int = 0) -> VDM:
    """A small VDM in eval mode whose zero-initialised layers and null token are given random values, so the
    prediction depends on z, t and e (at initialisation ε̂ = z whatever the prompt)."""
    torch.manual_seed(seed)
    config = ModelConfig(backbone=backbone, channels=(8, 16), blocks_per_level=1, dropout=0.0)
    model = VDM(config, VDMConfig(), RESOLUTION).eval()
    with torch.no_grad():
        for parameter in model.parameters():
            if not parameter.any():
                parameter.normal_(0, 0.1)
    return model


def prompts(batch: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(batch, CONDITIONING_DIM, generator=torch.Generator().manual_seed(seed))


# -- schedule -----------------------------------------------------------------------------------------------------
def test_gamma_is_increasing_in_t_from_its_initial_bounds() -> None:
    gamma = LearnedLinearGamma(-5.0, 10.0, learned=True)
    t = torch.linspace(0, 1, 101)
    values = gamma(t).detach()
    assert (values.diff() > 0).all()
    assert values[0].item() == pytest.approx(-5.0) and values[-1].item() == pytest.approx(10.0)


def test_gamma_stays_increasing_when_the_optimiser_flips_the_slope_sign() -> None:
    gamma = LearnedLinearGamma(-5.0, 10.0, learned=True)
    with torch.no_grad():
        gamma.w.fill_(-3.0)
    values = gamma(torch.linspace(0, 1, 11)).detach()
    assert (values.diff() > 0).all()
    assert torch.allclose(gamma.derivative(torch.zeros(4)), torch.full((4,), 3.0))


def test_fixed_schedule_has_no_trainable_parameters() -> None:
    gamma = LearnedLinearGamma(-5.0, 10.0, learned=False)
    assert not any(p.requires_grad for p in gamma.parameters())


def test_alpha_and_sigma_are_variance_preserving() -> None:
    gamma_t = torch.linspace(-5, 10, 16)
    alpha, sigma = VDM.alpha_sigma(gamma_t)
    assert torch.allclose(alpha**2 + sigma**2, torch.ones(16))
    assert (alpha.diff() < 0).all()  # more noise as γ grows


# -- loss ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("with_drop", [False, True])
def test_loss_terms_are_finite_positive_and_per_sample(with_drop: bool) -> None:
    model = make_vdm()
    x = torch.rand(6, 3, RESOLUTION, RESOLUTION, generator=torch.Generator().manual_seed(1))
    drop = torch.tensor([True, False] * 3) if with_drop else None
    terms = model.loss(x, prompts(6), torch.Generator().manual_seed(2), drop)
    for term in (terms.diffusion, terms.latent, terms.reconstruction, terms.total):
        assert term.shape == (6,)
        assert torch.isfinite(term).all() and (term > 0).all()
    assert torch.allclose(terms.total, terms.diffusion + terms.latent + terms.reconstruction)


def test_loss_is_reproducible_under_a_seed_and_has_gradients() -> None:
    model = make_vdm()
    x = torch.rand(4, 3, RESOLUTION, RESOLUTION, generator=torch.Generator().manual_seed(1))
    first = model.loss(x, prompts(4), torch.Generator().manual_seed(3)).total
    second = model.loss(x, prompts(4), torch.Generator().manual_seed(3)).total
    assert torch.equal(first, second)
    first.mean().backward()
    assert model.gamma.w.grad is not None and torch.isfinite(model.gamma.w.grad)
    assert model.denoiser.embedding.mlp[0].weight.grad.abs().sum() > 0


# -- sampler ------------------------------------------------------------------------------------------------------
def sample(model: VDM, seed: int, guidance: float = 1.0, steps: int = 5, **kwargs: object) -> torch.Tensor:
    return model.sample(prompts(3), steps, torch.Generator().manual_seed(seed), guidance=guidance, **kwargs)


def test_sampler_is_deterministic_under_a_seed() -> None:
    model = make_vdm()
    first, again, other = sample(model, 7), sample(model, 7), sample(model, 8)
    assert first.shape == (3, 3, RESOLUTION, RESOLUTION)
    assert torch.equal(first, again)
    assert not torch.allclose(first, other)


def test_sampler_output_lies_in_the_unit_interval() -> None:
    model = make_vdm()
    for guidance in (1.0, 4.0):
        images = sample(model, 0, guidance=guidance)
        assert images.min() >= 0 and images.max() <= 1
        assert images.std() > 0


def reference_ancestral_sampler(model: VDM, h: torch.Tensor, steps: int, generator: torch.Generator) -> torch.Tensor:
    """The plain conditional ancestral sampler written out from the math (reference §3.4), for comparison."""
    e = model.denoiser.embedding(h)
    shape = (h.shape[0], 3, RESOLUTION, RESOLUTION)
    z = torch.randn(shape, generator=generator)
    times = torch.linspace(1.0, 0.0, steps + 1)
    for i in range(steps):
        gamma_t, gamma_s = model.gamma(times[i]), model.gamma(times[i + 1])
        alpha_t, sigma_t = VDM.alpha_sigma(gamma_t)
        alpha_s, sigma_s = VDM.alpha_sigma(gamma_s)
        noise_hat = model.predict_noise(z, gamma_t.expand(h.shape[0]), e)
        x_hat = ((z - sigma_t * noise_hat) / alpha_t).clamp(0, 1)
        c = -torch.expm1(gamma_s - gamma_t)
        z = alpha_s * c * x_hat + (alpha_s / alpha_t) * (1 - c) * z + sigma_s * c.sqrt() * torch.randn(
            shape, generator=generator
        )
    return x_hat


@torch.no_grad()
def test_guidance_one_is_plain_conditional_sampling_bit_for_bit() -> None:
    model = make_vdm()
    guided = sample(model, 5, guidance=1.0)
    plain = reference_ancestral_sampler(model, prompts(3), 5, torch.Generator().manual_seed(5))
    assert torch.equal(guided, plain)


def test_guidance_other_than_one_runs_and_changes_the_images() -> None:
    model = make_vdm()
    plain, guided = sample(model, 5), sample(model, 5, guidance=3.0)
    assert guided.shape == plain.shape and torch.isfinite(guided).all()
    assert not torch.allclose(plain, guided)
    assert not torch.allclose(guided, sample(model, 5, guidance=0.0))


def test_embedding_edit_changes_samples_and_identity_edit_does_not() -> None:
    model = make_vdm()
    plain = sample(model, 5)
    assert torch.equal(sample(model, 5, edit=lambda e: e), plain)
    assert not torch.allclose(sample(model, 5, edit=lambda e: e + 1.0), plain)


def test_sampler_rejects_zero_steps() -> None:
    with pytest.raises(ValueError, match="steps must be >= 1"):
        make_vdm().sample(prompts(1), 0, torch.Generator())


# -- denoiser and backbones ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("backbone", ["lean", "diffusers"])
def test_denoiser_shapes_and_identity_at_initialisation(backbone: str) -> None:
    torch.manual_seed(0)
    config = ModelConfig(backbone=backbone, channels=(8, 16), blocks_per_level=1, dropout=0.0)
    denoiser = Denoiser(config, RESOLUTION).eval()
    z = torch.randn(4, 3, RESOLUTION, RESOLUTION)
    e = denoiser.embedding(prompts(4))
    assert e.shape == (4, config.embedding_dim)
    with torch.no_grad():
        out = denoiser(z, torch.rand(4), e)
    assert out.shape == z.shape
    assert torch.equal(out, z)  # zero-initialised output conv: ε̂ = z_t, the right answer at high noise


@pytest.mark.parametrize("backbone", ["lean", "diffusers"])
def test_trained_backbone_output_depends_on_the_prompt(backbone: str) -> None:
    model = make_vdm(backbone)
    z = torch.randn(2, 3, RESOLUTION, RESOLUTION)
    gamma_t = torch.zeros(2)
    with torch.no_grad():
        first = model.predict_noise(z, gamma_t, model.denoiser.embedding(prompts(2, seed=1)))
        second = model.predict_noise(z, gamma_t, model.denoiser.embedding(prompts(2, seed=2)))
    assert first.shape == z.shape and not torch.allclose(first, second)


def test_null_token_replaces_dropped_rows_only() -> None:
    embedding = make_vdm().denoiser.embedding
    h = prompts(4)
    drop = torch.tensor([True, False, True, False])
    e = embedding(h, drop)
    assert torch.equal(e[0], embedding.null_token) and torch.equal(e[2], embedding.null_token)
    assert torch.equal(e[1::2], embedding(h)[1::2])


def test_lean_unet_save_and_load_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(0)
    unet = LeanUNet(channels=(8, 16), blocks_per_level=1, dropout=0.0)
    with torch.no_grad():
        unet.conv_out.weight.normal_(0, 0.1)
    unet.save_pretrained(tmp_path)
    assert (tmp_path / "config.json").is_file()
    assert [p.suffix for p in tmp_path.glob("*.safetensors")] == [".safetensors"]
    assert not list(tmp_path.glob("*.bin"))  # safetensors only, never pickle
    loaded = LeanUNet.from_pretrained(tmp_path).eval()
    assert list(loaded.config.channels) == [8, 16] and loaded.config.blocks_per_level == 1
    for key, value in unet.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    z, t, e = torch.randn(2, 3, 8, 8), torch.tensor([10.0, 900.0]), torch.randn(2, 32)
    with torch.no_grad():
        assert torch.equal(loaded(z, t, class_labels=e), unet.eval()(z, t, class_labels=e))
