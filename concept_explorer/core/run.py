"""The run folder: the one on-disk format that training writes and everything else reads.

    RUN/run.json                        config (incl. concept space and seed), package versions, checkpoint
                                        steps, status
    RUN/steps/<step>.safetensors        weights used for sampling at that step (EMA weights when EMA is on)
    RUN/metrics.jsonl                   one JSON line per checkpoint (losses, timing)
    RUN/resume.safetensors              raw and EMA weights, optimiser moments and RNG states of the latest save;
                                        removed when the run completes
    RUN/probe/probe.safetensors         the probe that scored this run
    RUN/evaluation/<step>.safetensors   per checkpoint: samples of every class and their probe verdicts
    RUN/evaluation/summary.json         evaluation settings and per-step, per-class summaries
    RUN/elicitation/<step>.safetensors  per checkpoint: held-out samples under each elicitation method
    RUN/elicitation/summary.json        elicitation settings and per-step, per-method summaries
    RUN/report/                         the static report

This module is the only place that spells these paths (`RunLayout`); everyone else asks it. Every write goes to a
temporary file that is then renamed over the target (atomic.py), so a crash never leaves a half-written file behind.
A folder is untrusted input: `Run.open` checks run.json and every stored file first (folder_checks.py). Loading
needs no training code paths and never unpickles anything.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import load_file

# RunFolderError, safetensors_header and the atomic writes are imported from here by the other layers.
from .atomic import atomic_save_tensors, atomic_write_bytes, atomic_write_json, temporaries
from .config import RunConfig, vdm_for
from .folder_checks import (
    RunFolderError,
    check_finite_weights,
    check_info,
    check_links,
    check_tensors,
    expected_checkpoint,
    place,
    read_json,
    read_metric_rows,
    safetensors_header,
    step_name,
)
from .vdm import VDM

FORMAT_VERSION = 1
PACKAGES = ("torch", "diffusers", "numpy", "safetensors", "gradio", "plotly")


def package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def file_digest(path: Path) -> str:
    """A short content hash: identifies which probe scored a summary, so a changed probe re-scores."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


@dataclass(frozen=True)
class RunLayout:
    """Where each file of a run folder lives. Usable on a folder that is not (yet) a valid run, e.g. to watch
    one that is being trained."""

    root: Path

    @property
    def info(self) -> Path:
        return self.root / "run.json"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.jsonl"

    @property
    def resume(self) -> Path:
        return self.root / "resume.safetensors"

    def checkpoint(self, step: int) -> Path:
        return self.root / "steps" / f"{step_name(step)}.safetensors"

    @property
    def probe(self) -> Path:
        return self.root / "probe" / "probe.safetensors"

    @property
    def evaluation_summary(self) -> Path:
        return self.root / "evaluation" / "summary.json"

    def evaluation_samples(self, step: int) -> Path:
        return self.root / "evaluation" / f"{step_name(step)}.safetensors"

    @property
    def elicitation_summary(self) -> Path:
        return self.root / "elicitation" / "summary.json"

    def elicitation_samples(self, step: int) -> Path:
        return self.root / "elicitation" / f"{step_name(step)}.safetensors"

    @property
    def report(self) -> Path:
        return self.root / "report"

    def has_checkpoints(self) -> bool:
        """Whether any checkpoint is stored (a sweep cell packed without weights has none)."""
        return any(self.checkpoint(0).parent.glob("*.safetensors"))

    def is_run(self) -> bool:
        return self.info.is_file()

    def place(self, path: Path) -> str:
        """A file of this folder as messages name it: "demo/steps/4.safetensors", not a server's absolute path."""
        return place(path, self.root)

    def stored_samples(self) -> list[Path]:
        """Every safetensors file the passes and the probe stored (checked when the run is opened)."""
        folders = (self.evaluation_summary.parent, self.elicitation_summary.parent)
        found = [p for folder in folders if folder.is_dir() for p in sorted(folder.glob("*.safetensors"))]
        return found + [p for p in (self.probe, self.resume) if p.exists() or p.is_symlink()]

    def stamp(self) -> tuple[int | None, ...]:
        """Changes whenever training, evaluation or elicitation wrote something new (a cache key)."""
        files = (self.info, self.evaluation_summary, self.elicitation_summary)
        return tuple(f.stat().st_mtime_ns if f.is_file() else None for f in files)


