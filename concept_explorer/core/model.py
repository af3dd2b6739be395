"""The denoiser: a `ConceptEmbedding` (h → e) feeding a conditional U-Net.

The embedding is one module on purpose, in both conditioning designs of reference-spec §2.2 (`shared`: e is added
to the time embedding, like the paper's common_* variants; `per_block`: e holds one bias per ResNet block, the
paper's sep_mlp): embedding patching is then a swap of `embedding.*` weights and linear intervention an edit of e. Two backbones sit behind one
interface: diffusers' `UNet2DModel` (class-embedding input) and a lean hand-written U-Net of the same widths,
which measured faster per training step on CPU (see benchmarks/). The lean one is a plain `nn.Module`, so a
process that never builds the diffusers backbone never imports diffusers (about 1.8 s of every app start);
weights of either are stored by the run folder as safetensors.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import torch
from torch import nn

from .concepts import CONDITIONING_DIM
from .limits import check_config_ranges, check_config_types


@dataclass(frozen=True)
class ModelConfig:
    backbone: str = field(default="lean", metadata={"help": "U-Net backbone: lean (hand-written) or diffusers"})
    channels: tuple[int, ...] = field(default=(64, 128, 256), metadata={"help": "widths per resolution level"})
    blocks_per_level: int = field(default=2, metadata={"help": "ResNet blocks per level"})
    attention_lowest: bool = field(default=True, metadata={"help": "self-attention at the lowest resolution"})
    dropout: float = field(default=0.1, metadata={"help": "dropout inside ResNet blocks"})
    norm_groups: int = field(default=8, metadata={"help": "GroupNorm groups"})
    embedding_hidden: int = field(default=64, metadata={"help": "hidden width of the shared ConceptEmbedding MLP"})
    conditioning: str = field(default="shared", metadata={
        "help": "how h reaches the U-Net: shared (one MLP, added to the time embedding) or per_block (an MLP per "
                "ResNet block, the authors' sep_mlp)"})
    null_token: str = field(default="learned", metadata={
        "help": "what a dropped prompt (p_uncond) becomes: learned (a dedicated vector in e-space) or h_minus_one "
                "(h = -1 in every slot, through the same MLP: the authors' code)"})

    def __post_init__(self) -> None:
        check_config_types("model", self)
        check_config_ranges("model", self)  # first: norm_groups 0 would divide by zero below
        if self.backbone not in ("lean", "diffusers"):
            raise ValueError(f"backbone must be 'lean' or 'diffusers', got {self.backbone!r}.")
        if not self.channels or any(c <= 0 or c % self.norm_groups for c in self.channels):
            raise ValueError(f"channels {self.channels} must be positive multiples of norm_groups={self.norm_groups}.")
        if self.blocks_per_level < 1 or not 0 <= self.dropout < 1:
            raise ValueError("blocks_per_level must be >= 1 and dropout in [0, 1).")
        if self.conditioning not in CONDITIONINGS:
            raise ValueError(f"conditioning must be one of {list(CONDITIONINGS)}, got {self.conditioning!r}.")
        if self.null_token not in NULL_TOKENS:
            raise ValueError(f"null_token must be one of {list(NULL_TOKENS)}, got {self.null_token!r}.")
        if self.conditioning == "per_block" and self.backbone != "lean":
            raise ValueError("Per-block conditioning needs the lean backbone (diffusers' U-Net takes one embedding).")

    @property
    def block_widths(self) -> tuple[int, ...]:
        """Output width of every ResNet block in the order the U-Net runs them: down, middle (two), up."""
        down = tuple(c for c in self.channels for _ in range(self.blocks_per_level))
        return down + (self.channels[-1],) * 2 + tuple(reversed(down))

    @property
    def embedding_dim(self) -> int:
        """Shared: e has the width of the time embedding (4 × first width, as diffusers' identity class embedding
        needs). Per block: e is every block's bias side by side, so one vector still holds the whole prompt."""
        return sum(self.block_widths) if self.conditioning == "per_block" else 4 * self.channels[0]


CONDITIONINGS = {
    "shared": "one MLP h → e, added to the time embedding; every block projects the sum (the paper's common_*)",
    "per_block": "an MLP h → bias per ResNet block, the time embedding projected apart (the paper's sep_mlp)",
}
"""The two conditioning designs of reference-spec §2.2. Embedding patching swaps the whole h-pathway in both: one
MLP in `shared`, every block's MLP in `per_block`."""


