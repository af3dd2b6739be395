"""Continuous-time Variational Diffusion Model (Kingma et al. 2021) as the authors configure it (reference §3).

Data stay in [0, 1] (the authors do not rescale). z_t = α_t x + σ_t ε with α_t² = sigmoid(−γ_t), σ_t² = sigmoid(γ_t),
and γ(t) = b + |w|·t a learned linear schedule initialised to [−5, 10]. The loss is the full variational bound in
bits per dimension: diffusion (continuous, weighted by dγ/dt) + prior KL at t = 1 + reconstruction at t = 0.

Deviations from the reference, each fixing a defect listed in reference §9:
- the sampler predicts x̂₀ at every step, clips it to [0, 1] and returns the last clipped x̂₀ (§9.3; the
  unclipped sampler diverges on small early models, cpu-feasibility.md);
- classifier-free guidance uses the embedding's dedicated null token, and h is never edited in place (§9.4–5);
- the reconstruction term is reported without its constant log-normaliser (the authors subtract it as `min_vlb`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from .limits import check_config_ranges, check_config_types
from .model import Denoiser, ModelConfig

EmbeddingEdit = Callable[[torch.Tensor], torch.Tensor]
"""A function e → e′ applied to the concept embedding before every denoising step (linear intervention)."""


@dataclass(frozen=True)
class VDMConfig:
    gamma_min: float = field(default=-5.0, metadata={"help": "initial γ(0), the log-SNR⁻¹ at t = 0"})
    gamma_max: float = field(default=10.0, metadata={"help": "initial γ(1)"})
    learned_schedule: bool = field(default=True, metadata={"help": "learn γ's endpoints (else fixed linear)"})
    data_noise: float = field(default=1e-3, metadata={"help": "std of the reconstruction likelihood"})

    def __post_init__(self) -> None:
        check_config_types("vdm", self)
        check_config_ranges("vdm", self)
        if not self.gamma_min < self.gamma_max:
            raise ValueError(f"gamma_min ({self.gamma_min}) must be below gamma_max ({self.gamma_max}).")
        if self.data_noise <= 0:
            raise ValueError("data_noise must be positive.")


class LearnedLinearGamma(nn.Module):
    """γ(t) = b + |w|·t: monotone in t by construction, whatever the optimiser does to w."""

    def __init__(self, gamma_min: float, gamma_max: float, learned: bool) -> None:
        super().__init__()
        self.b = nn.Parameter(torch.tensor(gamma_min), requires_grad=learned)
        self.w = nn.Parameter(torch.tensor(gamma_max - gamma_min), requires_grad=learned)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.b + self.w.abs() * t

    def derivative(self, t: torch.Tensor) -> torch.Tensor:
        """dγ/dt (constant for a linear schedule)."""
        return self.w.abs().expand_as(t)


@dataclass
class LossTerms:
    """Per-sample terms of the variational bound, each (B,) in bits per dim."""

    diffusion: torch.Tensor
    latent: torch.Tensor
    reconstruction: torch.Tensor

    @property
    def total(self) -> torch.Tensor:
        return self.diffusion + self.latent + self.reconstruction


class VDM(nn.Module):
    def __init__(
        self, model_config: ModelConfig, vdm_config: VDMConfig, resolution: int, mask_token: bool = False
    ) -> None:
        super().__init__()
        self.config = vdm_config
        self.resolution = resolution
        self.denoiser = Denoiser(model_config, resolution, mask_token)
        self.gamma = LearnedLinearGamma(vdm_config.gamma_min, vdm_config.gamma_max, vdm_config.learned_schedule)

    # -- schedule helpers ------------------------------------------------------------------------------------
    def network_time(self, gamma_t: torch.Tensor) -> torch.Tensor:
        """γ_t normalised by the *initial* bounds, so the network sees the actual noise level as γ drifts
        (the authors' choice, documented rather than changed, reference §9.2)."""
        return (gamma_t - self.config.gamma_min) / (self.config.gamma_max - self.config.gamma_min)

    @staticmethod
    def alpha_sigma(gamma_t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.sigmoid(-gamma_t).sqrt(), torch.sigmoid(gamma_t).sqrt()

    def bits_per_dim(self) -> float:
        return 1.0 / (3 * self.resolution**2 * math.log(2))

    def sample_q_t_0(self, x: torch.Tensor, gamma_t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """z_t ~ q(z_t | x) with the given noise. x, noise: (B,3,R,R); gamma_t: (B,)."""
        alpha, sigma = self.alpha_sigma(gamma_t)
        return alpha[:, None, None, None] * x + sigma[:, None, None, None] * noise

    def predict_noise(self, z: torch.Tensor, gamma_t: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        return self.denoiser(z, self.network_time(gamma_t), e)

    # -- loss (§3.2) -----------------------------------------------------------------------------------------
    def loss(
        self, x: torch.Tensor, h: torch.Tensor, generator: torch.Generator, drop: torch.Tensor | None = None
    ) -> LossTerms:
        """Variational bound per sample. x: (B,3,R,R) in [0,1]; h: (B,11); drop: (B,) bool for the null token.
        All randomness (antithetic t, ε, reconstruction noise) comes from `generator` (a CPU generator)."""
        batch, device = x.shape[0], x.device
        offset = torch.rand((), generator=generator) / batch
        t = offset + torch.arange(batch) / batch  # antithetic (low-discrepancy) times, (B,)
        noise = torch.randn(x.shape, generator=generator)
        reconstruction_noise = torch.randn(x.shape, generator=generator)
        return self.loss_terms(x, h, t.to(device), noise.to(device), reconstruction_noise.to(device), drop)

    def loss_terms(
        self, x: torch.Tensor, h: torch.Tensor, t: torch.Tensor, noise: torch.Tensor,
        reconstruction_noise: torch.Tensor, drop: torch.Tensor | None = None,
    ) -> LossTerms:
        """The bound's terms given its random draws (t (B,), ε and the reconstruction noise, each like x): a pure
        function of tensors, so several models' losses can be stacked (torch.func.vmap) with the same math."""
        device = x.device
        bpd = self.bits_per_dim()
        gamma_t = self.gamma(t)
        z_t = self.sample_q_t_0(x, gamma_t, noise)
        e = self.denoiser.embedding(h, drop)
        noise_hat = self.predict_noise(z_t, gamma_t, e)
        diffusion = 0.5 * self.gamma.derivative(t) * (noise_hat - noise).pow(2).flatten(1).sum(1) * bpd

        gamma_1 = self.gamma(torch.ones((), device=device))
        sigma2_1 = torch.sigmoid(gamma_1)
        kl = 0.5 * (sigma2_1 + (1 - sigma2_1) * x.pow(2) - torch.log(sigma2_1) - 1)
        latent = kl.flatten(1).sum(1) * bpd

        gamma_0 = self.gamma(torch.zeros((), device=device))
        alpha_0, sigma_0 = self.alpha_sigma(gamma_0)
        z_0 = alpha_0 * x + sigma_0 * reconstruction_noise
        residual = (z_0 / alpha_0 - x) / self.config.data_noise
        reconstruction = 0.5 * residual.pow(2).flatten(1).sum(1) * bpd
        return LossTerms(diffusion=diffusion, latent=latent, reconstruction=reconstruction)

    # -- sampling (§3.4) -------------------------------------------------------------------------------------
    @torch.no_grad()
    def sample(
        self, h: torch.Tensor, steps: int, generator: torch.Generator, guidance: float = 1.0,
        edit: EmbeddingEdit | None = None,
    ) -> torch.Tensor:
        """Ancestral sampling of prompts h (B, 11) from t = 1 to 0. Returns the clipped x̂₀ (B,3,R,R) in [0, 1].

        guidance w: ε̂ = ε̂(null) + w·(ε̂(h) − ε̂(null)); w = 1 is the plain conditional model and costs one
        network call per step. `edit` maps the concept embedding e to e′ (linear intervention); it is not
        applied to the null token.
        """
        e = self.denoiser.embedding(h.to(next(self.parameters()).device))
        if edit is not None:
            e = edit(e)
        return self.sample_embedded(e, steps, generator, None if guidance == 1.0 else torch.full((len(e),), guidance))

    @torch.no_grad()
    def sample_embedded(
        self, e: torch.Tensor, steps: int, generator: torch.Generator, guidance: torch.Tensor | None = None,
        noise_rows: int | None = None,
    ) -> torch.Tensor:
        """Ancestral sampling from concept embeddings e (B, D), already edited or patched, on a uniform grid.

        guidance: a weight per row (None: all 1); only rows with w ≠ 1 pay for a null-token call, so one batch can
        mix plain and guided prompts. noise_rows: the sampler draws noise for this many rows and repeats it over
        the batch (B must be a multiple), so each block of rows sees the same noise as every other block: a batch
        of methods then differs only in the embeddings and weights, as separate calls with one seed would.
        Randomness comes only from the CPU `generator`, so a seed reproduces the images on any device.
        """
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}.")
        device, batch = e.device, e.shape[0]
        rows = noise_rows or batch
        if batch % rows:
            raise ValueError(f"A batch of {batch} rows cannot repeat noise drawn for {rows} rows.")
        shape = (rows, 3, self.resolution, self.resolution)

        def noise() -> torch.Tensor:
            return torch.randn(shape, generator=generator).to(device).repeat(batch // rows, 1, 1, 1)

        guided = torch.arange(0) if guidance is None else (guidance != 1.0).nonzero().squeeze(1)
        if len(guided):
            weight = guidance[guided].to(device)[:, None, None, None]
            e = torch.cat([e, self.denoiser.embedding.null(len(guided))])
        z = noise()
        times = torch.linspace(1.0, 0.0, steps + 1, device=device)
        x_hat = z
        for i in range(steps):
            gamma_t, gamma_s = self.gamma(times[i]), self.gamma(times[i + 1])
            alpha_t, sigma_t = self.alpha_sigma(gamma_t)
            alpha_s, sigma_s = self.alpha_sigma(gamma_s)
            if len(guided):
                out = self.predict_noise(torch.cat([z, z[guided]]), gamma_t.expand(batch + len(guided)), e)
                noise_hat, null = out[:batch].clone(), out[batch:]
                noise_hat[guided] = null + weight.to(null.dtype) * (noise_hat[guided] - null)
            else:
                noise_hat = self.predict_noise(z, gamma_t.expand(batch), e)
            x_hat = ((z - sigma_t * noise_hat) / alpha_t).clamp(0, 1)
            c = -torch.expm1(gamma_s - gamma_t)
            mean = alpha_s * c * x_hat + (alpha_s / alpha_t) * (1 - c) * z
            z = mean + sigma_s * c.sqrt() * noise()
        return x_hat
