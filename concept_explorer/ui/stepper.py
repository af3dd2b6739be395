"""The step control and every precomputed panel as one browser-side component (gr.HTML + assets/stepper.js).

Why in the browser: a run's precomputed view is small, so it is sent once (`view`, then its sample grids as
`images`) and scrubbing, playback, phase jumps and clicks on the trajectory redraw every panel locally, with no
server round trip per step and no chain of events that could re-trigger itself. The server hears one debounced
event per settled step (`input`, carrying the checkpoint index), which updates the hidden `checkpoint` number the
other events read and moves the live generation, whose result comes back as the `live` prop.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from ..core import limits
from ..views.run_view import RunDashboard
from ..views.step_view import step_images, step_view
from .common import user_errors
from .explorer import Explorer
from .routes import PLOTLY_URL
from .text import TOUR

ASSETS = Path(__file__).parent / "assets"


def stepper_component() -> gr.HTML:
    """The component; its props start empty and the page load fills them (see layout.py)."""
    tour = [{"title": title, "body": body, "phase": phase, "panel": panel} for title, body, phase, panel in TOUR]
    return gr.HTML(
        "", html_template=(ASSETS / "stepper.html").read_text(), js_on_load=(ASSETS / "stepper.js").read_text(),
        head=f'<script src="{PLOTLY_URL}"></script>', apply_default_css=False,
        elem_id="stepper", view=None, images=None, live=None, tour=tour,
    )


class Stepper:
    """Builds the stepper's props: a run's view (kept by its dashboard, one per criterion, per smoothing and type
    size) and its grids."""

    def __init__(self, explorer: Explorer) -> None:
        self.explorer = explorer

    @staticmethod
    def _view(dashboard: RunDashboard, smoothing: float, large: bool) -> dict[str, Any]:
        return dashboard.cached(("step view", smoothing, large), lambda: step_view(dashboard, smoothing, large))

    @staticmethod
    def _images(dashboard: RunDashboard) -> dict[str, Any]:
        return dashboard.cached(("step images",), lambda: step_images(dashboard))

    def warm(self, run: str) -> None:
        """Build a run's default view and grids ahead of the first visitor (called in a background thread)."""
        dashboard = self.explorer.dashboard(run)
        self._view(dashboard, 0.0, False)
        self._images(dashboard)

    @user_errors
    def show_run(self, run: str, index: float, smoothing: float, present: bool, criterion: str) -> gr.HTML:
        """The run's view under `criterion`, opening at checkpoint `index` (the browser keeps its own step when the
        run is the one it already shows)."""
        dashboard = self.explorer.dashboard(run, criterion)
        view = self._view(dashboard, limits.SMOOTHING.check("smoothing", smoothing), bool(present))
        return gr.HTML(view=view | {"start": dashboard.check_index(index)})

    @user_errors
    def show_images(self, run: str, criterion: str) -> gr.HTML:
        """The run's sample grids, sent after its numbers so the plots appear first (the phase strip follows the
        criterion)."""
        return gr.HTML(images=self._images(self.explorer.dashboard(run, criterion)))

    @user_errors
    def settle(self, run: str, event: gr.EventData) -> int:
        """The checkpoint the viewer settled on in the browser, as the index other events read."""
        data = getattr(event, "_data", None) or {}  # EventData raises on a missing key instead of returning None
        return self.explorer.dashboard(run).check_index(data.get("index"))
