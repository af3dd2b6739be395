"""Speed of the core on this machine: training steps/s and sampling time for both presets, achieved GFLOP/s, and
CPU variants (bf16 autocast, channels-last, torch.compile, the diffusers backbone) against the fp32 lean baseline
measured in the same process. Not part of the test suite; run it by hand and keep its output:

    .venv/bin/python benchmarks/bench_core.py --threads 1 --note "..." | tee benchmarks/results-cpu.txt

Training steps are the real `Trainer.train_step` of each preset (batch 64, AdamW, full VDM bound); sampling is
`VDM.sample` of 8 images with 50 ancestral steps. Variants are measured interleaved (each repeat times every
variant once, baseline first), so a load that drifts during the run hits them alike; a speed-up is the median over
repeats of baseline time / variant time, with its range over repeats. FLOPs are counted once per architecture with
`torch.utils.flop_counter.FlopCounterMode` (forward + backward for a step; one network call × 50 for sampling).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from concept_explorer.core.config import RunConfig, preset, with_overrides
from concept_explorer.core.run import Run
from concept_explorer.core.training import Trainer

IMAGES = 8
BENCH_DATA = {"train.train_per_class": 64}  # the data set size does not change the cost of a step


@dataclass(frozen=True)
class Variant:
    name: str
    backbone: str = "lean"
    bf16: bool = False
    channels_last: bool = False
    compile: bool = False

    def context(self) -> contextlib.AbstractContextManager:
        return torch.autocast("cpu", dtype=torch.bfloat16) if self.bf16 else contextlib.nullcontext()


VARIANTS = [
    Variant("fp32"),  # the baseline: first in the list
    Variant("bf16 autocast", bf16=True),
    Variant("channels_last", channels_last=True),
    Variant("diffusers backbone", backbone="diffusers"),
]
COMPILED = Variant("torch.compile", compile=True)


@dataclass(frozen=True)
class Plan:
    """How much to measure for one preset: slow presets get fewer, shorter repeats."""

    warmup: int
    steps_per_repeat: int
    repeats: int
    sample_repeats: int


@dataclass
class Subject:
    """One variant under measurement: its trainer, and the times gathered so far."""

    variant: Variant
    trainer: Trainer
    prompts: torch.Tensor  # (8, 11)
    first_step_s: float = 0.0
    step_times: list[float] = field(default_factory=list)
    sample_times: list[float] = field(default_factory=list)

    def train_steps(self, count: int) -> float:
        """Mean seconds per step over `count` steps."""
        with self.variant.context():
            start = time.perf_counter()
            for _ in range(count):
                self.trainer.train_step()
            return (time.perf_counter() - start) / count

    def sample(self, steps: int) -> float:
        with self.variant.context():
            start = time.perf_counter()
            self.trainer.model.eval().sample(self.prompts, steps, torch.Generator().manual_seed(0))
            return time.perf_counter() - start


def cpuinfo() -> str:
    path = Path("/proc/cpuinfo")
    return path.read_text() if path.exists() else ""


def native_bf16() -> bool:
    """Whether the CPU multiplies bf16 in hardware (AMX or AVX512-BF16); elsewhere autocast emulates it."""
    return "amx_bf16" in cpuinfo() or "avx512_bf16" in cpuinfo()


def cpu_name() -> str:
    for line in cpuinfo().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def count_flops(fn: Callable[[], object]) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def prepare(config: RunConfig, variant: Variant, folder: Path, warmup: int) -> Subject:
    """Build the variant's trainer and warm it up; the first step's time includes any compilation."""
    config = with_overrides(config, {"model.backbone": variant.backbone})
    trainer = Trainer(Run.create(folder / variant.name.replace(" ", "-"), config), torch.device("cpu"))
    if variant.channels_last:
        trainer.model.to(memory_format=torch.channels_last)
    if variant.compile:
        # Static shapes: inductor's dynamic-shape path failed on the paper U-Net (torch 2.13); the few batch
        # sizes (64 to train, 8 to sample) compile once each.
        trainer.model.denoiser = torch.compile(trainer.model.denoiser, dynamic=False)
    space = config.concept_space
    classes = space.training_classes()
    prompts = torch.stack([space.class_prompt(classes[i % len(classes)]) for i in range(IMAGES)])
    subject = Subject(variant, trainer, prompts)
    subject.first_step_s = subject.train_steps(1)
    if warmup > 1:
        subject.train_steps(warmup - 1)
    subject.sample(2)  # the eval-mode graph (a second compilation for the compiled variant)
    return subject


def flops_per_architecture(subjects: list[Subject], sample_steps: int) -> dict[str, tuple[int, int]]:
    """(training-step FLOPs, sampling FLOPs) per backbone, counted on an eager fp32 model."""
    flops = {}
    for subject in subjects:
        variant = subject.variant
        if variant.backbone in flops or variant.compile or variant.bf16:
            continue
        model = subject.trainer.model
        step = count_flops(subject.trainer.train_step)
        call = count_flops(lambda: model.eval().sample(subject.prompts, 1, torch.Generator().manual_seed(0)))
        flops[variant.backbone] = (step, call * sample_steps)
    return flops


def speedups(baseline: list[float], times: list[float]) -> str:
    ratios = [b / t for b, t in zip(baseline, times)]
    spread = f"({min(ratios):.2f}-{max(ratios):.2f})" if len(ratios) > 1 else ""
    return f"{statistics.median(ratios):>6.2f}x {spread:<12}"


def report(preset_name: str, subjects: list[Subject], flops: dict[str, tuple[int, int]]) -> None:
    baseline = subjects[0]
    for subject in subjects:
        step, sample = statistics.median(subject.step_times), statistics.median(subject.sample_times)
        step_flops, sample_flops = flops[subject.variant.backbone]
        print(
            f"{preset_name:<7}{subject.variant.name:<20}{step * 1e3:>9.1f}{1 / step:>8.2f}{step_flops / 1e9:>8.2f}"
            f"{step_flops / step / 1e9:>9.1f}  {speedups(baseline.step_times, subject.step_times)}"
            f"{sample:>8.2f}{sample_flops / sample / 1e9:>9.1f}  {speedups(baseline.sample_times, subject.sample_times)}"
            f"{subject.first_step_s:>8.1f}",
            flush=True,
        )


HEADER = (
    f"{'preset':<7}{'variant':<20}{'ms/step':>9}{'steps/s':>8}{'GFLOP':>8}{'GFLOP/s':>9}  {'speed-up (range)':<21}"
    f"{'sample s':>8}{'GFLOP/s':>9}  {'speed-up (range)':<21}{'1st s':>8}"
)


def measure_preset(preset_name: str, plan: Plan, args: argparse.Namespace, folder: Path) -> None:
    config = with_overrides(preset(preset_name), BENCH_DATA)
    variants = VARIANTS + ([COMPILED] if args.compile else [])
    subjects = []
    for variant in variants:
        if variant.bf16 and preset_name != "cpu" and not native_bf16():
            print(f"{preset_name:<7}{variant.name:<20} skipped: this CPU has no native bf16, so autocast emulates it "
                  "(the cpu preset's row shows the cost)")
            continue
        print(f"preparing {preset_name} / {variant.name} …", file=sys.stderr, flush=True)
        try:
            subjects.append(prepare(config, variant, folder / preset_name, plan.warmup))
        except Exception as error:  # a variant that cannot run here is a result, not the end of the benchmark
            message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            print(f"{preset_name:<7}{variant.name:<20} failed: {message[:150]}")
    for repeat in range(plan.repeats):
        print(f"{preset_name}: training repeat {repeat + 1}/{plan.repeats} …", file=sys.stderr, flush=True)
        for subject in subjects:
            subject.step_times.append(subject.train_steps(plan.steps_per_repeat))
    for repeat in range(plan.sample_repeats):
        print(f"{preset_name}: sampling repeat {repeat + 1}/{plan.sample_repeats} …", file=sys.stderr, flush=True)
        for subject in subjects:
            subject.sample_times.append(subject.sample(args.sample_steps))
    report(preset_name, subjects, flops_per_architecture(subjects, args.sample_steps))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", default="cpu,paper", help="comma-separated presets to measure")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--repeats", type=int, default=11, help="repeats of the cpu preset's timings")
    parser.add_argument("--paper-repeats", type=int, default=3, help="repeats of the paper preset's timings")
    parser.add_argument("--sample-steps", type=int, default=50, help="ancestral steps per sampling run")
    parser.add_argument("--compile", action="store_true", help="also measure torch.compile (40-100 s to compile)")
    parser.add_argument("--note", default="", help="a line about the conditions, printed in the header")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    plans = {
        "cpu": Plan(warmup=3, steps_per_repeat=5, repeats=args.repeats, sample_repeats=args.repeats),
        "paper": Plan(warmup=1, steps_per_repeat=1, repeats=args.paper_repeats, sample_repeats=args.paper_repeats),
    }
    print(f"Concept Explorer core benchmark, {time.strftime('%Y-%m-%d %H:%M')}")
    print(f"torch {torch.__version__}, diffusers {metadata.version('diffusers')}, Python {platform.python_version()}")
    print(f"CPU: {cpu_name()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch thread(s), "
          f"native bf16: {native_bf16()}")
    print(f"load average at start: {load_average()}")
    if args.note:
        print(f"note: {args.note}")
    print(f"Training step: batch 64; sampling: {IMAGES} images x {args.sample_steps} steps. Times are medians over "
          "interleaved repeats; speed-up = fp32 time / variant time (>1 is faster); '1st s' = first step incl. "
          "any compilation.")
    print()
    print(HEADER)
    with tempfile.TemporaryDirectory() as tmp:
        for preset_name in args.presets.split(","):
            measure_preset(preset_name, plans.get(preset_name, plans["paper"]), args, Path(tmp))
    print(f"\nload average at end: {load_average()}")


if __name__ == "__main__":
    main()
