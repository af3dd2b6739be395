"""Callbacks of the live generation panel: sample the current checkpoint at the panel's settings and show where
the samples land in concept space.

Sampling waits its turn in the server's fair queue (fair_queue.py: one pending request per session, a newer one
supersedes it); results are cached by LiveGenerator, so moving a slider back or exporting the grid just shown
costs nothing and does not wait.
"""

from __future__ import annotations

from typing import Any

import gradio as gr
import numpy as np

from ..analysis.live import LiveResult
from ..core import limits
from ..views import images as raster
from ..views.run_view import RunDashboard
from .common import user_errors
from .explorer import Explorer
from .fair_queue import SUPERSEDED
from .settings import DIRECTION_CUSTOM, GenerationSettings

LIVE_COLUMNS = 8
LiveState = dict[str, Any] | None
"""What a session remembers of its last live generation: run, step, label and per-sample coordinates (tiny)."""


def live_view(dashboard: RunDashboard, result: LiveResult, state: LiveState, large: bool) -> dict[str, Any]:
    """The stepper's `live` prop: the grid (native resolution, upscaled by the browser), the summary, and the
    samples as plotly traces of concept space (drawn by the same figure code as the stored trajectories), per plane
    of concepts (`planes`, only for runs of three or more concepts: the page shows the one the viewer chose)."""
    planes: list[list[dict]] = [[] for _ in dashboard.planes]
    if state["points"]:
        name = f"live: {result.target_name} @ step {result.settings.step:,}"
        points = np.array(state["points"], dtype=float)
        planes = [dashboard.live_traces(points, name, large, axes) for axes in dashboard.planes]
    rows = -(-len(result.images) // LIVE_COLUMNS)
    return {"run": dashboard.run.name, "step": result.settings.step, "traces": planes[0],
            **({"planes": planes} if len(planes) > 1 else {}),
            "src": raster.png_data_uri(raster.image_grid(result.images, columns=LIVE_COLUMNS, scale=1, pad=1),
                                       scale=1),
            "rows": [""] * rows, "colors": [], "title": f"Live generation at step {result.settings.step:,}",
            "summary": _live_summary(result, dashboard.criterion)}


class LivePanel:
    def __init__(self, explorer: Explorer) -> None:
        self.explorer = explorer

    @user_errors
    async def generate(self, run: str, index: float, smoothing: float, present: bool, criterion: str,
                       settings: GenerationSettings, request: gr.Request | None = None) -> list:
        """Sample the checkpoint at the panel's settings (cached) and show the samples in the stepper, judged under
        `criterion`. A request superseded by the session's next one changes nothing."""
        dashboard = self.explorer.dashboard(run, criterion)
        limits.SMOOTHING.check("smoothing", smoothing)  # a bad value is refused here too, as on every panel event
        result = await self.explorer.sample(dashboard.run, settings.live_settings(dashboard, index), request)
        if result is SUPERSEDED:
            return [gr.skip()] * 2
        state = _live_state(dashboard, result)
        return [gr.HTML(live=live_view(dashboard, result, state, bool(present))), state]

    async def generate_on_step(self, follow: bool, run: str, index: float, smoothing: float, present: bool,
                               criterion: str, settings: GenerationSettings,
                               request: gr.Request | None = None) -> list:
        """Follow the step control with the live generation, when the viewer wants that."""
        if not follow:
            return [gr.skip()] * 2
        return await self.generate(run, index, smoothing, present, criterion, settings, request)

    @user_errors
    def prompt_class(self, run: str, label: str) -> dict[str, Any]:
        """Set the position sliders of the run's concepts (each in its slot) to a class's means."""
        dashboard = self.explorer.dashboard(run)
        code = dashboard.space.parse_class(str(label).split(" ")[0])
        return {slot: gr.update(value=level) for slot, level in dashboard.slots.levels(code).items()}

    def show_weights(self, direction: str) -> Any:
        return gr.update(visible=direction == DIRECTION_CUSTOM)


def _live_state(dashboard: RunDashboard, result: LiveResult) -> LiveState:
    points = None
    if result.coordinates is not None:
        present = result.presence >= 0.5
        points = np.round(result.coordinates[present], 4).tolist()
    return {"run": dashboard.run.name, "step": result.settings.step, "name": result.target_name, "points": points}


def _live_summary(result: LiveResult, criterion: str) -> str:
    s = result.settings
    parts = [f"Step {s.step:,}, prompt nearest {result.target_name}"]
    if s.overprompt:
        parts.append(f"overprompt {s.overprompt:g} on {', '.join(s.overprompt_concepts) or 'nothing'}")
    if s.intervention_strength:
        parts.append(f"intervention {s.intervention_strength:g} ({s.direction} direction"
                     f"{', projection' if s.projection else ''})")
    if s.patch_step is not None:
        parts.append(f"embedding from step {s.patch_step:,}")
    if s.guidance != 1.0:
        parts.append(f"guidance {s.guidance:g}")
    if s.masked:  # which concept it leaves open is the result's note
        parts.append("masked prompt")
    text = ", ".join(parts) + f". {result.summary(criterion)} ({criterion} criterion; {s.samples} samples, {s.sample_steps} sampling steps, seed "
    text += f"{s.seed}; {result.seconds:.2f} s)"
    for note in result.notes:
        text += f" {note}"
    return text
