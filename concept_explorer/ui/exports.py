"""Callbacks of the exports: the live grid as PNG, the trajectory as an animated GIF, the data as CSV and JSON.

The bytes come from the dashboard and image layers; here they are only written to a file gradio can serve.
"""

from __future__ import annotations

import time
from pathlib import Path

from ..core import limits
from ..views import exports
from ..views import images as raster
from .common import user_errors
from .explorer import Explorer
from .settings import GenerationSettings


class Exports:
    def __init__(self, explorer: Explorer) -> None:
        self.explorer = explorer

    def _path(self, run: str, suffix: str) -> Path:
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in run)
        stamp = f"{time.strftime('%Y%m%d-%H%M%S')}-{time.perf_counter_ns() % 10**6}"
        return self.explorer.export_dir / f"{safe}-{stamp}{suffix}"

    @user_errors
    def export_grid(self, run: str, index: float, settings: GenerationSettings) -> str:
        """The live grid of the current settings as a PNG (a cache hit when it was just generated)."""
        dashboard = self.explorer.dashboard(run)
        result = self.explorer.live.generate(dashboard.run, settings.live_settings(dashboard, index))
        path = self._path(run, f"-step{result.settings.step}-live.png")
        path.write_bytes(raster.png_bytes(raster.image_grid(result.images, columns=8, scale=8)))
        return str(path)

    @user_errors
    def export_gif(self, run: str, smoothing: float) -> str:
        path = self._path(run, "-trajectory.gif")
        path.write_bytes(exports.animation(self.explorer.dashboard(run),
                                           limits.SMOOTHING.check("smoothing", smoothing)))
        return str(path)

    @user_errors
    def export_csv(self, run: str, criterion: str) -> str:
        """The per-checkpoint table, accuracies under the chosen criterion."""
        dashboard = self.explorer.dashboard(run, criterion)
        path = self._path(run, f"-{dashboard.criterion}.csv")
        path.write_text(exports.to_csv(dashboard))
        return str(path)

    @user_errors
    def export_json(self, run: str, criterion: str) -> str:
        """Everything the page knows about the run under the chosen criterion (accuracies, curves, phases)."""
        dashboard = self.explorer.dashboard(run, criterion)
        path = self._path(run, f"-{dashboard.criterion}.json")
        path.write_text(exports.to_json(dashboard))
        return str(path)
