"""Callbacks of the Train tab: start one cpu-preset run per server, cancel it, watch its trajectory grow.

On a Space (serving.ServingPolicy.for_space) a run is at most `train_steps_limit` steps, only the session that
started it can cancel it, and trained runs are deleted by age and by a disk budget before each new start (the
run training now is never touched); the policy can also turn training off.
"""

from __future__ import annotations

import gradio as gr

from ..analysis.jobs import job_config
from ..core import limits
from ..core.run import RunFolderError, RunLayout
from .common import plot, public_paths, user_errors
from .explorer import Explorer
from .housekeeping import collect
from .serving import session_of

TRAINED_PREFIX = "ui-"
"""The folder names of runs trained from the app (analysis/jobs.py names them): the only runs it ever deletes."""


class TrainTab:
    def __init__(self, explorer: Explorer) -> None:
        self.explorer = explorer
        self.job = explorer.job
        self.catalog = explorer.catalog
        self.policy = explorer.policy
        self.starter: str | None = None  # the session that started the current run

    def step_choices(self) -> list[int]:
        """The run lengths the tab offers: those within the policy's cap."""
        return [steps for steps in limits.JOB_STEP_CHOICES if steps <= self.policy.train_steps_limit]

    @user_errors
    def train_start(self, delta_color: float, delta_size: float, num_steps: float, checkpoints: float,
                    seed: float, request: gr.Request | None = None) -> list:
        if not self.policy.training:
            raise ValueError("Training is off on this server; run `concept-explorer train` on your own machine.")
        steps = limits.JOB_STEPS.check("Training steps", num_steps)
        if steps > self.policy.train_steps_limit:
            raise ValueError(f"This server trains runs of at most {self.policy.train_steps_limit:,} steps; choose "
                             f"fewer than {steps:,}.")
        self.collect_trained()
        path = self.job.start(job_config(delta_color, delta_size, steps, checkpoints, seed))  # checks each
        self.starter = session_of(request)
        gr.Info(f"Training started: {path.name}.")
        return [self.status_text(), gr.Timer(active=True)]

    @user_errors
    def train_cancel(self, request: gr.Request | None = None) -> str:
        if not self.job.status().active:
            raise ValueError("No run is training, so there is nothing to cancel.")
        if self.policy.cancel_by_starter_only and session_of(request) != self.starter:
            raise ValueError("Only the visitor who started this training can cancel it.")
        if not self.job.cancel():
            raise ValueError("No run is training, so there is nothing to cancel.")
        return self.status_text()

    def collect_trained(self) -> list:
        """Delete trained runs past the policy's age or disk budget (never the one training) and stop offering
        them."""
        status = self.job.status()
        keep = [status.run_path] if status.active and status.run_path is not None else []
        deleted = collect(self.job.root, self.policy.runs_age_s, self.policy.runs_budget_bytes, keep=keep,
                          include=lambda entry: entry.name.startswith(TRAINED_PREFIX) and entry.is_dir())
        if deleted:
            self.catalog.forget(deleted)
        return deleted

    def status_text(self) -> str:
        status = self.job.status()
        message = public_paths(status.message, self.explorer.public_roots())
        if status.state == "idle":
            return message
        fraction = status.step / status.total if status.total else 0.0
        filled = int(round(20 * fraction))
        name = status.run_path.name if status.run_path else ""
        return (f"**{status.state.capitalize()}** `{name}` · step {status.step:,} of {status.total:,} "
                f"`{'█' * filled}{'░' * (20 - filled)}` · {status.evaluated} checkpoints evaluated · "
                f"{status.elapsed:.0f} s  \n{message}")

    @user_errors
    def train_poll(self, smoothing: float, present: bool) -> list:
        """Progress text, the growing trajectory, and whether to keep polling."""
        smoothing = limits.SMOOTHING.check("smoothing", smoothing)
        status = self.job.status()
        if status.state in ("cancelled", "failed") and status.run_path is not None:
            self.catalog.forget([status.run_path])  # the job removed its folder
        figure = gr.skip()
        open_button = gr.update(visible=False)
        if status.run_path is not None and RunLayout(status.run_path).evaluation_summary.is_file():
            try:
                name = self.catalog.add(status.run_path)
                dashboard = self.catalog.get(name)
                figure = plot(dashboard.concept_space(
                    len(dashboard.steps) - 1, smoothing, large=bool(present), height=480,
                    title=f"{name} · step {dashboard.steps[-1]:,}"))
                open_button = gr.update(visible=True, value=f"Explore {name}")
            except (RunFolderError, ValueError, StopIteration):
                pass  # a checkpoint is being written (or the run was deleted): the next poll says
        return [self.status_text(), figure, gr.Timer(active=status.active), open_button]

    @user_errors
    def open_trained(self) -> str:
        """The trained run's name, for the run selector (the explorer then switches to it)."""
        status = self.job.status()
        if status.run_path is None or not status.run_path.is_dir():
            raise ValueError("No run has been trained on this server yet.")
        name = self.catalog.add(status.run_path)
        self.explorer.dashboard(name)
        return name
