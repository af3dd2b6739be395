"""Callbacks of the exports: the live grid as PNG, the trajectory as an animated GIF, the data as CSV and JSON.

The bytes come from the dashboard and image layers; here they are only written to a file gradio can serve. An
export is a function of its inputs and the run's files, so it is written once under a name made from its bytes and
handed out again while it lasts (a client exporting the same GIF in a loop, or at 3.0 and 2.9999999, costs one
file, here and in gradio's content-addressed cache); the folder is trimmed by age and by a disk budget
(housekeeping.py) on every write, and removed when the server stops (housekeeping.export_folder).
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Hashable

import gradio as gr

from ..core import limits
from ..core.run import RunLayout
from ..views import exports
from ..views import images as raster
from ..views.run_view import RunDashboard
from .common import user_errors
from .explorer import Explorer
from .fair_queue import SUPERSEDED
from .housekeeping import collect
from .settings import GenerationSettings


EXPORT_KEYS = 256
"""Exports whose inputs are remembered (to hand the same file out again without making its bytes): a few hundred
names, a few kB."""


class Exports:
    def __init__(self, explorer: Explorer) -> None:
        self.explorer = explorer
        self._made: dict[str, Path] = {}  # digest of (run, its files' stamp, key) → the file made for it

    def _file(self, dashboard: RunDashboard, key: Hashable, suffix: str, make: Callable[[], bytes]) -> str:
        """The export of `key` for this run as it is on disk now, named by its bytes: inputs asked for again get
        the same file without making it again, and inputs that differ but make the same bytes (smoothing 3.0 and
        2.9999999) one file too. The folder is then trimmed to the policy's age and disk budget."""
        stamp = RunLayout(dashboard.run.path).stamp()
        asked = hashlib.sha256(repr((str(dashboard.run.path), stamp, key)).encode()).hexdigest()
        known = self._made.get(asked)
        if known is not None and known.is_file():
            os.utime(known)  # handed out again: young again for the age limit
            return str(known)
        data = make()
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in dashboard.run.name)
        path = self.explorer.export_dir / f"{safe}-{hashlib.sha256(data).hexdigest()[:16]}{suffix}"
        if path.is_file():
            os.utime(path)
        else:
            staging = path.with_name(f".{path.name}.{threading.get_ident()}")
            staging.write_bytes(data)
            staging.replace(path)  # whole or not at all, even with two exports of the same bytes at once
        if len(self._made) >= EXPORT_KEYS:
            self._made.clear()
        self._made[asked] = path
        policy = self.explorer.policy
        collect(self.explorer.export_dir, policy.export_age_s, policy.export_budget_bytes, keep=[path],
                include=lambda entry: not entry.name.startswith("."))
        return str(path)

    @user_errors
    async def export_grid(self, run: str, index: float, settings: GenerationSettings,
                          request: gr.Request | None = None) -> str:
        """The live grid of the current settings as a PNG (a cache hit when it was just generated)."""
        dashboard = self.explorer.dashboard(run)
        result = await self.explorer.sample(dashboard.run, settings.live_settings(dashboard, index), request,
                                            kind="export")
        if result is SUPERSEDED:
            return gr.skip()
        return self._file(dashboard, ("grid", result.settings), f"-step{result.settings.step}-live.png",
                          lambda: raster.png_bytes(raster.image_grid(result.images, columns=8, scale=8)))

    @user_errors
    def export_gif(self, run: str, smoothing: float) -> str:
        dashboard = self.explorer.dashboard(run)
        # To the hundredth (the slider moves in quarters), and −0.0 as 0.0: 1e-300 and 0 are one animation.
        smoothing = round(limits.SMOOTHING.check("smoothing", smoothing), 2) + 0.0
        return self._file(dashboard, ("gif", smoothing), "-trajectory.gif",
                          lambda: exports.animation(dashboard, smoothing))

    @user_errors
    def export_csv(self, run: str, criterion: str) -> str:
        """The per-checkpoint table, accuracies under the chosen criterion."""
        dashboard = self.explorer.dashboard(run, criterion)
        return self._file(dashboard, ("csv", dashboard.criterion), f"-{dashboard.criterion}.csv",
                          lambda: exports.to_csv(dashboard).encode())

    @user_errors
    def export_json(self, run: str, criterion: str) -> str:
        """Everything the page knows about the run under the chosen criterion (accuracies, curves, phases)."""
        dashboard = self.explorer.dashboard(run, criterion)
        return self._file(dashboard, ("json", dashboard.criterion), f"-{dashboard.criterion}.json",
                          lambda: exports.to_json(dashboard).encode())
