"""The variational bound against values computed by hand.

VDM loss per sample, in bits per dimension (D = 3·R² dimensions; bits = nats / ln 2):
- diffusion (continuous time, Kingma et al. 2021 eq. 17): ½ γ'(t) ‖ε − ε̂(z_t)‖², with γ'(t) = |w| for the
  linear schedule γ(t) = b + |w|·t;
- prior: KL(q(z_1 | x) ‖ N(0, I)) with q(z_1 | x) = N(α₁x, σ₁²), α₁² = sigmoid(−γ(1)), σ₁² = sigmoid(γ(1));
- reconstruction: ½ ‖(z_0/α₀ − x) / data_noise‖² (without the Gaussian's constant normaliser), whose expectation
  over z_0 is ½ D σ₀²/(α₀² data_noise²) = ½ D e^{γ(0)} / data_noise².
Each value is computed here from those formulas (in float64, with torch.distributions for the KL), never by
calling the model's own helpers.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from concept_explorer.core.concepts import CONDITIONING_DIM
from concept_explorer.core.model import ModelConfig
from concept_explorer.core.vdm import VDM, VDMConfig

RESOLUTION = 8
LN2 = math.log(2)


def vdm_with_oracle(x: torch.Tensor, error: float, vdm_config: VDMConfig, resolution: int = RESOLUTION) -> VDM:
    """A VDM whose denoiser knows the batch x: it predicts the exact noise ε = (z_t − α_t x)/σ_t plus a constant
    `error` in every dimension, so ‖ε − ε̂‖² = D·error² whatever t and ε the loss draws."""
    torch.manual_seed(0)
    model = VDM(ModelConfig(channels=(8, 16), blocks_per_level=1, dropout=0.0), vdm_config, resolution).eval()
    low, high = vdm_config.gamma_min, vdm_config.gamma_max

    def forward(z: torch.Tensor, t_net: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        gamma = low + t_net.double() * (high - low)  # the network time is γ_t normalised by the initial bounds
        alpha, sigma = (torch.sigmoid(s * gamma).sqrt()[:, None, None, None] for s in (-1, 1))
        return ((z.double() - alpha * x.double()) / sigma + error).float()

    model.denoiser.forward = forward
    return model


def set_schedule(model: VDM, gamma_0: float, gamma_1: float, flip_sign: bool = False) -> None:
    """Move the learned endpoints away from their initial values (the slope parameter may go negative)."""
    with torch.no_grad():
        model.gamma.b.fill_(gamma_0)
        model.gamma.w.fill_((gamma_1 - gamma_0) * (-1 if flip_sign else 1))


def images(batch: int, resolution: int = RESOLUTION, seed: int = 1) -> torch.Tensor:
    return torch.rand(batch, 3, resolution, resolution, generator=torch.Generator().manual_seed(seed))


def prompts(batch: int) -> torch.Tensor:
    return torch.rand(batch, CONDITIONING_DIM, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("gamma_0, gamma_1, flip", [(-5.0, 10.0, False), (-4.0, 8.0, True), (-6.5, 7.0, False)])
@pytest.mark.parametrize("error", [0.0, 0.3])
def test_diffusion_term_is_half_the_schedule_slope_times_the_squared_noise_error(
    gamma_0: float, gamma_1: float, flip: bool, error: float
) -> None:
    """With ε̂ − ε = error in each of D dims: ½ (γ(1) − γ(0)) · D·error² nats, i.e. ½ (γ(1) − γ(0)) error² / ln 2
    bits per dim, for every sample (0 for the exact noise). The weight is the *learned* slope, sign-free."""
    x = images(6)
    model = vdm_with_oracle(x, error, VDMConfig())
    set_schedule(model, gamma_0, gamma_1, flip)
    with torch.no_grad():
        terms = model.loss(x, prompts(6), torch.Generator().manual_seed(3))
    expected = 0.5 * (gamma_1 - gamma_0) * error**2 / LN2
    assert torch.allclose(terms.diffusion.double(), torch.full((6,), expected, dtype=torch.float64), atol=1e-5)


@pytest.mark.parametrize("gamma_1", [10.0, 4.0, 1.0])
def test_prior_term_is_the_kl_of_q_z1_to_a_standard_normal(gamma_1: float) -> None:
    """KL(N(α₁x, σ₁²) ‖ N(0, 1)) summed over pixels, averaged to bits per dim; it grows with x² and shrinks as
    γ(1) grows (more noise at t = 1)."""
    x = images(4)
    x[0] = 0.0  # a black image: the KL is then the same in every pixel
    model = vdm_with_oracle(x, 0.0, VDMConfig())
    set_schedule(model, -5.0, gamma_1)
    with torch.no_grad():
        latent = model.loss(x, prompts(4), torch.Generator().manual_seed(3)).latent.double()
    g = torch.tensor(gamma_1, dtype=torch.float64)
    alpha_1, sigma_1 = torch.sigmoid(-g).sqrt(), torch.sigmoid(g).sqrt()
    kl = kl_divergence(Normal(alpha_1 * x.double(), sigma_1), Normal(0.0, 1.0))  # nats per pixel, (B,3,R,R)
    expected = kl.flatten(1).mean(1) / LN2
    # The model sums O(1) terms that cancel to ~1e-5 at γ(1) = 10 in float32: allow that rounding, ~1e-7.
    assert torch.allclose(latent, expected, rtol=1e-4, atol=3e-7)
    # By hand for the black image: ½ (σ₁² − ln σ₁² − 1) nats per dim.
    s2 = 1 / (1 + math.exp(-gamma_1))
    assert latent[0].item() == pytest.approx(0.5 * (s2 - math.log(s2) - 1) / LN2, rel=1e-4, abs=3e-7)


@pytest.mark.parametrize("gamma_0, data_noise", [(-5.0, 1e-3), (-3.0, 0.05)])
def test_reconstruction_term_has_the_gaussian_expectation(gamma_0: float, data_noise: float) -> None:
    """z_0/α₀ − x = (σ₀/α₀) ε₀ with σ₀²/α₀² = e^{γ(0)}, so the term is ½ e^{γ(0)} ‖ε₀‖² / data_noise² nats:
    mean ½ e^{γ(0)} / data_noise² / ln 2 bits per dim, relative spread √(2/D) per sample (5 % at 16 px)."""
    x = images(64, resolution=16)
    model = vdm_with_oracle(x, 0.0, VDMConfig(data_noise=data_noise), resolution=16)
    set_schedule(model, gamma_0, 10.0)
    with torch.no_grad():
        reconstruction = model.loss(x, prompts(64), torch.Generator().manual_seed(5)).reconstruction.double()
    expected = 0.5 * math.exp(gamma_0) / data_noise**2 / LN2
    assert reconstruction.mean().item() == pytest.approx(expected, rel=0.03)  # the batch mean: ±0.6 % noise
    assert ((reconstruction / expected - 1).abs() < 0.3).all()


def test_total_is_the_three_closed_form_terms_together() -> None:
    """One end-to-end number: slope 12, noise error 0.2, a black image, γ(0) = −4, γ(1) = 8, data_noise 0.1."""
    x = torch.zeros(32, 3, 16, 16)
    model = vdm_with_oracle(x, 0.2, VDMConfig(data_noise=0.1), resolution=16)
    set_schedule(model, -4.0, 8.0)
    with torch.no_grad():
        total = model.loss(x, prompts(32), torch.Generator().manual_seed(7)).total.double()
    s2 = 1 / (1 + math.exp(-8.0))
    diffusion = 0.5 * 12 * 0.2**2
    prior = 0.5 * (s2 - math.log(s2) - 1)
    reconstruction = 0.5 * math.exp(-4.0) / 0.1**2
    assert total.mean().item() == pytest.approx((diffusion + prior + reconstruction) / LN2, rel=0.02)
