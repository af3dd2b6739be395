"""The math of the VDM and the denoiser: schedule, loss, sampler, both backbones."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from concept_explorer.core.concepts import CONDITIONING_DIM
from concept_explorer.core.model import Denoiser, ModelConfig
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


def install_oracle(model: VDM, target: Callable[[torch.Tensor], torch.Tensor]) -> None:
    """Replace the denoiser by one that knows the answer: given the network time it recovers γ_t (the network
    time is γ_t normalised by the initial bounds), and for each row predicts ε̂ = (z_t − α_t·x*)/σ_t with
    x* = target(e), i.e. the exact noise if the data were the single image x*."""
    low, high = model.config.gamma_min, model.config.gamma_max

    def forward(z: torch.Tensor, t_net: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        alpha, sigma = VDM.alpha_sigma(low + t_net * (high - low))
        return (z - alpha[:, None, None, None] * target(e)) / sigma[:, None, None, None]

    model.denoiser.forward = forward  # an instance attribute: only this model is affected


def fixed_images(seed: int, low: float = 0.0, high: float = 1.0) -> torch.Tensor:
    return low + (high - low) * torch.rand(3, 3, RESOLUTION, RESOLUTION, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("steps", [1, 4, 25])
def test_sampler_returns_the_single_image_the_denoiser_knows(steps: int) -> None:
    """If the data are one image x* per prompt, the exact noise prediction makes every x̂₀ equal x*, so the
    sampler must return x* whatever its starting noise and number of steps."""
    model = make_vdm()
    target = fixed_images(1)
    install_oracle(model, lambda e: target)
    for seed in (0, 1):
        images = sample(model, seed, steps=steps)
        assert torch.allclose(images, target, atol=1e-4), (images - target).abs().max()


def test_sampler_returns_the_clipped_estimate() -> None:
    """A target outside [0, 1] comes back clipped to the unit interval, the rest unchanged."""
    model = make_vdm()
    target = fixed_images(2, low=-0.5, high=1.5)
    install_oracle(model, lambda e: target)
    images = sample(model, 0)
    assert images.min() == 0 and images.max() == 1
    assert torch.allclose(images, target.clamp(0, 1), atol=1e-4)


@pytest.mark.parametrize("guidance", [1.0, 0.0, 0.5, 2.0])
def test_guidance_mixes_the_conditional_and_null_predictions(guidance: float) -> None:
    """A denoiser that knows image A for the prompt and image B for the null token. Guidance w predicts
    ε̂ = ε̂_B + w·(ε̂_A − ε̂_B), the exact noise of x* = B + w·(A − B): so w = 1 gives the plain conditional
    answer A, w = 0 the unconditional B, and any w the (clipped) extrapolation."""
    model = make_vdm()
    null = model.denoiser.embedding.null_token
    conditional, unconditional = fixed_images(3, 0.3, 0.7), fixed_images(4, 0.3, 0.7)

    def target(e: torch.Tensor) -> torch.Tensor:
        is_null = (e == null).all(1)[:, None, None, None]
        repeat = e.shape[0] // 3  # the guided sampler stacks the conditional and the null batch
        return torch.where(is_null, unconditional.repeat(repeat, 1, 1, 1), conditional.repeat(repeat, 1, 1, 1))

    install_oracle(model, target)
    expected = (unconditional + guidance * (conditional - unconditional)).clamp(0, 1)
    assert torch.allclose(sample(model, 5, guidance=guidance), expected, atol=1e-4)


@pytest.mark.parametrize("steps", [3, 10])
def test_sampler_keeps_the_exact_marginals_of_a_single_image(steps: int) -> None:
    """For data that are one image x*, the oracle's x̂₀ is exact, so each ancestral step draws from the true
    q(z_s | z_t, x*) and the latent at every grid time t is distributed exactly as q(z_t | x*) = N(α_t x*, σ_t²),
    for any number of steps. The standardised latents the denoiser sees must therefore be N(0, 1) at each step
    (49 k values per step: the mean is known to ±0.005, the variance to ±0.006)."""
    model = make_vdm()
    target = fixed_images(6).repeat(86, 1, 1, 1)[:256]
    low, high = model.config.gamma_min, model.config.gamma_max
    standardised = []

    def forward(z: torch.Tensor, t_net: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        alpha, sigma = (v[:, None, None, None] for v in VDM.alpha_sigma(low + t_net * (high - low)))
        standardised.append((z - alpha * target) / sigma)
        return standardised[-1]

    model.denoiser.forward = forward
    model.sample(prompts(256), steps, torch.Generator().manual_seed(0))
    assert len(standardised) == steps
    for i, u in enumerate(standardised):
        assert abs(u.mean().item()) < 0.03 and abs(u.var().item() - 1) < 0.04, (i, u.mean().item(), u.var().item())
        assert abs((u * (target - 0.5)).mean().item()) < 0.01, i  # no offset that follows the image


def test_sampler_draws_gaussian_data_with_the_right_spread() -> None:
    """Data x ~ N(μ, s²) per pixel have the exact denoiser E[ε | z_t] = σ_t (z_t − α_t μ) / (α_t² s² + σ_t²).
    A correct ancestral sampler then reaches z_t ~ q(z_t) at the last step t = 1/N, where the returned
    x̂₀ = E[x | z_t] has mean μ and variance α_t² s⁴ / (α_t² s² + σ_t²). Wrong update coefficients or noise
    scales collapse or inflate that spread (measured: no noise → 0, noise σ_s·c → 0.07×, σ_t for σ_s → 1.05×,
    swapped α ratio → 0.89× with a biased mean)."""
    model = make_vdm()
    mu, s, steps = 0.5, 0.1, 200
    low, high = model.config.gamma_min, model.config.gamma_max

    def forward(z: torch.Tensor, t_net: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        alpha, sigma = (v[:, None, None, None] for v in VDM.alpha_sigma(low + t_net * (high - low)))
        return sigma * (z - alpha * mu) / (alpha**2 * s**2 + sigma**2)

    model.denoiser.forward = forward
    images = model.sample(prompts(512), steps, torch.Generator().manual_seed(0))
    gamma_last = torch.tensor(low + (high - low) / steps, dtype=torch.float64)
    alpha2, sigma2 = torch.sigmoid(-gamma_last), torch.sigmoid(gamma_last)
    variance = (alpha2 * s**4 / (alpha2 * s**2 + sigma2)).item()
    assert images.mean().item() == pytest.approx(mu, abs=3e-3)
    # 98 k values: the estimate's noise is ~0.5 %; 200 steps leave a ~2 % discretisation bias (measured 0.973 to
    # 0.985 of the limit over 10 seeds; it shrinks as 1/steps).
    assert images.var().item() / variance == pytest.approx(0.98, abs=0.03)


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


def test_one_batch_of_mixed_guidance_and_shared_noise_equals_separate_calls() -> None:
    """sample_embedded lets elicitation draw every method in one call: rows in blocks of `noise_rows` share the
    noise, and each row gets its own guidance weight; each block must equal a separate call with that seed."""
    model = make_vdm()
    h = prompts(3)
    e = model.denoiser.embedding(h)
    weights = torch.tensor([1.0] * 3 + [3.0] * 3 + [0.0] * 3)
    batched = model.sample_embedded(e.repeat(3, 1), 5, torch.Generator().manual_seed(4), weights, noise_rows=3)
    for block, guidance in zip(batched.split(3), (1.0, 3.0, 0.0)):
        assert torch.allclose(block, sample(model, 4, guidance=guidance), atol=1e-5)
    same = model.sample_embedded(e.repeat(2, 1), 5, torch.Generator().manual_seed(4), noise_rows=3)
    assert torch.equal(same[:3], same[3:])  # the same embeddings and the same noise: the same images
    with pytest.raises(ValueError, match="cannot repeat noise"):
        model.sample_embedded(e.repeat(2, 1)[:5], 5, torch.Generator().manual_seed(4), noise_rows=3)


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
