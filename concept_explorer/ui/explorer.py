"""What every session of one server shares: the runs, the live generator, the training job and a scratch folder.

The callbacks are split by area (steps, live_panel, compare, runs, url, train_tab, exports); each holds this one
`Explorer`.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path
from typing import Any

from ..analysis.definitions import DEFAULT_CRITERION
from ..analysis.jobs import TrainingJob
from ..analysis.live import LiveGenerator
from ..core.run import RunFolderError
from ..views.catalog import RunCatalog
from ..views.run_view import RunDashboard


class Explorer:
    """State shared by every session of one server: the runs, the live generator and the training job."""

    def __init__(self, catalog: RunCatalog, live: LiveGenerator, job: TrainingJob,
                 default_run: str | None = None) -> None:
        self.catalog = catalog
        self.live = live
        self.job = job
        names = catalog.names
        if not names:
            problems = "; ".join(catalog.problems.values()) or "no run folders were found"
            raise RunFolderError(f"No run can be shown ({problems}). Train and evaluate one, or pass a run folder.")
        self.default_run = default_run if default_run in names else names[0]
        # Files the page downloads: the exports.
        self.export_dir = Path(tempfile.mkdtemp(prefix="concept-explorer-exports-"))
        atexit.register(shutil.rmtree, self.export_dir, ignore_errors=True)

    def dashboard(self, run: Any, criterion: Any = DEFAULT_CRITERION) -> RunDashboard:
        """The run's dashboard under `criterion`, or a ValueError a viewer can act on."""
        if not isinstance(run, str) or not run:
            raise ValueError("Choose a run first.")
        return self.catalog.get(run, criterion)
