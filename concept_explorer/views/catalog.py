"""The runs the app offers: every run folder under the given roots (checkpoints/, runs/) plus folders named on the
command line, each by a unique name, with its view built once per criterion and rebuilt when the run changes on
disk. A folder under a root that holds sweep.json is a sweep (by its folder name): its record (results.json) is
read when asked for and re-read when it changes, and its cells that are run folders are offered as runs named
"<sweep>/<cell>"."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..analysis.definitions import DEFAULT_CRITERION, check_criterion
from ..analysis.sweep import SWEEP_FILE, Sweep
from ..analysis.sweep_results import RESULTS_FILE, load_results
from ..core.run import RunFolderError, RunLayout
from .run_view import RunDashboard


@dataclass(frozen=True)
class SweepRecord:
    """A sweep as the app shows it: its description (sweep.json), its record (results.json) and a stamp that
    changes whenever either does."""

    name: str
    path: Path
    sweep: Sweep
    results: dict[str, Any]
    stamp: tuple[int | None, ...]


class RunCatalog:
    """The runs the app offers, by unique name; dashboards are built once and rebuilt when a run changes."""

    def __init__(self, roots: Iterable[str | Path] = (), extra: Iterable[str | Path] = ()) -> None:
        self.roots = [Path(r).resolve() for r in roots]
        self.extra = [Path(p).resolve() for p in extra]
        self.paths: dict[str, Path] = {}
        self.problems: dict[str, str] = {}
        self.sweep_paths: dict[str, Path] = {}
        self.sweep_problems: dict[str, str] = {}
        self._dashboards: dict[tuple[str, str], tuple[tuple, RunDashboard]] = {}  # (name, criterion) → (stamp, view)
        self._sweeps: dict[str, SweepRecord] = {}
        self._failed: dict[str, tuple | None] = {}  # run name → its stamp when it last failed to open
        self._lock = threading.RLock()
        self.refresh()

    def refresh(self) -> None:
        """Re-scan the roots: new run folders and sweeps appear, deleted ones go away. A sweep's cells come after
        the other runs."""
        found: list[Path] = []
        sweeps: list[Path] = []
        for root in self.roots:
            if root.is_dir():
                found += sorted(p for p in root.iterdir() if RunLayout(p).is_run())
                sweeps += sorted(p for p in root.iterdir() if (p / SWEEP_FILE).is_file())
        # A cell packed without weights is the Sweep view's alone: it is not offered (nor reported) as a run.
        cells = [cell for sweep in sweeps for cell in sorted(sweep.iterdir())
                 if RunLayout(cell).is_run() and RunLayout(cell).has_checkpoints()]
        found += [p for p in self.extra if p not in found and p not in cells] + cells
        paths: dict[str, Path] = {}
        for path in found:
            name = path.name if path.name not in paths and path not in cells else f"{path.parent.name}/{path.name}"
            paths[name] = path
        sweep_paths: dict[str, Path] = {}
        for path in sweeps:
            sweep_paths[path.name if path.name not in sweep_paths else f"{path.parent.name}/{path.name}"] = path
        with self._lock:
            self.paths = paths
            self.sweep_paths = sweep_paths

    @property
    def names(self) -> list[str]:
        """Runs that can be shown (evaluated and valid), in discovery order."""
        return [n for n in self.paths if self._try(n) is not None]

    def _try(self, name: str) -> RunDashboard | None:
        """The run's dashboard, or None with its problem recorded. A run that failed is not opened again until its
        files change: a bundled sweep's cells have no weights, and `names` is asked for on every run switch."""
        path = self.paths.get(name)
        stamp = RunLayout(path).stamp() if path is not None else None
        if name in self.problems and self._failed.get(name) == stamp:
            return None
        try:
            return self.get(name)
        except (RunFolderError, ValueError) as error:
            self.problems[name] = str(error)
            self._failed[name] = stamp
            return None

    def get(self, name: str, criterion: str = DEFAULT_CRITERION) -> RunDashboard:
        """The dashboard of a run by name under a criterion (definitions.CRITERIA); a clear RunFolderError for an
        unknown or unusable run, a ValueError for an unknown criterion."""
        check_criterion(criterion)
        with self._lock:
            if name not in self.paths:
                known = ", ".join(self.paths) or "none"
                raise RunFolderError(f"Unknown run {name!r}; available runs: {known}.")
            path = self.paths[name]
            stamp = RunLayout(path).stamp()
            cached = self._dashboards.get((name, criterion))
            if cached is not None and cached[0] == stamp:
                return cached[1]
        dashboard = RunDashboard.load(path, criterion)
        with self._lock:
            self._dashboards[(name, criterion)] = (stamp, dashboard)
            self.problems.pop(name, None)
        return dashboard

    def add(self, path: str | Path) -> str:
        """Offer another run folder (e.g. one trained from the UI); returns its name."""
        path = Path(path).resolve()
        with self._lock:
            if path not in self.extra:
                self.extra.append(path)
            self.refresh()
            return next(n for n, p in self.paths.items() if p == path)

    def forget(self, paths: Iterable[str | Path]) -> None:
        """Stop offering these folders (trained runs the app deleted) and drop their views."""
        gone = {Path(p).resolve() for p in paths}
        with self._lock:
            self.extra = [p for p in self.extra if p not in gone]
            self.refresh()
            self._dashboards = {key: value for key, value in self._dashboards.items() if key[0] in self.paths}

    # -- sweeps ---------------------------------------------------------------------------------------------------
    @property
    def sweep_names(self) -> list[str]:
        """Sweeps that can be shown (sweep.json and results.json readable), in discovery order."""
        names = []
        for name in list(self.sweep_paths):
            try:
                self.sweep(name)
                names.append(name)
            except RunFolderError as error:
                self.sweep_problems[name] = str(error)
        return names

    def sweep(self, name: str) -> SweepRecord:
        """A sweep by name, read again when its sweep.json or results.json changed; a RunFolderError in one
        sentence for an unknown sweep or an unreadable file."""
        with self._lock:
            if name not in self.sweep_paths:
                known = ", ".join(self.sweep_paths) or "none"
                raise RunFolderError(f"Unknown sweep {name!r}; available sweeps: {known}.")
            path = self.sweep_paths[name]
            files = (path / SWEEP_FILE, path / RESULTS_FILE)
            stamp = tuple(f.stat().st_mtime_ns if f.is_file() else None for f in files)
            cached = self._sweeps.get(name)
            if cached is not None and cached.stamp == stamp and cached.path == path:
                return cached
        record = SweepRecord(name, path, Sweep.open(path), load_results(path), stamp)
        with self._lock:
            self._sweeps[name] = record
            self.sweep_problems.pop(name, None)
        return record

    def cell_run(self, sweep: str, cell: str) -> str | None:
        """The run name under which a sweep's cell is offered, or None when the cell is no run folder here."""
        with self._lock:
            folder = self.sweep_paths.get(sweep)
            return next((n for n, p in self.paths.items() if folder is not None and p == folder / cell), None)