NULL_TOKENS = {
    "learned": "a dedicated learned vector in e-space, apart from every real prompt (reference §9.4's fix)",
    "h_minus_one": "the prompt h = −1 in every slot, embedded by the same MLP as real prompts (the authors' code)",
}
"""The two forms of the null token classifier-free guidance trains (reference §2.2, §9.4). Which one a run has
matters beyond guidance: issue 21 measures whether either suppresses plain generalization."""

NULL_PROMPT = -1.0
"""The value of every slot of h for the authors' null token."""


def _mlp(hidden: int, out_dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(CONDITIONING_DIM, hidden), nn.GELU(), nn.Linear(hidden, out_dim), nn.GELU())


MASK_TOKEN_INIT = -2.0
"""Where a mask token starts, in every slot of h: no image of the data has a negative colour, size or background,
and overprompting reaches −2 only far past its strengths, so "unspecified" starts apart from every real prompt and
training moves it where the masked captions put it."""


class ConceptEmbedding(nn.Module):
    """h (11) → e, plus a learned null token for classifier-free guidance.

    Shared: one Linear → GELU → Linear → GELU. Per block: one such MLP per ResNet block, hidden width = the block's
    width (the authors' sep_mlp), outputs concatenated in block order. Either way e is one vector, so linear
    intervention edits it and patching swaps this module whole. The null token is a dedicated vector in e-space,
    so "no prompt" never collides with a real h (reference §9.4: −1 and 0 both do). A run trained with masked
    prompts also has a learned mask token in h-space: a masked concept's slots take its values (reference §5.4
    asks for a dedicated value, neither 0 nor −1), so patching carries it along with the rest of the module."""

    def __init__(
        self, hidden: int, out_dim: int, block_widths: tuple[int, ...] = (), mask_token: bool = False,
        null_token: str = "learned",
    ) -> None:
        super().__init__()
        if block_widths:
            self.blocks = nn.ModuleList(_mlp(width, width) for width in block_widths)
            out_dim = sum(block_widths)
        else:
            self.mlp = _mlp(hidden, out_dim)
        if null_token == "learned":  # the other form (h = −1) has no parameter of its own
            self.null_token = nn.Parameter(torch.zeros(out_dim))
        if mask_token:
            self.mask_token = nn.Parameter(torch.full((CONDITIONING_DIM,), MASK_TOKEN_INIT))

    def forward(self, h: torch.Tensor, drop: torch.Tensor | None = None) -> torch.Tensor:
        """h: (B, 11), NaN in the slots of a concept the prompt leaves unspecified (concepts.mask_concept); drop:
        optional (B,) bool, rows replaced by the null token. Returns e (B, D)."""
        if hasattr(self, "mask_token"):
            h = torch.where(h.isnan(), self.mask_token.to(h.dtype), h)
        elif h.isnan().any():
            raise ValueError("This run was not trained with masked prompts (train.mask_concept), so it has no mask "
                             "token for a concept left unspecified.")
        learned_null = hasattr(self, "null_token")
        if drop is not None and not learned_null:
            h = torch.where(drop[:, None], torch.full_like(h, NULL_PROMPT), h)
        e = self._embed(h)
        if drop is not None and learned_null:
            e = torch.where(drop[:, None], self.null_token.expand_as(e), e)
        return e

    def _embed(self, h: torch.Tensor) -> torch.Tensor:
        return torch.cat([mlp(h) for mlp in self.blocks], dim=1) if hasattr(self, "blocks") else self.mlp(h)

    def null(self, batch: int) -> torch.Tensor:
        """e of the null prompt, (batch, D)."""
        if hasattr(self, "null_token"):
            return self.null_token.expand(batch, -1)
        weight = next(self.parameters())
        return self._embed(torch.full((batch, CONDITIONING_DIM), NULL_PROMPT, dtype=weight.dtype, device=weight.device))


def sinusoidal_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """(B,) → (B, dim): [sin, cos] of 1000·t at frequencies log-spaced from 1 to 1e-4 (reference §2.2)."""
    half = dim // 2
    frequencies = torch.exp(-math.log(1e4) * torch.arange(half, device=t.device) / max(half - 1, 1))
    angles = 1000 * t[:, None].float() * frequencies[None]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


