"""The authors' network and training step beside this project's, timed in one process on this machine.

The authors' U-Net (cfpark00/concept-learning, `mltools/networks/networks.py`, class `CUNet`, configured as in
every 2x2 run: chs [64, 128, 256], num_res_blocks 2, mid_attn, v_conditioning_dims [11], sep_mlp, t_conditioning)
is rebuilt here from reference-spec §2.2 and §3.5, so the comparison runs offline: same layers, widths, norms,
dropout and conditioning MLPs (10,913,859 parameters, as the spec counts), written anew rather than copied. Its
step is their VDM loss (antithetic t with dγ/dt taken by autograd, prior and reconstruction terms), AdamW with
torch's CPU default (the single-tensor loop), and a global gradient-norm clip of 0.01. The project's step is the
real `Trainer.train_step` of a preset. Both draw batches of 64 from the same rendered 32 px images.

    .venv/bin/python benchmarks/bench_reference.py --threads 2 | tee benchmarks/results-reference.txt

Every subject is warmed up, then each repeat times one step of every subject (the order rotating between repeats),
so a load that drifts hits them alike. A ratio is taken within each repeat (reference time / project time, >1 means
the project is faster) and reported as the median over repeats with its range. "auto" is the precision
`core/precision.py` picks for this machine (bf16 where oneDNN reports native bf16, else fp32).
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.flop_counter import FlopCounterMode

from concept_explorer.core.config import preset, with_overrides
from concept_explorer.core.precision import autocast, native_bf16, resolve_precision
from concept_explorer.core.run import Run
from concept_explorer.core.training import Trainer, build_data
from concept_explorer.core.vdm import VDM

CPU = torch.device("cpu")
BENCH_DATA = {"train.train_per_class": 64}  # the data set size does not change the cost of a step


# -- the authors' network, rebuilt from the spec ------------------------------------------------------------------
def condition_mlp(in_dim: int, width: int) -> nn.Sequential:
    """`sep_mlp`: every ResNet block owns one of these per conditioning input (time embedding, h)."""
    return nn.Sequential(nn.Linear(in_dim, width), nn.GELU(), nn.Linear(width, width), nn.GELU())


class ReferenceResBlock(nn.Module):
    """GN → GELU → conv3×3, + Σ MLP(condition), GN → GELU → dropout → zero-init conv3×3, + (1×1 conv) skip."""

    def __init__(self, c_in: int, c_out: int, condition_dims: tuple[int, ...], dropout: float = 0.1) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(8, c_in, eps=1e-6)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.conditions = nn.ModuleList(condition_mlp(dim, c_out) for dim in condition_dims)
        self.norm2 = nn.GroupNorm(8, c_out, eps=1e-6)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, conditions: list[torch.Tensor]) -> torch.Tensor:
        hidden = self.conv1(F.gelu(self.norm1(x)))
        for mlp, condition in zip(self.conditions, conditions):
            hidden = hidden + mlp(condition)[:, :, None, None]
        hidden = self.conv2(self.dropout(F.gelu(self.norm2(hidden))))
        return self.skip(x) + hidden


class ReferenceAttention(nn.Module):
    """GN, separate 1×1 q/k/v/out convs, 4 heads of C/4 channels (channel = c·heads + head), softmax(qk/√d)v."""

    def __init__(self, channels: int, heads: int = 4) -> None:
        super().__init__()
        self.heads = heads
        self.norm = nn.GroupNorm(8, channels, eps=1e-6)
        self.q, self.k, self.v, self.out = (nn.Conv2d(channels, channels, 1) for _ in range(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, height, width = x.shape
        normed = self.norm(x)

        def split(t: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) → (B, heads, HW, C/heads)
            return t.reshape(b, c // self.heads, self.heads, height * width).permute(0, 2, 3, 1)

        q, k, v = split(self.q(normed)), split(self.k(normed)), split(self.v(normed))
        weights = torch.softmax(q @ k.transpose(-1, -2) * (c // self.heads) ** -0.5, dim=-1)
        out = (weights @ v).permute(0, 3, 1, 2).reshape(b, c, height, width)
        return x + self.out(out)


def timestep_embedding(t: torch.Tensor, dim: int = 64) -> torch.Tensor:
    """[sin, cos] of 1000·t at dim/2 frequencies log-spaced from 1 to 1e-4."""
    frequencies = torch.logspace(0, -4, dim // 2, device=t.device)
    angles = 1000 * t[:, None] * frequencies[None]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


class ReferenceCUNet(nn.Module):
    """Down: RB×2 per level, a stride-2 conv after each (the last level's is built but unused, as in CUNet); middle
    RB → attention → RB; up: RB×2 per level (the first taking the concatenated skip), then a stride-2 transposed
    conv and concatenation of the matching skip (none at the lowest level; the top level's up-conv is unused);
    GN → GELU → zero-init conv; output = input + that."""

    def __init__(self, chs: tuple[int, ...] = (64, 128, 256), blocks: int = 2, h_dim: int = 11) -> None:
        super().__init__()
        t_dim = 4 * 64
        conditions = (t_dim, h_dim)
        self.time_mlp = nn.Sequential(nn.Linear(64, t_dim), nn.GELU(), nn.Linear(t_dim, t_dim), nn.GELU())
        self.conv_in = nn.Conv2d(3, chs[0], 3, padding=1)
        self.down_blocks, self.downsample = nn.ModuleList(), nn.ModuleList()
        c_prev = chs[0]
        for width in chs:
            level = nn.ModuleList()
            for _ in range(blocks):
                level.append(ReferenceResBlock(c_prev, width, conditions))
                c_prev = width
            self.down_blocks.append(level)
            self.downsample.append(nn.Conv2d(width, width, 2, stride=2))
        self.mid1 = ReferenceResBlock(c_prev, c_prev, conditions)
        self.attention = ReferenceAttention(c_prev)
        self.mid2 = ReferenceResBlock(c_prev, c_prev, conditions)
        self.up_blocks, self.upsample = nn.ModuleList(), nn.ModuleList()
        c_skip = 0
        for index in reversed(range(len(chs))):
            width, c_out = chs[index], chs[max(index - 1, 0)]
            self.up_blocks.append(nn.ModuleList(
                ReferenceResBlock(width + (c_skip if i == 0 else 0), width, conditions) for i in range(blocks)
            ))
            self.upsample.append(nn.ConvTranspose2d(width, c_out, 2, stride=2))
            c_skip = c_out
        self.norm_out = nn.GroupNorm(8, chs[0], eps=1e-6)
        self.conv_out = nn.Conv2d(chs[0], 3, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def forward(self, x: torch.Tensor, t: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        conditions = [self.time_mlp(timestep_embedding(t.expand(x.shape[0]).clone())), h]
        out, skips = self.conv_in(x), []
        for level, (blocks, downsample) in enumerate(zip(self.down_blocks, self.downsample)):
            for block in blocks:
                out = block(out, conditions)
            if level < len(self.down_blocks) - 1:
                skips.append(out)
                out = downsample(out)
        out = self.mid2(self.attention(self.mid1(out, conditions)), conditions)
        for level, (blocks, upsample) in enumerate(zip(self.up_blocks, self.upsample)):
            for block in blocks:
                out = block(out, conditions)
            if level < len(self.up_blocks) - 1:
                out = upsample(out)
            if skips:
                out = torch.cat([out, skips.pop()], dim=1)
        return self.conv_out(F.gelu(self.norm_out(out))) + x


class ReferenceTraining:
    """The authors' VDM training step around `ReferenceCUNet` (reference-spec §3.1-3.2, §3.6)."""

    gamma_min, gamma_max, data_noise, clip = -5.0, 10.0, 1e-3, 0.01

    def __init__(self, images: torch.Tensor, h: torch.Tensor, precision: str, seed: int = 0) -> None:
        torch.manual_seed(seed)
        self.images, self.h, self.precision = images, h, precision
        self.model = ReferenceCUNet()
        self.b = nn.Parameter(torch.tensor(self.gamma_min))
        self.w = nn.Parameter(torch.tensor(self.gamma_max - self.gamma_min))
        self.parameters = [*self.model.parameters(), self.b, self.w]
        self.optimizer = torch.optim.AdamW(self.parameters, lr=1e-3, weight_decay=0.01)

    def gamma(self, t: torch.Tensor) -> torch.Tensor:
        return self.b + self.w.abs() * t

    def loss(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        batch = x.shape[0]
        bpd = 1 / (x[0].numel() * math.log(2))
        times = (torch.rand(()) / batch + torch.arange(batch) / batch).requires_grad_(True)
        noise = torch.randn_like(x)
        gamma_t = self.gamma(times.view(batch, 1, 1, 1))
        z_t = torch.sigmoid(-gamma_t).sqrt() * x + torch.sigmoid(gamma_t).sqrt() * noise
        noise_hat = self.model(z_t, (gamma_t.squeeze() - self.gamma_min) / (self.gamma_max - self.gamma_min), h)
        slope = torch.autograd.grad(gamma_t, times, torch.ones_like(gamma_t), create_graph=True)[0]
        diffusion = bpd * 0.5 * (noise_hat - noise).pow(2).flatten(1).sum(-1) * slope
        sigma2_1 = torch.sigmoid(self.gamma(torch.tensor([1.0])))
        latent = bpd * (0.5 * (sigma2_1 + (1 - sigma2_1) * x**2 - sigma2_1.log() - 1)).flatten(1).sum(-1)
        gamma_0 = self.gamma(torch.tensor([0.0]).view(1, 1, 1, 1))
        alpha_0 = torch.sigmoid(-gamma_0).sqrt()
        z_0 = alpha_0 * x + torch.sigmoid(gamma_0).sqrt() * torch.randn_like(x)
        log_likelihood = (-((x - z_0 / alpha_0) ** 2) / (2 * self.data_noise**2) - math.log(self.data_noise)
                          - 0.5 * math.log(2 * math.pi))
        reconstruction = -bpd * log_likelihood.flatten(1).sum(-1)
        return (diffusion + latent + reconstruction).mean()

    def train_step(self) -> float:
        self.model.train()
        index = torch.randint(self.images.shape[0], (64,))
        with autocast(self.precision, CPU):
            loss = self.loss(self.images[index], self.h[index])
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.parameters, self.clip)
        self.optimizer.step()
        return loss.item()


# -- measurement -------------------------------------------------------------------------------------------------
@dataclass
class Subject:
    preset: str
    network: str
    precision: str
    step: Callable[[], float]
    steps_per_repeat: int
    parameters: int
    ablation: str = ""
    times: list[float] = field(default_factory=list)

    def time(self, count: int | None = None) -> float:
        count = count or self.steps_per_repeat
        start = time.perf_counter()
        for _ in range(count):
            self.step()
        return (time.perf_counter() - start) / count


def project_trainer(preset_name: str, precision: str, folder: Path, ablation: str = "") -> Trainer:
    """The preset's real trainer; an ablation undoes one of the speed changes, to time what it brought."""
    config = with_overrides(preset(preset_name), {**BENCH_DATA, "train.precision": precision})
    trainer = Trainer(Run.create(folder / f"{preset_name}-{precision}-{ablation or 'as-is'}", config), CPU)
    if ablation == "adamw-loop":  # torch's CPU default, as before the change
        train = config.train
        trainer.optimizer = torch.optim.AdamW(
            [p for p in trainer.model.parameters() if p.requires_grad], lr=train.lr, weight_decay=train.weight_decay,
            foreach=False)
    elif ablation == "layout-flipped":
        backbone = trainer.model.denoiser.backbone
        backbone.channels_last_on_cpu = not backbone.channels_last_on_cpu
    return trainer


ABLATIONS = {"adamw-loop": "AdamW per-tensor loop", "layout-flipped": "other activation layout"}


def project_subjects(preset_name: str, precision: str, folder: Path, ablations: bool, steps: int) -> list[Subject]:
    """The project's step as it is, then (with `ablations`) once with each speed change undone."""
    subjects = []
    for ablation in ["", *(ABLATIONS if ablations else [])]:
        trainer = project_trainer(preset_name, precision, folder, ablation)
        channels_last = trainer.model.denoiser.backbone.channels_last_on_cpu
        layout = f"{'channels-last' if channels_last else 'NCHW'} activations"
        name = f"  undone: {ABLATIONS[ablation]} ({layout})" if ablation else f"project step ({layout})"
        subjects.append(Subject(preset_name, name, precision, trainer.train_step, steps,
                                sum(p.numel() for p in trainer.model.parameters()), ablation))
    return subjects


def adamw_step_times(repeats: int = 11) -> dict[str, list[float]]:
    """AdamW's step alone over the paper model's parameters (random gradients): torch's CPU default, the per-tensor
    loop, against the fused kernel the trainer uses; interleaved."""
    config = preset("paper")
    optimizers = {}
    for kind in ("per-tensor loop", "fused"):
        parameters = list(VDM(config.model, config.vdm, 32).parameters())
        for parameter in parameters:
            parameter.grad = torch.randn_like(parameter) * 1e-4
        optimizers[kind] = torch.optim.AdamW(parameters, lr=1e-3, weight_decay=0.01, foreach=False,
                                             fused=kind == "fused" or None)
        optimizers[kind].step()
    times: dict[str, list[float]] = {kind: [] for kind in optimizers}
    for _ in range(repeats):
        for kind, optimizer in optimizers.items():
            start = time.perf_counter()
            optimizer.step()
            times[kind].append(time.perf_counter() - start)
    return times


def step_gflop(step: Callable[[], float]) -> float:
    with FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops() / 1e9


def convolution_share(step: Callable[[], float], steps: int = 2) -> float:
    """Fraction of a step's CPU time spent in convolutions (forward and backward, self time of the conv kernels),
    by torch.profiler. Both networks run the same convolutions and take about the same time, so 1 / share bounds
    what any change that keeps the convolutions can gain over the authors' step (Amdahl: all else made free)."""
    from torch.profiler import ProfilerActivity, profile

    step()
    with profile(activities=[ProfilerActivity.CPU]) as profiler:
        for _ in range(steps):
            step()
    events = profiler.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    conv = sum(e.self_cpu_time_total for e in events if "conv" in e.key.lower())
    return conv / total


def cpu_name() -> str:
    path = Path("/proc/cpuinfo")
    for line in path.read_text().splitlines() if path.exists() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def spread(values: list[float], scale: float = 1.0, digits: int = 0) -> str:
    return f"{statistics.median(values) * scale:.{digits}f} ({min(values) * scale:.{digits}f}-{max(values) * scale:.{digits}f})"


def measure(subjects: list[Subject], warmup: int, repeats: int, label: str) -> None:
    for subject in subjects:
        print(f"warming up {subject.preset} / {subject.network} / {subject.precision} …", file=sys.stderr, flush=True)
        subject.time(warmup)
    for repeat in range(repeats):
        print(f"{label}: repeat {repeat + 1}/{repeats} …", file=sys.stderr, flush=True)
        shift = repeat % len(subjects)
        for subject in subjects[shift:] + subjects[:shift]:
            subject.times.append(subject.time())


def ratio_line(label: str, reference: Subject, project: Subject) -> str:
    ratios = [r / p for r, p in zip(reference.times, project.times)]
    return f"  {label:<58}{spread(ratios, digits=2)}x"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--warmup", type=int, default=3, help="warm-up steps of each paper-preset subject")
    parser.add_argument("--repeats", type=int, default=5, help="timed steps of each paper-preset subject")
    parser.add_argument("--cpu-repeats", type=int, default=9, help="repeats of the cpu preset's timings")
    parser.add_argument("--cpu-steps", type=int, default=5, help="cpu-preset steps per repeat")
    parser.add_argument("--ablations", action="store_true",
                        help="also time the project's step with each speed change undone (fused AdamW, layout)")
    parser.add_argument("--note", default="", help="a line about the conditions, printed in the header")
    parser.add_argument("--profile", action="store_true",
                        help="only profile both fp32 paper steps: the convolutions' share and the bound it sets")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    auto = resolve_precision("auto", CPU)
    precisions = ["fp32"] + ([auto] if auto != "fp32" else [])
    python = os.path.relpath(sys.executable) if sys.executable.startswith(os.getcwd()) else sys.executable
    print(f"command: {python} benchmarks/{Path(sys.argv[0]).name} {shlex.join(sys.argv[1:])}".rstrip())
    print(f"Concept Explorer vs the authors' network, {time.strftime('%Y-%m-%d %H:%M')}")
    print(f"torch {torch.__version__}, Python {platform.python_version()}")
    print(f"CPU: {cpu_name()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch thread(s); native bf16 "
          f"(oneDNN): {'yes' if native_bf16(CPU) else 'no'}; auto precision here: {auto}; "
          f"AMX: {'yes' if 'amx_bf16' in Path('/proc/cpuinfo').read_text() else 'no'}")
    print(f"load average at start: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    if args.note:
        print(f"note: {args.note}")
    print(f"Training step: batch 64, 32 px (paper) / 16 px (cpu). Paper preset: {args.warmup} warm-up + "
          f"{args.repeats} timed steps per subject, one step per repeat; cpu preset: {args.cpu_repeats} repeats of "
          f"{args.cpu_steps} steps. ms/step: median (min-max) over repeats.")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        paper: dict[tuple[str, str], list[Subject]] = {}
        data = build_data(with_overrides(preset("paper"), BENCH_DATA))  # the images both steps draw from
        for precision in precisions:
            project = project_subjects("paper", precision, folder, args.ablations, 1)
            reference = ReferenceTraining(data.train_images, data.train_h, precision)
            paper["reference", precision] = [Subject(
                "paper", "authors' CUNet step", precision, reference.train_step, 1,
                sum(p.numel() for p in reference.parameters))]
            paper["project", precision] = project
        cpu = [s for precision in precisions for s in project_subjects("cpu", precision, folder, args.ablations,
                                                                       args.cpu_steps)]
        gflop = {name: step_gflop(paper[name, "fp32"][0].step) for name in ("reference", "project")}
        if args.profile:  # only the profile: where the fp32 step's time goes, and the bound it sets
            for name in ("reference", "project"):
                share = convolution_share(paper[name, "fp32"][0].step)
                print(f"{paper[name, 'fp32'][0].network}, fp32: convolutions take {share:.0%} of the step's CPU time "
                      f"(torch.profiler, self time); with everything else free it would be {1 / share:.2f}x faster")
            return
        adamw = adamw_step_times()
        measure([s for group in paper.values() for s in group], args.warmup, args.repeats, "paper preset")
        measure(cpu, 3, args.cpu_repeats, "cpu preset")

    print()
    print(f"{'preset':<7}{'network':<62}{'precision':<11}{'parameters':>11}{'ms/step (range)':>26}")
    for subject in [*(s for group in paper.values() for s in group), *cpu]:
        print(f"{subject.preset:<7}{subject.network:<62}{subject.precision:<11}{subject.parameters:>11,}"
              f"{spread(subject.times, 1e3):>26}")
    print(f"\nFLOPs of one fp32 step (forward + backward, counted): authors' {gflop['reference']:.1f} GFLOP, "
          f"project {gflop['project']:.1f} GFLOP")
    print("AdamW step alone on the paper model's parameters, ms: "
          + ", ".join(f"{kind} {spread(times, 1e3, 1)}" for kind, times in adamw.items()))
    print("\nSpeed-up of the project's step (authors' time / project's time, per repeat; median (range)):")
    for precision in precisions:
        print(ratio_line(f"{precision}, both networks in {precision}", paper["reference", precision][0],
                         paper["project", precision][0]))
    if auto != "fp32":
        print(ratio_line(f"authors' as they run it (fp32) vs project in auto ({auto})", paper["reference", "fp32"][0],
                         paper["project", auto][0]))
    if args.ablations:
        print("\nWhat each change brings (time with it undone / time as is, per repeat; >1 means the change helps):")
        groups = [*(paper["project", p] for p in precisions),
                  *([s for s in cpu if s.precision == p] for p in precisions)]
        for project, *undone in groups:
            for subject in undone:
                print(ratio_line(f"{project.preset} {project.precision}: {ABLATIONS[subject.ablation]} undone",
                                 subject, project))
    print(f"\nload average at end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
