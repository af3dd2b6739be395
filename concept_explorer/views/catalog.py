"""The runs the app offers: every run folder under the given roots (checkpoints/, runs/) plus folders named on the
command line, each by a unique name, with its view built once per criterion and rebuilt when the run changes on
disk."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path

from ..analysis.definitions import DEFAULT_CRITERION, check_criterion
from ..core.run import RunFolderError, RunLayout
from .run_view import RunDashboard


class RunCatalog:
    """The runs the app offers, by unique name; dashboards are built once and rebuilt when a run changes."""

    def __init__(self, roots: Iterable[str | Path] = (), extra: Iterable[str | Path] = ()) -> None:
        self.roots = [Path(r).resolve() for r in roots]
        self.extra = [Path(p).resolve() for p in extra]
        self.paths: dict[str, Path] = {}
        self.problems: dict[str, str] = {}
        self._dashboards: dict[tuple[str, str], tuple[tuple, RunDashboard]] = {}  # (name, criterion) → (stamp, view)
        self._lock = threading.RLock()
        self.refresh()

    def refresh(self) -> None:
        """Re-scan the roots: new run folders appear, deleted ones go away."""
        found: list[Path] = []
        for root in self.roots:
            if root.is_dir():
                found += sorted(p for p in root.iterdir() if RunLayout(p).is_run())
        found += [p for p in self.extra if p not in found]
        paths: dict[str, Path] = {}
        for path in found:
            name = path.name if path.name not in paths else f"{path.parent.name}/{path.name}"
            paths[name] = path
        with self._lock:
            self.paths = paths

    @property
    def names(self) -> list[str]:
        """Runs that can be shown (evaluated and valid), in discovery order."""
        return [n for n in self.paths if self._try(n) is not None]

    def _try(self, name: str) -> RunDashboard | None:
        try:
            return self.get(name)
        except (RunFolderError, ValueError) as error:
            self.problems[name] = str(error)
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
