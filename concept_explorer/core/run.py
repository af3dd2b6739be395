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
temporary file that is then renamed over the target, so a crash never leaves a half-written file behind. Loading
needs no training code paths and never unpickles anything.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import tempfile
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save

from .config import RunConfig
from .vdm import VDM

FORMAT_VERSION = 1
PACKAGES = ("torch", "diffusers", "numpy", "safetensors", "gradio", "plotly")


class RunFolderError(Exception):
    """A run folder that cannot be used; the message is one sentence saying what is wrong and what to do."""


# -- atomic writes -----------------------------------------------------------------------------------------------
def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_bytes(path, (json.dumps(data, indent=2) + "\n").encode())


def atomic_save_tensors(path: Path, tensors: dict[str, torch.Tensor], meta: dict[str, str] | None = None) -> None:
    atomic_write_bytes(path, save({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, metadata=meta))


def safetensors_header(path: Path) -> dict[str, Any]:
    """Read and check a safetensors header without loading data: catches truncated and garbled files."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        raw = handle.read(8)
        if len(raw) < 8:
            raise RunFolderError(f"{path} is truncated ({size} bytes); delete it and re-run the command that wrote it.")
        (header_len,) = struct.unpack("<Q", raw)
        if header_len > size - 8:
            raise RunFolderError(f"{path} is truncated or not a safetensors file; delete it and re-create it.")
        try:
            header = json.loads(handle.read(header_len))
        except ValueError:
            raise RunFolderError(f"{path} has a corrupt header; delete it and re-create it.") from None
    end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
    if 8 + header_len + end != size:
        raise RunFolderError(
            f"{path} is truncated ({size} bytes, expected {8 + header_len + end}); delete it and re-create it."
        )
    return header


def package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def expected_shapes(config: RunConfig) -> dict[str, list[int]]:
    """Parameter shapes of the model a config describes, built on the meta device (no memory, no init cost)."""
    with torch.device("meta"):
        model = VDM(config.model, config.vdm, config.concept_space.resolution)
    return {k: list(v.shape) for k, v in model.state_dict().items()}


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
        return self.root / "steps" / f"{step}.safetensors"

    @property
    def probe(self) -> Path:
        return self.root / "probe" / "probe.safetensors"

    @property
    def evaluation_summary(self) -> Path:
        return self.root / "evaluation" / "summary.json"

    def evaluation_samples(self, step: int) -> Path:
        return self.root / "evaluation" / f"{step}.safetensors"

    @property
    def elicitation_summary(self) -> Path:
        return self.root / "elicitation" / "summary.json"

    def elicitation_samples(self, step: int) -> Path:
        return self.root / "elicitation" / f"{step}.safetensors"

    @property
    def report(self) -> Path:
        return self.root / "report"

    def is_run(self) -> bool:
        return self.info.is_file()

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

    # -- paths --------------------------------------------------------------------------------------------------
    @property
    def info_path(self) -> Path:
        return self.layout.info

    @property
    def metrics_path(self) -> Path:
        return self.layout.metrics

    @property
    def resume_path(self) -> Path:
        return self.layout.resume

    def step_path(self, step: int) -> Path:
        return self.layout.checkpoint(step)

    @property
    def name(self) -> str:
        return self.path.name

    # -- creation and validation --------------------------------------------------------------------------------
    @classmethod
    def create(cls, path: Path, config: RunConfig) -> Run:
        path = Path(path)
        if RunLayout(path).info.exists():
            raise RunFolderError(f"{path} already holds a run; pass --resume to continue it or choose another --out.")
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
        run.write_info()
        return run

    @classmethod
    def open(cls, path: str | Path) -> Run:
        path = Path(path)
        info_path = RunLayout(path).info
        if not path.is_dir():
            raise RunFolderError(f"No run folder at {path}; train one with `concept-explorer train --out {path}`.")
        if not info_path.is_file():
            raise RunFolderError(f"{path} is not a run folder: run.json is missing.")
        try:
            info = json.loads(info_path.read_text())
        except ValueError as error:
            raise RunFolderError(f"{info_path} is not valid JSON ({error}); restore it or re-train the run.") from None
        if not isinstance(info, dict) or info.get("format") != FORMAT_VERSION:
            raise RunFolderError(f"{info_path} is not a run description of format {FORMAT_VERSION}.")
        try:
            config = RunConfig.from_dict(info["config"])
        except (KeyError, TypeError, ValueError) as error:
            raise RunFolderError(f"{info_path} holds an invalid config: {error}") from None
        run = cls(path, info, config)
        run.validate()
        return run

    def validate(self) -> None:
        shapes = expected_shapes(self.config)
        for step in self.steps:
            file = self.step_path(step)
            if not file.is_file():
                raise RunFolderError(f"Checkpoint {step} is listed in {self.info_path} but {file} is missing.")
            header = safetensors_header(file)
            stored = {k: v["shape"] for k, v in header.items() if k != "__metadata__"}
            if stored != shapes:
                missing = sorted(set(shapes) - set(stored))[:3]
                wrong = sorted(k for k in set(shapes) & set(stored) if shapes[k] != stored[k])[:3]
                raise RunFolderError(
                    f"{file} does not match the model in run.json (missing {missing}, other shapes {wrong})."
                )

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
            raise RunFolderError(f"{self.path} has no checkpoints yet.")
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
        atomic_write_json(self.info_path, self.info)

    def set_status(self, status: str) -> None:
        self.info["status"] = status
        self.write_info()

    def add_checkpoint(self, step: int, state: dict[str, torch.Tensor], metrics: dict[str, Any]) -> None:
        dtype = getattr(torch, self.config.train.weights_dtype)
        atomic_save_tensors(self.step_path(step), {k: v.to(dtype) for k, v in state.items()}, {"step": str(step)})
        kept = [m for m in self.metrics() if m["step"] < step]
        self.write_metrics(kept + [{"step": step, **metrics}])
        self.info["completed_steps"] = sorted(set(self.steps) | {step})
        self.write_info()

    def load_state(self, step: int) -> dict[str, torch.Tensor]:
        self.check_step(step)
        try:
            state = load_file(self.step_path(step))
        except Exception as error:  # safetensors raises its own error types
            raise RunFolderError(f"Cannot read {self.step_path(step)}: {error}") from None
        return {k: v.float() for k, v in state.items()}

    def load_model(self, step: int, device: str | torch.device = "cpu") -> VDM:
        """The VDM at a checkpoint, in eval mode."""
        model = VDM(self.config.model, self.config.vdm, self.config.concept_space.resolution)
        model.load_state_dict(self.load_state(step))
        return model.to(device).eval()

    def metrics(self) -> list[dict[str, Any]]:
        if not self.metrics_path.exists():
            return []
        lines = [line for line in self.metrics_path.read_text().splitlines() if line.strip()]
        try:
            return [json.loads(line) for line in lines]
        except ValueError:
            raise RunFolderError(f"{self.metrics_path} is corrupt; delete it to continue without metrics.") from None

    def write_metrics(self, rows: list[dict[str, Any]]) -> None:
        atomic_write_bytes(self.metrics_path, "".join(json.dumps(r) + "\n" for r in rows).encode())

    def keep_metrics_up_to(self, step: int) -> None:
        """Drop metric rows of checkpoints after `step` (written by a run interrupted before its resume save)."""
        self.write_metrics([m for m in self.metrics() if m["step"] <= step])
        self.info["completed_steps"] = [s for s in self.steps if s <= step]
        self.write_info()


    # -- resume file --------------------------------------------------------------------------------------------
    def write_resume(self, state: ResumeState) -> None:
        tensors = {f"model.{k}": v for k, v in state.model.items()}
        tensors |= {f"ema.{k}": v for k, v in (state.ema or {}).items()}
        for index, values in state.optimizer.items():
            tensors |= {f"optim.{index}.{key}": torch.as_tensor(value) for key, value in values.items()}
        tensors |= {f"rng.{name}": value for name, value in state.rng.items()}
        atomic_save_tensors(self.resume_path, tensors, {"step": str(state.step)})

    def read_resume(self) -> ResumeState:
        path = self.resume_path
        if not path.is_file():
            raise RunFolderError(f"{path} is missing, so {self.path} cannot be resumed (it may be complete).")
        try:
            with safe_open(path, "pt") as handle:
                step = int(handle.metadata()["step"])
                tensors = {k: handle.get_tensor(k) for k in handle.keys()}
        except Exception as error:  # safetensors raises its own error types
            raise RunFolderError(f"Cannot read {path} ({error}); the run cannot be resumed.") from None
        optimizer: dict[int, dict[str, torch.Tensor]] = {}
        for key, value in tensors.items():
            if key.startswith("optim."):
                _, index, name = key.split(".")
                optimizer.setdefault(int(index), {})[name] = value
        ema = {k[4:]: v for k, v in tensors.items() if k.startswith("ema.")}
        return ResumeState(
            step=step, model={k[6:]: v for k, v in tensors.items() if k.startswith("model.")}, ema=ema or None,
            optimizer=optimizer, rng={k[4:]: v for k, v in tensors.items() if k.startswith("rng.")},
        )