@dataclass
class ResumeState:
    """Everything training needs to continue to the bit: written at every checkpoint and on a stop request."""

    step: int
    model: dict[str, torch.Tensor]
    ema: dict[str, torch.Tensor] | None
    optimizer: dict[int, dict[str, torch.Tensor]]  # AdamW's per-parameter state, by parameter index
    rng: dict[str, torch.Tensor] = field(default_factory=dict)  # global, batch, noise (and cuda) generator states


class Run:
    """A validated run folder. Create with `Run.create`, open with `Run.open` (which checks every file)."""

    def __init__(self, path: Path, info: dict[str, Any], config: RunConfig) -> None:
        self.path = path
        self.layout = RunLayout(path)
        self.info = info
        self.config = config

    @property
    def name(self) -> str:
        return self.path.name

    # -- creation and validation --------------------------------------------------------------------------------
    @classmethod
    def create(cls, path: Path, config: RunConfig) -> Run:
        """A new run folder holding run.json. The folder may exist if it is empty (or holds only what an interrupted
        write left); on failure, folders made here are removed again."""
        path = Path(path)
        layout = RunLayout(path)
        if layout.is_run():
            try:
                existing = cls.open(path)
            except RunFolderError as error:
                raise RunFolderError(f"{path} already holds a run that cannot be used ({str(error).rstrip('.')}); "
                                     "choose another --out.") from None
            if existing.status == "complete":
                raise RunFolderError(f"{path} already holds a complete run; choose another --out (or delete the "
                                     "folder to train it again).")
            raise RunFolderError(
                f"{path} already holds a run that stopped at step {existing.steps[-1] if existing.steps else 0} of "
                f"{existing.config.train.num_steps}; pass --resume to continue it (with its stored config), or choose "
                "another --out.")
        if path.exists() and not path.is_dir():
            raise RunFolderError(f"{path} is a file, not a folder; choose another --out.")
        if path.is_dir():
            leftovers = temporaries(path)
            placed = {layout.probe, layout.probe.parent}  # a probe may be put in place before training starts
            if any(p not in leftovers and p not in placed for p in path.rglob("*")):
                raise RunFolderError(f"{path} exists and holds other files; choose a new or empty --out.")
            for leftover in leftovers:
                leftover.unlink()
        info = {
            "format": FORMAT_VERSION,
            "config": config.to_dict(),
            "seed": config.train.seed,
            "versions": package_versions(),
            "checkpoint_steps": config.train.checkpoint_schedule(),
            "completed_steps": [],
            "status": "created",
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        run = cls(path, info, config)
        made = [folder for folder in (path, *path.parents) if not folder.exists()]
        try:
            run.write_info()
        except OSError as error:
            for folder in made:  # innermost first
                shutil.rmtree(folder, ignore_errors=True)
            raise RunFolderError(f"Cannot write the run folder {path} ({error.strerror}); choose another --out.") \
                from None
        return run

    @classmethod
    def open(cls, path: str | Path) -> Run:
        """The run in a folder, after checking run.json and every stored file (folder_checks.py)."""
        path = Path(path)
        layout = RunLayout(path)
        if not path.is_dir():
            raise RunFolderError(f"No run folder at {path}; train one with `concept-explorer train --out {path}`.")
        if not layout.is_run():
            raise RunFolderError(f"{path} is not a run folder: run.json is missing.")
        where = layout.place(layout.info)
        check_links(path)
        info = read_json(layout.info, where, "restore it or train the run again.")
        if not isinstance(info, dict) or info.get("format") != FORMAT_VERSION:
            raise RunFolderError(f"{where} is not a run description of format {FORMAT_VERSION}.")
        config, _ = check_info(info, where)
        run = cls(path, info, config)
        run.validate()
        return run

    def validate(self) -> None:
        """Every listed checkpoint holds the config's tensors, finite, and every other stored safetensors file is
        well formed (what the passes stored in them is checked by the passes that read them)."""
        expected = expected_checkpoint(self.config)
        for step in self.steps:
            file = self.layout.checkpoint(step)
            where = self.layout.place(file)
            if not file.is_file():
                state = "is not a regular file" if file.exists() or file.is_symlink() else "is missing"
                raise RunFolderError(f"Checkpoint {step} is listed in {self.layout.place(self.layout.info)} but {where} "
                                     f"{state}; restore it or train the run again.")
            header = safetensors_header(file, where)
            check_tensors(header, expected, f"{where} does not match the model in run.json",
                          "restore it or train the run again.")
            check_finite_weights(file, header, where)
        for file in self.layout.stored_samples():
            safetensors_header(file, self.layout.place(file))

    # -- state --------------------------------------------------------------------------------------------------
    @property
    def steps(self) -> list[int]:
        """Completed checkpoint steps, ascending."""
        return list(self.info["completed_steps"])

    @property
    def status(self) -> str:
        return self.info["status"]

    @property
    def final_step(self) -> int:
        if not self.steps:
            raise RunFolderError(f"{self.name} has no checkpoints yet.")
        return self.steps[-1]

    def check_step(self, step: int) -> int:
        if step not in self.steps:
            raise RunFolderError(
                f"Step {step} is not a checkpoint of {self.name}; available: {self.steps[0]}…{self.steps[-1]}"
                f" ({len(self.steps)} checkpoints)." if self.steps else f"{self.name} has no checkpoints yet."
            )
        return step

    def write_info(self) -> None:
        self.info["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        atomic_write_json(self.layout.info, self.info)

    def set_status(self, status: str) -> None:
        self.info["status"] = status
        self.write_info()

    def copy_to(self, destination: str | Path, steps: list[int]) -> Run:
        """A copy of this run holding only `steps`' checkpoints and stored samples (its config, metrics and probe
        whole): a smaller run that still opens, scrubs and samples, e.g. a bundled sweep cell. Restricting the pass
        summaries to those steps is the passes' business (summaries.restrict_summary)."""
        destination = Path(destination)
        if destination.exists():
            raise RunFolderError(f"{destination} exists; copy a run into a new folder.")
        steps = sorted(self.check_step(step) for step in steps)
        layout = self.layout
        files = [layout.metrics, layout.probe, *(f for step in steps for f in (
            layout.checkpoint(step), layout.evaluation_samples(step), layout.elicitation_samples(step)))]
        for file in files:
            if file.is_file():
                target = destination / file.relative_to(self.path)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(file, target)
        copy = Run(destination, json.loads(json.dumps(self.info)) | {"completed_steps": steps}, self.config)
        copy.write_info()
        return copy

    def add_checkpoint(self, step: int, state: dict[str, torch.Tensor], metrics: dict[str, Any]) -> None:
        dtype = getattr(torch, self.config.train.weights_dtype)
        atomic_save_tensors(self.layout.checkpoint(step), {k: v.to(dtype) for k, v in state.items()}, {"step": str(step)})
        kept = [m for m in self.metrics() if m["step"] < step]
        self.write_metrics(kept + [{"step": step, **metrics}])
        self.info["completed_steps"] = sorted(set(self.steps) | {step})
        self.write_info()

    def load_state(self, step: int) -> dict[str, torch.Tensor]:
        """The weights of a checkpoint as float32, checked again (the file may have changed since `open`)."""
        self.check_step(step)
        path = self.layout.checkpoint(step)
        where = self.layout.place(path)
        header = safetensors_header(path, where)
        check_tensors(header, expected_checkpoint(self.config), f"{where} does not match the model in run.json",
                      "restore it or train the run again.")
        check_finite_weights(path, header, where)
        try:
            state = load_file(path)
        except Exception as error:  # safetensors raises its own error types
            raise RunFolderError(f"Cannot read {where} ({str(error)[:80]}); restore it or train it again.") from None
        return {k: v.float() for k, v in state.items()}

    def load_model(self, step: int, device: str | torch.device = "cpu") -> VDM:
        """The VDM at a checkpoint, in eval mode."""
        model = vdm_for(self.config)
        model.load_state_dict(self.load_state(step))
        return model.to(device).eval()

    def metrics(self) -> list[dict[str, Any]]:
        """One row per checkpoint, each an object with a whole "step"."""
        metrics = self.layout.metrics
        if not metrics.exists() and not metrics.is_symlink():
            return []
        return read_metric_rows(metrics, self.layout.place(metrics))

    def write_metrics(self, rows: list[dict[str, Any]]) -> None:
        atomic_write_bytes(self.layout.metrics, "".join(json.dumps(r) + "\n" for r in rows).encode())

    def keep_metrics_up_to(self, step: int) -> None:
        """Drop metric rows of checkpoints after `step` (written by a run interrupted before its resume save)."""
        self.write_metrics([m for m in self.metrics() if m["step"] <= step])
        self.info["completed_steps"] = [s for s in self.steps if s <= step]
        self.write_info()

    def restart(self) -> None:
        """Back to step 0, for a run stopped before its first resume save (nothing resumable): checkpoints and
        metrics go, the config stays. Training is deterministic, so the run then ends as if never stopped."""
        self.keep_metrics_up_to(0)
        for file in self.layout.checkpoint(0).parent.glob("*.safetensors"):
            file.unlink()
        self.set_status("created")

    def remove_temporaries(self, under: Path | None = None) -> list[Path]:
        """Delete what interrupted writes left behind (in the folder `under`, default all of the run); call only where
        no other process writes there."""
        found = temporaries(under or self.path)
        for file in found:
            file.unlink(missing_ok=True)
        return found

    # -- resume file --------------------------------------------------------------------------------------------
    def write_resume(self, state: ResumeState) -> None:
        tensors = {f"model.{k}": v for k, v in state.model.items()}
        tensors |= {f"ema.{k}": v for k, v in (state.ema or {}).items()}
        for index, values in state.optimizer.items():
            tensors |= {f"optim.{index}.{key}": torch.as_tensor(value) for key, value in values.items()}
        tensors |= {f"rng.{name}": value for name, value in state.rng.items()}
        atomic_save_tensors(self.layout.resume, tensors, {"step": str(state.step)})

    def read_resume(self) -> ResumeState:
        path = self.layout.resume
        where = self.layout.place(path)
        if not path.is_file():
            raise RunFolderError(f"{where} is missing, so {self.name} cannot be resumed (it may be complete).")
        safetensors_header(path, where)
        try:
            with safe_open(path, "pt") as handle:
                step = step_name(int(handle.metadata()["step"]))
                tensors = {k: handle.get_tensor(k) for k in handle.keys()}
        except Exception as error:  # safetensors raises its own error types
            raise RunFolderError(f"Cannot read {where} ({str(error)[:80]}); the run cannot be resumed.") from None
        optimizer: dict[int, dict[str, torch.Tensor]] = {}
        for key, value in tensors.items():
            if key.startswith("optim."):
                _, index, name = key.split(".")
                optimizer.setdefault(int(index), {})[name] = value
        ema = {k[4:]: v for k, v in tensors.items() if k.startswith("ema.")}
        return ResumeState(
            step=int(step), model={k[6:]: v for k, v in tensors.items() if k.startswith("model.")}, ema=ema or None,
            optimizer=optimizer, rng={k[4:]: v for k, v in tensors.items() if k.startswith("rng.")},
        )
