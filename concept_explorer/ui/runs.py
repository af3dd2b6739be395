"""Switching runs: every control whose range, choices, label or visibility depends on the run shown."""

from __future__ import annotations

from typing import Any

import gradio as gr

from ..core.concepts import CONCEPT_ORDER
from ..core.run import RunFolderError
from ..views import captions
from ..views.run_view import CONCEPT_NAMES, RunDashboard
from .common import user_errors
from .explorer import Explorer
from .settings import DIRECTION_CUSTOM, NONE_PATCH

RUN_DEPENDENT = ("checkpoint", "run_info", "learning", *CONCEPT_ORDER,
                 *(f"w_{c}" for c in CONCEPT_ORDER), "overprompt_along", "direction", "patch", "guidance", "masked",
                 "run", "prompt_class")
"""The names of the controls `run_controls` updates: the outputs of every event that switches runs."""


def run_controls(dashboard: RunDashboard, index: int, runs: list[str], name: str) -> dict[str, Any]:
    """Updates of the run-dependent controls, by name, showing checkpoint `index` of the run the catalog offers as
    `name` (not always its folder's name: a sweep's cell is "<sweep>/<cell>")."""
    slots = dashboard.slots  # the controls are named after slots, labelled after the run's concepts
    updates: dict[str, Any] = {"checkpoint": index}
    updates["run_info"] = captions.describe(dashboard)
    updates["learning"] = captions.learning_summary(dashboard)
    for slot in CONCEPT_ORDER:
        updates[slot] = gr.update(visible=slot in slots.slots, label=slots.position_label(slot))
        updates[f"w_{slot}"] = gr.update(visible=slot in slots.slots, label=slots.weight_label(slot))
    updates["overprompt_along"] = gr.update(choices=slots.choices(), value=[s for s in slots.slots if s == "color"]
                                            or list(slots.slots[:1]))
    updates["direction"] = gr.update(choices=[*slots.choices(), DIRECTION_CUSTOM])
    updates["patch"] = gr.update(choices=[("none", NONE_PATCH)] + [(f"step {s}", str(s)) for s in dashboard.run.steps],
                                 value=NONE_PATCH)
    updates["guidance"] = gr.update(visible=dashboard.supports_guidance, value=1.0)
    updates["masked"] = gr.update(visible=dashboard.supports_masking, value=False, label=mask_label(dashboard))
    updates["run"] = gr.update(choices=runs, value=name)
    updates["prompt_class"] = gr.update(
        choices=[f"{label} {name}" for label, name in zip(dashboard.labels, dashboard.names)], value=None)
    assert set(updates) == set(RUN_DEPENDENT)
    return updates


class Runs:
    def __init__(self, explorer: Explorer) -> None:
        self.explorer = explorer

    @user_errors
    def select_run(self, run: str, index: float, criterion: str, shown_run: str | None = None) -> dict[str, Any]:
        """Switch runs, keeping the training step as close as the new run's checkpoints allow."""
        dashboard = self.explorer.dashboard(run, criterion)
        step = None
        if shown_run and shown_run != run:
            try:
                previous = self.explorer.catalog.get(shown_run)
                step = previous.steps[previous.check_index(index)]
            except (RunFolderError, ValueError):
                step = None
        new_index = dashboard.nearest_index(step) if step is not None else len(dashboard.steps) - 1
        return {**run_controls(dashboard, new_index, self.explorer.catalog.names, run), "shown_run": run}

    @user_errors
    def select_criterion(self, run: str, criterion: str) -> str:
        """The learning steps under the chosen criterion (the panels follow in the events after this one)."""
        return captions.learning_summary(self.explorer.dashboard(run, criterion))


def mask_label(dashboard: RunDashboard) -> str:
    """The masked-prompt checkbox's label names the concept the run's mask token stands in for, so the viewer knows
    which concept the prompt then leaves open."""
    concept = dashboard.run.config.train.mask_concept
    return f"leave {CONCEPT_NAMES.get(concept, concept or 'a concept')} unspecified (masked prompt)"
