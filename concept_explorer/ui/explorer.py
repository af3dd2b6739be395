"""What every session of one server shares: the runs, the live generator and its fair queue, the training job, the
serving policy and a scratch folder.

The callbacks are split by area (steps, live_panel, compare, runs, url, train_tab, exports); each holds this one
`Explorer`.
"""

from __future__ import annotations

import atexit
import shutil
from pathlib import Path
from typing import Any

import gradio as gr

from ..analysis.definitions import DEFAULT_CRITERION
from ..analysis.jobs import TrainingJob
from ..analysis.live import LiveGenerator, LiveResult, LiveSettings
from ..core.limits import shown
from ..core.run import Run, RunFolderError
from ..views.catalog import RunCatalog
from ..views.run_view import RunDashboard
from .fair_queue import FairQueue, Superseded
from .housekeeping import export_folder
from .serving import ServingPolicy, client_of, session_of


class Explorer:
    """State shared by every session of one server: the runs, the live generator and the training job."""

    def __init__(self, catalog: RunCatalog, live: LiveGenerator, job: TrainingJob,
                 default_run: str | None = None, policy: ServingPolicy | None = None) -> None:
        self.catalog = catalog
        self.live = live
        self.job = job
        self.policy = policy or ServingPolicy()
        self.queue = FairQueue(self.policy.waiting_limit, self.policy.client_limit)
        names = catalog.names
        if not names:
            problems = "; ".join(catalog.problems.values()) or "no run folders were found"
            raise RunFolderError(f"No run can be shown ({problems}). Train and evaluate one, or pass a run folder.")
        self.default_run = default_run if default_run in names else names[0]
        # Files the page downloads: the exports.
        self.export_dir = export_folder()
        atexit.register(shutil.rmtree, self.export_dir, ignore_errors=True)

    def dashboard(self, run: Any, criterion: Any = DEFAULT_CRITERION) -> RunDashboard:
        """The run's dashboard under `criterion`, or a ValueError a viewer can act on."""
        if not isinstance(run, str) or not run:
            raise ValueError(f"Choose a run by its name, got {shown(run)}.")
        if run not in self.catalog.paths:
            raise RunFolderError(f"Unknown run {shown(run)}; available runs: {', '.join(self.catalog.names)}.")
        return self.catalog.get(run, criterion)

    def public_roots(self) -> list[Path]:
        """Folders whose paths a visitor may see, relative to the folder holding them (common.public_paths)."""
        return [*self.catalog.roots, *self.catalog.extra, self.job.root.resolve(), self.export_dir]

    async def sample(self, run: Run, settings: LiveSettings, request: gr.Request | None,
                     kind: str = "live") -> LiveResult | Superseded:
        """A live generation for a visitor: checked first (a bad value or too much work is refused before it
        waits), a cached result at once, else sampled in the fair queue (SUPERSEDED if the visitor's next request
        of this kind came first)."""
        settings = self.live.checked(run, settings)
        cached = self.live.lookup(run, settings)
        if cached is not None:
            return cached
        return await self.queue.run(session_of(request), kind, client_of(request, self.policy),
                                    lambda: self.live.generate(run, settings))
