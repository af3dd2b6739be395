"""Callbacks of the Train tab: start one cpu-preset run per server, cancel it, watch its trajectory grow."""

from __future__ import annotations

import gradio as gr

from ..analysis.jobs import job_config
from ..core import limits
from ..core.run import RunFolderError, RunLayout
from .common import plot, user_errors
from .explorer import Explorer


class TrainTab:
    def __init__(self, explorer: Explorer) -> None:
        self.explorer = explorer
        self.job = explorer.job
        self.catalog = explorer.catalog

    @user_errors
    def train_start(self, delta_color: float, delta_size: float, num_steps: float, checkpoints: float,
                    seed: float) -> list:
        path = self.job.start(job_config(delta_color, delta_size, num_steps, checkpoints, seed))  # checks each
        gr.Info(f"Training started in {path}.")
        return [self.status_text(), gr.Timer(active=True)]

    @user_errors
    def train_cancel(self) -> str:
        if not self.job.cancel():
            raise ValueError("No run is training, so there is nothing to cancel.")
        return self.status_text()

    def status_text(self) -> str:
        status = self.job.status()
        if status.state == "idle":
            return status.message
        fraction = status.step / status.total if status.total else 0.0
        filled = int(round(20 * fraction))
        name = status.run_path.name if status.run_path else ""
        return (f"**{status.state.capitalize()}** `{name}` · step {status.step:,} of {status.total:,} "
                f"`{'█' * filled}{'░' * (20 - filled)}` · {status.evaluated} checkpoints evaluated · "
                f"{status.elapsed:.0f} s  \n{status.message}")

    def train_poll(self, smoothing: float, present: bool) -> list:
        """Progress text, the growing trajectory, and whether to keep polling."""
        status = self.job.status()
        figure = gr.skip()
        open_button = gr.update(visible=False)
        if status.run_path is not None and RunLayout(status.run_path).evaluation_summary.is_file():
            try:
                name = self.catalog.add(status.run_path)
                dashboard = self.catalog.get(name)
                figure = plot(dashboard.concept_space(
                    len(dashboard.steps) - 1, limits.SMOOTHING.check("smoothing", smoothing), large=bool(present),
                    height=480, title=f"{name} · step {dashboard.steps[-1]:,}"))
                open_button = gr.update(visible=True, value=f"Explore {name}")
            except (RunFolderError, ValueError):
                pass  # a checkpoint is being written: the next poll shows it
        return [self.status_text(), figure, gr.Timer(active=status.active), open_button]

    @user_errors
    def open_trained(self) -> str:
        """The trained run's name, for the run selector (the explorer then switches to it)."""
        status = self.job.status()
        if status.run_path is None:
            raise ValueError("No run has been trained on this server yet.")
        name = self.catalog.add(status.run_path)
        self.explorer.dashboard(name)
        return name