class ResBlock(nn.Module):
    """GN → GELU → conv, + projection of the conditioning embedding, GN → GELU → dropout → zero-init conv, skip."""

    def __init__(self, c_in: int, c_out: int, emb_dim: int, groups: int, dropout: float) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(emb_dim, c_out)
        self.norm2 = nn.GroupNorm(groups, c_out)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
        """emb: the (time [+ shared concept]) embedding, projected here; bias: this block's own concept bias (B, C)
        under per-block conditioning."""
        h = self.conv1(nn.functional.gelu(self.norm1(x)))
        h = h + (self.emb(emb) if bias is None else self.emb(emb) + bias)[:, :, None, None]
        h = self.conv2(self.dropout(nn.functional.gelu(self.norm2(h))))
        return self.skip(x) + h


class Attention(nn.Module):
    """Single-head self-attention over positions with a residual (cheap at the lowest resolution)."""

    def __init__(self, channels: int, groups: int) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(groups, channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = nn.Conv2d(channels, channels, 1)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, height, width = x.shape
        # Channels last: the permutes are views, so a channels-last activation is never copied to NCHW and back.
        qkv = self.qkv(self.norm(x)).permute(0, 2, 3, 1).reshape(b, height * width, 3, c)  # (B, HW, 3, C)
        out = nn.functional.scaled_dot_product_attention(*qkv.unbind(2))  # (B, HW, C)
        return x + self.proj(out.reshape(b, height, width, c).permute(0, 3, 1, 2))


@functools.cache
def _amx() -> bool:
    return bool(getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)())


def channels_last_pays(base_width: int) -> bool:
    """Whether a CPU training step of a lean U-Net of this first width runs faster on channels-last activations
    (oneDNN then skips reordering every activation to its blocked layout and back around each convolution). Measured
    per step, channels-last against NCHW (benchmarks/results-reference*.txt): on an AMX Xeon 1.05-1.24x in fp32 and
    1.08-1.36x in bf16 at width 64, 0.6-0.9x at the cpu preset's 16; on an AVX512-BF16 EPYC without AMX 1.03-1.04x
    in fp32 but 0.95-0.97x in bf16 (its auto precision) at 64, 0.6-0.95x at 16. Weights keep their layout either way."""
    return base_width >= 64 and _amx()


class LeanUNet(nn.Module):
    """A small U-Net: `blocks_per_level` ResBlocks per level down and up with concatenated skips, a middle of
    ResBlock → attention → ResBlock, and a zero-initialised output conv. Same conditioning contract as
    `UNet2DModel(class_embed_type="identity")`: forward(z, t, class_labels=e)."""

    def __init__(
        self, channels: tuple[int, ...] = (64, 128, 256), blocks_per_level: int = 2, attention_lowest: bool = True,
        dropout: float = 0.1, norm_groups: int = 8, in_channels: int = 3, per_block: bool = False,
    ) -> None:
        super().__init__()
        self.base_width = channels[0]
        self.per_block = per_block  # class_labels holds every block's bias side by side, not one shared vector
        self.channels_last_on_cpu = channels_last_pays(channels[0])
        emb_dim = 4 * channels[0]
        self.time_mlp = nn.Sequential(
            nn.Linear(channels[0], emb_dim), nn.GELU(), nn.Linear(emb_dim, emb_dim), nn.GELU()
        )
        self.conv_in = nn.Conv2d(in_channels, channels[0], 3, padding=1)
        self.down = nn.ModuleList()
        self.downsample = nn.ModuleList()
        c_prev = channels[0]
        skip_widths = []
        for level, width in enumerate(channels):
            blocks = nn.ModuleList()
            for _ in range(blocks_per_level):
                blocks.append(ResBlock(c_prev, width, emb_dim, norm_groups, dropout))
                c_prev = width
            self.down.append(blocks)
            skip_widths.append(width)
            last = level == len(channels) - 1
            self.downsample.append(nn.Identity() if last else nn.Conv2d(width, width, 2, stride=2))
        self.mid1 = ResBlock(c_prev, c_prev, emb_dim, norm_groups, dropout)
        self.mid_attention = Attention(c_prev, norm_groups) if attention_lowest else nn.Identity()
        self.mid2 = ResBlock(c_prev, c_prev, emb_dim, norm_groups, dropout)
        self.up = nn.ModuleList()
        self.upsample = nn.ModuleList()
        for level in reversed(range(len(channels))):
            width = channels[level]
            blocks = nn.ModuleList()
            c_in = c_prev + skip_widths[level]
            for _ in range(blocks_per_level):
                blocks.append(ResBlock(c_in, width, emb_dim, norm_groups, dropout))
                c_in = width
            self.up.append(blocks)
            self.upsample.append(
                nn.ConvTranspose2d(width, channels[level - 1], 2, stride=2) if level > 0 else nn.Identity()
            )
            c_prev = channels[level - 1] if level > 0 else width
        self.norm_out = nn.GroupNorm(norm_groups, channels[0])
        self.conv_out = nn.Conv2d(channels[0], in_channels, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)
        self.bias_widths = [block.conv1.out_channels for block in self.blocks_in_order()]

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor, class_labels: torch.Tensor) -> torch.Tensor:
        emb = self.time_mlp(sinusoidal_embedding(timestep / 1000, self.base_width))
        if self.per_block:
            biases = iter(class_labels.split(self.bias_widths, dim=1))
            bias = lambda: next(biases)  # noqa: E731
        else:
            emb = emb + class_labels
            bias = lambda: None  # noqa: E731
        if self.channels_last_on_cpu and sample.device.type == "cpu":
            sample = sample.contiguous(memory_format=torch.channels_last)  # every conv, norm, add and cat keeps it
        x = self.conv_in(sample)
        skips = []
        for blocks, downsample in zip(self.down, self.downsample):
            for block in blocks:
                x = block(x, emb, bias())
            skips.append(x)
            x = downsample(x)
        x = self.mid1(x, emb, bias())
        x = self.mid2(self.mid_attention(x), emb, bias())
        for blocks, upsample in zip(self.up, self.upsample):
            x = torch.cat([x, skips.pop()], dim=1)
            for block in blocks:
                x = block(x, emb, bias())
            x = upsample(x)
        return self.conv_out(nn.functional.gelu(self.norm_out(x)))

    def blocks_in_order(self) -> list[ResBlock]:
        """Every ResNet block in the order forward runs them (ModelConfig.block_widths follows the same order)."""
        down = [block for blocks in self.down for block in blocks]
        return [*down, self.mid1, self.mid2, *(block for blocks in self.up for block in blocks)]


