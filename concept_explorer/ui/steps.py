"""Callbacks of the shared step control: the precomputed panels at a checkpoint, the step buttons, a typed step,
the phase jumps and playback.

Everything here is a lookup (no sampling), so these events run outside the queue and scrubbing never waits.
"""

from __future__ import annotations

import itertools
import threading
import weakref

import gradio as gr
import numpy as np

from ..core import limits
from ..views import captions
from ..views import images as raster
from ..views.run_view import PHASE_ORDER, RunDashboard
from .common import plot, user_errors
from .explorer import Explorer
from .live_panel import LiveState, concept_space_plot

PHASE_BUTTONS = dict(zip(("training", "memorization", "hidden", "generalization"), PHASE_ORDER))
"""Jump button key → the phase it jumps to."""
SPEEDS = {"0.5×": 1.6, "1×": 0.8, "2×": 0.4, "4×": 0.2}
"""Play speed → seconds per checkpoint."""


class Steps:
    def __init__(self, explorer: Explorer) -> None:
        self.explorer = explorer
        # Per dashboard (a rebuilt dashboard of a growing run starts afresh), (index, large, kind) → PNG path.
        self._grid_files: weakref.WeakKeyDictionary[RunDashboard, dict] = weakref.WeakKeyDictionary()
        self._grid_names = itertools.count()
        self._grid_lock = threading.Lock()

    @user_errors
    def render_step(self, run: str, index: float, smoothing: float, present: bool, live_state: LiveState) -> list:
        """Every precomputed panel at one checkpoint: a lookup plus JSON, no sampling."""
        dashboard = self.explorer.dashboard(run)
        i = dashboard.check_index(index)
        smoothing = limits.SMOOTHING.check("smoothing", smoothing)
        large = bool(present)
        step = dashboard.steps[i]
        readout = (f"<div class='ce-readout'><span class='ce-step'>step {step:,}</span>"
                   f"<span class='ce-ckpt'>checkpoint {i + 1} of {len(dashboard.steps)}</span></div>")
        stored = self._grid_file(dashboard, i, large, "stored")
        elicited = self._grid_file(dashboard, i, large, "elicited")
        return [
            readout,
            concept_space_plot(dashboard, i, smoothing, large, live_state),
            captions.step_caption(dashboard, i),
            plot(dashboard.capability(i, large)),
            plot(dashboard.accuracy(i, large)),
            stored,
            gr.update(value=elicited, visible=elicited is not None),
            step,
        ]

    def _grid_file(self, dashboard: RunDashboard, index: int, large: bool, kind: str) -> str | None:
        """A checkpoint's generation grid as a PNG file, written once: scrubbing then costs gradio a file hash
        instead of a PNG encode per grid per tick."""
        key = (index, large, kind)
        with self._grid_lock:
            files = self._grid_files.setdefault(dashboard, {})
            if key in files:
                return files[key]
        image = dashboard.generations(index, large) if kind == "stored" else dashboard.elicited(index, large)
        path = None
        if image is not None:
            path = self.explorer.export_dir / "grids" / f"{next(self._grid_names)}-{kind}-{index}.png"
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(raster.png_bytes(image))
        with self._grid_lock:
            return files.setdefault(key, None if path is None else str(path))

    @user_errors
    def step_by(self, run: str, index: float, delta: int) -> int:
        dashboard = self.explorer.dashboard(run)
        return int(np.clip(dashboard.check_index(index) + delta, 0, len(dashboard.steps) - 1))

    @user_errors
    def go_to_step(self, run: str, step: float) -> int:
        """A typed training step, snapped to the nearest evaluated checkpoint."""
        dashboard = self.explorer.dashboard(run)
        return dashboard.nearest_index(limits.STEP.check("Step", step))

    @user_errors
    def jump(self, run: str, phase_key: str) -> int:
        dashboard = self.explorer.dashboard(run)
        phase = PHASE_BUTTONS[phase_key]
        if phase not in dashboard.jump_targets:
            raise ValueError(f"{run} has no '{phase}' phase (not reached within its checkpoints).")
        return dashboard.nearest_index(dashboard.jump_targets[phase])

    @user_errors
    def toggle_play(self, playing: bool, speed: str, run: str, index: float) -> list:
        """Play or pause; playing from the last checkpoint starts again from the first."""
        dashboard = self.explorer.dashboard(run)
        i = dashboard.check_index(index)
        playing = not bool(playing)
        restart = playing and i == len(dashboard.steps) - 1
        return [playing, gr.update(value="⏸ Pause" if playing else "▶ Play"),
                gr.Timer(value=SPEEDS.get(speed, 0.8), active=playing), 0 if restart else gr.skip()]

    @user_errors
    def tick(self, run: str, index: float, playing: bool) -> list:
        """Advance one checkpoint; stop at the end."""
        dashboard = self.explorer.dashboard(run)
        i = dashboard.check_index(index)
        if not playing or i >= len(dashboard.steps) - 1:
            return [i, False, gr.update(value="▶ Play"), gr.Timer(active=False)]
        return [i + 1, True, gr.skip(), gr.skip()]

    @user_errors
    def set_speed(self, speed: str, playing: bool) -> gr.Timer:
        if speed not in SPEEDS:
            raise ValueError(f"Unknown speed {speed!r}; choose from {list(SPEEDS)}.")
        return gr.Timer(value=SPEEDS[speed], active=bool(playing))
