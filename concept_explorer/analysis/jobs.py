"""A background training job for the app: one cpu-preset run at a time, evaluated as it goes, cancellable.

The job calls `training.train` in a thread with a `should_stop` that honours cancel (and counts steps, so the
UI can show exact progress) and an `after_checkpoint` that evaluates each new checkpoint, so the run's trajectory
grows in the explorer while it trains. When training completes, capability curves are computed checkpoint by
checkpoint (also cancellable). A probe with the same geometry is copied from an existing run when one fits,
which saves training a new probe (a minute or two on CPU).
"""

from __future__ import annotations

import shutil
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from ..core import limits
from ..core.config import RunConfig, cpu_preset, with_overrides
from ..core.run import Run, RunFolderError, RunLayout
from .capability import ElicitConfig, elicit_run
from .evaluate import EvalConfig, evaluate_run
from .probes import Probe, probe_fits


@dataclass(frozen=True)
class JobStatus:
    state: str  # idle | training | finishing | complete | cancelled | failed
    run_path: Path | None = None
    step: int = 0
    total: int = 0
    evaluated: int = 0
    message: str = "No training run yet."
    elapsed: float = 0.0

    @property
    def active(self) -> bool:
        return self.state in ("training", "finishing")


def job_config(delta_color: float, delta_size: float, num_steps: int, checkpoints: int, seed: int) -> RunConfig:
    """The cpu preset with the viewer's concept signals and length; a clear ValueError for bad values."""
    num_steps = limits.JOB_STEPS.check("Training steps", num_steps)
    return with_overrides(cpu_preset(), {
        "concept_space.delta_color": limits.PROBED_DELTA["color"].check("Δcolor", delta_color),
        "concept_space.delta_size": limits.PROBED_DELTA["size"].check("Δsize", delta_size),
        "train.num_steps": num_steps,
        "train.checkpoint_count": limits.JOB_CHECKPOINTS.check("Checkpoints", checkpoints),
        "train.checkpoint_start": max(1, min(100, num_steps // 20)), "train.seed": limits.SEED.check("Seed", seed),
    })


class TrainingJob:
    """Owns at most one training thread; every method is safe to call from request threads."""

    def __init__(self, root: str | Path, probe_sources: Callable[[], Iterable[Path]] = lambda: (),
                 samples_per_class: int = 16, train_fn: Callable | None = None) -> None:
        self.root = Path(root)
        self.probe_sources = probe_sources
        self.samples_per_class = samples_per_class
        self._train_fn = train_fn
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._status = JobStatus("idle")
        self._started = 0.0

    def status(self) -> JobStatus:
        with self._lock:
            status = self._status
        return replace(status, elapsed=time.perf_counter() - self._started if status.active else status.elapsed)

    def _update(self, **changes: object) -> None:
        with self._lock:
            self._status = replace(self._status, **changes)

    def start(self, config: RunConfig, name: str | None = None) -> Path:
        """Start training `config` into root/<name>; a RuntimeError when a run is already training."""
        with self._lock:
            if self._status.active:
                raise RuntimeError("A run is already training on this server; cancel it or wait until it finishes.")
            space = config.concept_space
            name = name or (f"ui-dc{space.delta_color:.2f}-ds{space.delta_size:.2f}-seed{config.train.seed}-"
                            f"{time.strftime('%Y%m%d-%H%M%S')}")
            out = self.root / name
            if out.exists():
                raise RuntimeError(f"{out} already exists; choose another name.")
            self._stop.clear()
            self._started = time.perf_counter()
            self._status = JobStatus("training", out, 0, config.train.num_steps, 0, "Starting…")
            self._thread = threading.Thread(target=self._work, args=(config, out), daemon=True, name="train-job")
            self._thread.start()
        return out

    def cancel(self) -> bool:
        """Ask the job to stop after the current step; False when nothing is running."""
        if not self.status().active:
            return False
        self._stop.set()
        self._update(message="Cancelling after the current step…")
        return True

    def wait(self, timeout: float | None = None) -> JobStatus:
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return self.status()

    # -- the thread -------------------------------------------------------------------------------------------------
    def _copy_fitting_probe(self, out: Path, config: RunConfig) -> bool:
        for source in self.probe_sources():
            path = RunLayout(Path(source)).probe
            try:
                if path.is_file() and probe_fits(Probe.load(path).config, config.concept_space):
                    target = RunLayout(out).probe
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(path, target)
                    return True
            except RunFolderError:
                continue
        return False

    def _discard(self, out: Path) -> None:
        """Remove the folder of a cancelled or failed run: this job made it (a fresh name under its root), nobody
        asked to keep half a run, and every start would otherwise leave megabytes behind."""
        if out.parent == self.root and out.is_dir() and not out.is_symlink():
            shutil.rmtree(out, ignore_errors=True)

    def _work(self, config: RunConfig, out: Path) -> None:
        from ..core.training import train

        train_fn = self._train_fn or train
        step_count = [0]

        def should_stop() -> bool:
            step_count[0] += 1
            if step_count[0] % 10 == 0:
                self._update(step=step_count[0] - 1)
            return self._stop.is_set()

        def after_checkpoint(run: Run, step: int) -> None:
            if not RunLayout(out).probe.is_file() and not self._copy_fitting_probe(out, config):
                self._update(message="Training a probe for this geometry (once, a minute or two)…")
            self._update(step=step, message=f"Evaluating checkpoint {step}…")
            evaluate_run(run, EvalConfig(samples_per_class=self.samples_per_class), steps=[step], progress=False)
            self._update(evaluated=self._status.evaluated + 1, message=f"Training… checkpoint {step} evaluated.")

        try:
            self._update(message="Rendering the training set…")
            run = train_fn(config, out, device="cpu", should_stop=should_stop, progress=False,
                           after_checkpoint=after_checkpoint)
            if self._stop.is_set():
                self._discard(out)
                self._update(state="cancelled", message=f"Cancelled at step {self._status.step}; its folder was "
                                                        "removed.")
                return
            self._update(state="finishing", step=config.train.num_steps, message="Computing capability curves…")
            run = Run.open(out)
            for i, step in enumerate(run.steps):
                if self._stop.is_set():
                    self._discard(out)
                    self._update(state="cancelled", message="Cancelled while computing capability curves; its "
                                                            "folder was removed.")
                    return
                self._update(message=f"Capability curves: checkpoint {i + 1} of {len(run.steps)}…")
                elicit_run(run, ElicitConfig(samples=self.samples_per_class), steps=[step], progress=False)
            self._update(state="complete", message=f"Done: {len(run.steps)} checkpoints, evaluated and elicited.")
        except Exception as error:  # the server keeps serving; the message says what happened
            traceback.print_exc()
            self._discard(out)
            self._update(state="failed", message=f"Training failed: {error}")
        finally:
            with self._lock:
                self._status = replace(self._status, elapsed=time.perf_counter() - self._started)