def build_backbone(config: ModelConfig, resolution: int) -> nn.Module:
    if config.backbone == "lean":
        return LeanUNet(
            channels=tuple(config.channels), blocks_per_level=config.blocks_per_level,
            attention_lowest=config.attention_lowest, dropout=config.dropout, norm_groups=config.norm_groups,
            per_block=config.conditioning == "per_block",
        )
    from diffusers import UNet2DModel  # imported here: it adds ~1.2 s to every start, and only this branch needs it

    levels = len(config.channels)
    down = ["DownBlock2D"] * levels
    up = ["UpBlock2D"] * levels
    if config.attention_lowest:
        down[-1], up[0] = "AttnDownBlock2D", "AttnUpBlock2D"
    unet = UNet2DModel(
        sample_size=resolution, in_channels=3, out_channels=3, block_out_channels=tuple(config.channels),
        layers_per_block=config.blocks_per_level, down_block_types=tuple(down), up_block_types=tuple(up),
        class_embed_type="identity", time_embedding_type="positional", dropout=config.dropout,
        norm_num_groups=config.norm_groups, act_fn="silu",
    )
    nn.init.zeros_(unet.conv_out.weight)
    nn.init.zeros_(unet.conv_out.bias)
    return unet


class Denoiser(nn.Module):
    """ε̂(z_t, t, e) = z_t + U-Net(z_t, t, e). The identity path makes ε̂ = z_t at initialisation, which is the
    right answer at high noise (the authors' `CUNet` does the same, reference §3.5)."""

    def __init__(self, config: ModelConfig, resolution: int, mask_token: bool = False) -> None:
        super().__init__()
        per_block = config.block_widths if config.conditioning == "per_block" else ()
        self.embedding = ConceptEmbedding(config.embedding_hidden, config.embedding_dim, per_block, mask_token,
                                          config.null_token)
        self.backbone = build_backbone(config, resolution)

    def forward(self, z: torch.Tensor, t_net: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        """z: (B,3,R,R) noisy image; t_net: (B,) network time in ~[0, 1]; e: (B, D) concept embedding."""
        out = self.backbone(z, 1000 * t_net, class_labels=e)
        out = out.sample if hasattr(out, "sample") else out
        return z + out
