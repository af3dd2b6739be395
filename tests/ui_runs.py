"""Tiny evaluated runs for the UI tests, built once per test session (a few seconds on one CPU thread).

Runs of the shrunken cpu preset (8 px, 8-16 U-Net, 6 steps, checkpoints 2/4/6): `plain` without and `cfg` with a
null token (so the guidance control shows), at different colour signals (for side-by-side comparison); `plain`'s
seed sibling `plain-seed1` sits beside it (a seed group of two, for the seed bands) but is not offered by the app.
`tiny_mask_run` is the mask preset's design at that size (shape × colour, half of class 10's colour left out of the
prompt), for the masked-prompt control; `tiny_mask_sweep` that design at f = 0 and 1, for the underspecification view.
Each gets a probe trained for a handful of steps; evaluation and elicitation sample with 3 steps and 4 images.
`tiny_sweep` is a finished sweep of that run over Δcolor 0.3, 0.5 and seeds 0, 1 (four cells, about 20 s).
"""

from __future__ import annotations

import dataclasses
import shutil
import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import gradio as gr
import pytest
import torch
from conftest import TINY_OVERRIDES

from concept_explorer.analysis.capability import ElicitConfig, elicit_run
from concept_explorer.analysis.evaluate import EvalConfig, evaluate_run
from concept_explorer.analysis.probes import probe_config_for, train_probe
from concept_explorer.analysis.sweep import Sweep
from concept_explorer.analysis.sweep_runs import run_sweep
from concept_explorer.analysis.sweep_results import pack
from concept_explorer.core.config import RunConfig, cpu_preset, with_overrides
from concept_explorer.core.training import train
from concept_explorer.ui.serving import ServingPolicy

TINY = TINY_OVERRIDES | {"train.sample_steps": 3}
"""The suite's tiny run, sampled in 3 steps so UI tests stay fast."""

_BUILT: dict[str, Path] = {}


def tiny_config(**overrides: object) -> RunConfig:
    return with_overrides(cpu_preset(), TINY | {k.replace("__", "."): v for k, v in overrides.items()})


def make_run(path: Path, config: RunConfig) -> Path:
    run = train(config, path, device="cpu", progress=False)
    probe = train_probe(probe_config_for(config.concept_space, steps=5, batch_size=16), progress=False)
    probe.save(run.layout.probe)
    evaluate_run(run, EvalConfig(samples_per_class=4), progress=False)
    elicit_run(run, ElicitConfig(samples=4), progress=False)
    return path


def tiny_runs(root: Path) -> dict[str, Path]:
    """{'plain': path, 'plain-seed1': path, 'cfg': path, 'short': path}, built on first use and shared by every UI
    test module of the session; `short` has two checkpoints where the others have three (switching runs must keep
    the step in range)."""
    if not _BUILT:
        torch.set_num_threads(1)
        _BUILT["plain"] = make_run(root / "plain", tiny_config())
        _BUILT["plain-seed1"] = make_run(root / "plain-seed1", tiny_config(train__seed=1))
        _BUILT["cfg"] = make_run(root / "cfg", tiny_config(train__p_uncond=0.2, concept_space__delta_color=0.3))
        _BUILT["short"] = make_run(root / "short", tiny_config(train__num_steps=4, train__checkpoint_steps=(2, 4)))
    return dict(_BUILT)


def tiny_sweep(root: Path) -> Path:
    """The finished tiny sweep (its folder), built on first use and shared like the runs: the tiny run with a null
    token at Δcolor 0.3 and 0.5, seeds 0 and 1, passes sampled in 3 steps, one barely trained probe."""
    if not _SWEEP:
        torch.set_num_threads(1)
        base = {k: list(v) if isinstance(v, tuple) else v for k, v in TINY_OVERRIDES.items()} | {"train.p_uncond": 0.2}
        sweep = Sweep.create(root / "sweep-tiny", "cpu", base, {"concept_space.delta_color": [0.3, 0.5]}, [0, 1],
                             sample_steps=3)
        space = with_overrides(cpu_preset(), TINY_OVERRIDES).concept_space
        train_probe(dataclasses.replace(probe_config_for(space), steps=3, batch_size=16, width=8),
                    progress=False).save(sweep.probe_path)
        run_sweep(sweep, workers=1, threads=1, report=lambda line: None)
        _SWEEP["tiny"] = sweep.path
    return _SWEEP["tiny"]


