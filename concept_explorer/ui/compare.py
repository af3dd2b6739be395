"""Callbacks of the Compare tab: two runs side by side at the same training step."""

from __future__ import annotations

from ..core import limits
from ..views import captions
from ..views.plots import message_spec
from .common import plot, user_errors
from .explorer import Explorer

CHOOSE = "Choose a second run to compare."


class Compare:
    def __init__(self, explorer: Explorer) -> None:
        self.explorer = explorer

    @user_errors
    def render_compare(self, run: str, other: str | None, index: float, smoothing: float, present: bool,
                       criterion: str) -> list:
        """Caption, then concept space and capability curves of each run under one criterion; the right run at its
        checkpoint nearest to the left one's step."""
        dashboard = self.explorer.dashboard(run, criterion)
        i = dashboard.check_index(index)
        smoothing, large = limits.SMOOTHING.check("smoothing", smoothing), bool(present)
        step = dashboard.steps[i]
        left = [plot(dashboard.concept_space(i, smoothing, large=large, height=480,
                                             title=f"{dashboard.run.name} · step {step:,}")),
                plot(dashboard.capability(i, large, height=340))]
        if not other:
            empty = plot(message_spec(CHOOSE, 340, large))
            return [CHOOSE, *left, empty, empty]
        second = self.explorer.dashboard(other, criterion)
        j = second.nearest_index(step)
        caption = (f"Left: {captions.describe(dashboard)}  \nRight: {captions.describe(second)}  \nThe right run is "
                   f"shown at its checkpoint nearest to step {step:,}: step {second.steps[j]:,}. Both are scored "
                   f"under the {criterion} criterion.")
        return [caption, *left,
                plot(second.concept_space(j, smoothing, large=large, height=480,
                                          title=f"{second.run.name} · step {second.steps[j]:,}")),
                plot(second.capability(j, large, height=340))]
