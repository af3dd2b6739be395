"""The view in the URL: the query string of what is shown (kept in the address bar and the share link), and
opening the view a link describes."""

from __future__ import annotations

from typing import Any

import gradio as gr

from ..core import limits
from ..core.run import RunFolderError
from ..views.run_view import RunDashboard
from .common import page_text
from .explorer import Explorer
from .runs import RUN_DEPENDENT, run_controls
from .settings import DIRECTION_CUSTOM, GenerationSettings
from .state import ViewState

VIEW_CONTROLS = tuple(dict.fromkeys((*RUN_DEPENDENT, *GenerationSettings.names(), "compare", "smoothing", "present",
                                     "criterion", "weights_box", "shown_run")))
"""The names of the controls `load_view` sets (a control appears once among an event's outputs)."""


class ViewLink:
    def __init__(self, explorer: Explorer) -> None:
        self.explorer = explorer

    def view_query(self, run: str, index: float, compare: str | None, smoothing: float, present: bool,
                   criterion: str, settings: GenerationSettings) -> str:
        """The query string of the current view. Never fails: a half-typed value is just left out, a view without a
        run or checkpoint of this server is no view (an empty query)."""
        try:
            dashboard = self.explorer.dashboard(run)
            step = dashboard.steps[dashboard.check_index(index)]
        except (RunFolderError, ValueError):
            return ""
        state = ViewState(run=run if run != self.explorer.default_run else None, step=step,
                          compare=compare or None, smoothing=smoothing, present=bool(present), criterion=criterion,
                          generation=settings)
        return state.to_query()

    @staticmethod
    def _phase_index(dashboard: RunDashboard, phase: str, problems: list[str]) -> int:
        """The checkpoint of a phase named in a link: its number in time order (1, 2, …) or its name."""
        phases = list(dashboard.jump_targets.items())  # in time order
        named = {name: step for name, step in phases} | {str(k + 1): step for k, (_, step) in enumerate(phases)}
        named |= {name.split()[0]: step for name, step in phases}  # "hidden", "training", …
        if phase not in named:
            problems.append(f"Ignored phase={limits.shown(phase)}: this run's phases are "
                            f"{', '.join(f'{k + 1} {name}' for k, (name, _) in enumerate(phases)) or 'none'}.")
            return 0
        return dashboard.nearest_index(named[phase])

    def load_view(self, request: gr.Request) -> dict[str, Any]:
        """Open the view a link describes (or the default view), warning about parameters it had to ignore."""
        params = dict(request.query_params) if request is not None else {}
        state, problems = ViewState.from_query(params)
        names = self.explorer.catalog.names
        run = state.run or self.explorer.default_run
        if run not in names:
            problems.append(f"The link's run {limits.shown(run)} is not on this server; showing {self.explorer.default_run}.")
            run = self.explorer.default_run
        dashboard = self.explorer.catalog.get(run, state.criterion)  # the phases a link names are the criterion's
        index = 0  # the story starts at the start, unless the link names a step or a phase
        if state.step is not None:
            index = dashboard.nearest_index(state.step)
        elif state.phase is not None:
            index = self._phase_index(dashboard, state.phase, problems)
        for problem in problems:
            gr.Warning(page_text(problem))
        compare = state.compare if state.compare in names else None
        settings = state.generation.fitted_to(dashboard)
        values = run_controls(dashboard, index, names, run)
        for name, value in settings.values().items():  # merged into the run's update of that control, if any
            values[name] = {**values[name], "value": value} if name in values else value
        return values | {
            "compare": gr.update(choices=[""] + names, value=compare or ""), "smoothing": state.smoothing,
            "present": state.present, "criterion": state.criterion, "weights_box": gr.update(visible=settings.direction == DIRECTION_CUSTOM),
            "shown_run": run,
        }