_SWEEP: dict[str, Path] = {}

MASK = {"concept_space__concepts": ("shape", "color"), "train__mask_concept": "color", "train__mask_class": "10",
        "train__mask_fraction": 0.5}
"""The mask preset's underspecification (core/config.mask_preset) on the tiny run."""


def tiny_mask_run(root: Path) -> Path:
    """The tiny run trained with masked prompts (its folder, named `mask`), built on first use and shared like the
    runs; no app offers it unless a test adds it."""
    if "mask" not in _MASKED:
        torch.set_num_threads(1)
        _MASKED["mask"] = make_run(root / "mask", tiny_config(**MASK))
    return _MASKED["mask"]


_MASKED: dict[str, Path] = {}


def tiny_mask_sweep(root: Path) -> Path:
    """A finished sweep of the tiny masked run over train.mask_fraction 0 and 1, seed 0 (two cells): every cell
    trained with masked prompts, evaluated and elicited (the masked prompt drawn too), its record written; built on
    first use and shared."""
    if "sweep" not in _MASKED:
        torch.set_num_threads(1)
        base = {k: list(v) if isinstance(v, tuple) else v for k, v in TINY_OVERRIDES.items()}
        base |= {k.replace("__", "."): list(v) if isinstance(v, tuple) else v for k, v in MASK.items()}
        sweep = Sweep.create(root / "sweep-mask", "mask", base, {"train.mask_fraction": [0.0, 1.0]}, [0],
                             sample_steps=3)
        config = with_overrides(cpu_preset(), TINY_OVERRIDES | {"concept_space.concepts": ("shape", "color")})
        train_probe(dataclasses.replace(probe_config_for(config.concept_space), steps=3, batch_size=16, width=8),
                    progress=False).save(sweep.probe_path)
        run_sweep(sweep, workers=1, threads=1, report=lambda line: None)
        _MASKED["sweep"] = sweep.path
    return _MASKED["sweep"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def launched_app(tmp_path_factory: pytest.TempPathFactory, name: str, sweeps: bool = False,
                 policy: ServingPolicy | None = None,
                 paths: Sequence[Path] | None = None) -> Iterator[tuple[gr.Blocks, str]]:
    """The explorer on the two tiny runs (or on the run folders `paths`, the first shown first), launched on a free
    local port with its own gradio temp dir and queued as `serve` queues it (local policy unless `policy` says
    otherwise); yields (app, url) and closes it afterwards.
    With `sweeps`, its runs folder holds the tiny sweep (`sweep-tiny`, its cells offered as runs) and a packed copy
    without weights (`sweep-packed`, as checkpoints/ bundles one)."""
    from concept_explorer.ui import build_app, launch_options, queue_options

    if paths is None:
        runs = tiny_runs(tmp_path_factory.mktemp("ui-runs"))
        paths = [runs["plain"], runs["cfg"], runs["short"]]
    scratch = tmp_path_factory.mktemp(name)
    if sweeps:
        copy = shutil.copytree(tiny_sweep(tmp_path_factory.mktemp("sweep")), scratch / "runs" / "sweep-tiny")
        pack(Sweep.open(copy), scratch / "runs" / "sweep-packed")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GRADIO_TEMP_DIR", str(scratch / "gradio"))
        policy = policy or ServingPolicy()
        demo = build_app(paths, checkpoints=scratch / "none", runs=scratch / "runs", policy=policy)
        demo.queue(**queue_options(policy))
        _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(),
                                quiet=True, **launch_options())
        try:
            yield demo, url
        finally:
            demo.close()
