"""Callbacks of the Sweep tab: a sweep's fan of held-out trajectories, learning time against its grid axis and one
axis value's curves over seeds, all drawn from its results.json (views/sweep_view.py); and opening one of its
cells in the Explore tab when the cell's weights are here."""

from __future__ import annotations

from typing import Any

import gradio as gr

from ..analysis.definitions import check_criterion
from ..analysis.sweep_results import LearningTimes, learning_times
from ..core.limits import shown
from ..views import masking_view, sweep_view
from ..views.catalog import SweepRecord
from ..views.plots import message_spec
from .common import plot, user_errors
from .explorer import Explorer

MAKE_SWEEP = ("concept-explorer sweep --preset cpu --grid concept_space.delta_color=0.2,0.3,0.4,0.5,0.6,0.8 "
              "--seeds 0,1 --out runs/sweep-color")
NO_SWEEP = (f"No sweep on this server yet. Make one (a grid of runs over Δcolor and seeds, each trained, evaluated and "
            f"elicited; resumable) with\n\n`{MAKE_SWEEP}`\n\nthen restart the app: sweeps under checkpoints/ and "
            "runs/ appear here.")
SWEEP_HELP = (
    "A **sweep** trains the same model at every value of a grid axis (here usually Δcolor, the colour concept "
    "signal) and several seeds. The fan draws each run's held-out trajectory in concept space, coloured by its axis "
    "value (drag the slider under it to move every run's marker to one training step; stars are turning points); "
    "the learning-time figure asks whether a stronger signal is learned sooner (Spearman ρ, with a bootstrap "
    "interval over seeds); the curves show one axis value's accuracy over seeds. Everything here comes from the "
    "sweep's results.json, so it works without any cell's weights. A sweep of runs trained with **masked "
    "prompts** (over train.mask_fraction f) also shows the underspecification experiment below."
)
MASK_HELP = (
    "**Underspecified prompts.** These runs left the colour out of a fraction f of one training class's prompts "
    "(red triangles' captions say just \"triangle\"). Does \"triangle\" come to mean red, so that a prompt that "
    "*does* say blue draws red triangles as f grows? And can overprompting, intervention or guidance draw a blue "
    "triangle before plain prompting does? Left: for the chosen f, the colour of the held-out prompt's samples per "
    "checkpoint (plainly, under each method, and for the masked prompt itself); right: late in training, against f."
)
MEMO_SIZE = 256


class SweepTab:
    def __init__(self, explorer: Explorer) -> None:
        self.explorer = explorer
        self.catalog = explorer.catalog
        self._times: dict[tuple, LearningTimes] = {}  # learning_times runs a bootstrap: kept per sweep version

    # -- choosing a sweep -------------------------------------------------------------------------------------------
    def _record(self, sweep: Any) -> SweepRecord | None:
        """The chosen sweep, the first one when none is chosen, None when there is none at all."""
        if not sweep:
            names = self.catalog.sweep_names
            if not names:
                return None
            sweep = names[0]
        if not isinstance(sweep, str):
            raise ValueError("Choose a sweep by its name.")
        return self.catalog.sweep(sweep)

    @user_errors
    def select_sweep(self, sweep: str | None, axis: str | None, label: str | None, concepts: list[str] | None,
                     value: str | None, cell: str | None, fraction: str | None) -> dict[str, Any]:
        """The choices of every Sweep-tab control for the chosen sweep, keeping each current value it still has."""
        record = self._record(sweep)
        if record is None:
            return {}
        results = record.results
        grid = list(results["grid"])
        axis = axis if axis in grid else grid[0]
        cells = results["cells"]
        fractions = masking_view.fractions_of(results)
        updates: dict[str, Any] = {
            "sweep": gr.update(choices=self.catalog.sweep_names, value=record.name),
            "sweep_axis": gr.update(choices=grid, value=axis, visible=len(grid) > 1),
            "mask_fraction": gr.update(choices=fractions, value=fraction if fraction in fractions else
                                       (fractions[-1] if fractions else None)),
        }
        if not cells:
            return updates
        first = cells[0]
        heldout = first["heldout"][0]
        updates["sweep_class"] = gr.update(
            choices=[(f"{name} (held out)" if lab in first["heldout"] else name, lab)
                     for lab, name in zip(first["labels"], first["names"])],
            value=label if label in first["labels"] else heldout)
        options = [*first["concepts"], "joint"]
        kept = [c for c in (concepts or []) if c in options]
        updates["sweep_concepts"] = gr.update(choices=[(sweep_view.concept_name(c), c) for c in options],
                                              value=kept or options)
        values = [f"{v:g}" for v in sweep_view.axis_values(results, axis)]
        updates["sweep_value"] = gr.update(choices=values, value=value if value in values else
                                           values[len(values) // 2])
        names = [c["name"] for c in cells]
        runs = set(self.catalog.names)
        updates["sweep_cell"] = gr.update(
            choices=[(sweep_view.cell_title(c, axis) + ("" if self.catalog.cell_run(record.name, c["name"]) in runs
                                                        else " (no weights here)"), c["name"]) for c in cells],
            value=cell if cell in names else names[0])
        return updates

    # -- the figures ------------------------------------------------------------------------------------------------
    def _learning_times(self, record: SweepRecord, label: str, concept: str, axis: str, criterion: str,
                        method: str) -> LearningTimes:
        key = (record.name, record.stamp, label, concept, axis, criterion, method)
        if key not in self._times:
            if len(self._times) >= MEMO_SIZE:
                self._times.clear()
            self._times[key] = learning_times(record.results, label, concept, axis, criterion, method)
        return self._times[key]

    @user_errors
    def sweep_figures(self, sweep: str | None, axis: str | None, label: str | None, concepts: list[str] | None,
                      method: str, value: str | None, criterion: str, present: bool) -> list:
        """Caption, fan, learning time and curves of the chosen sweep under `criterion`."""
        check_criterion(criterion)
        large = bool(present)
        record = self._record(sweep)
        if record is None:
            return [NO_SWEEP, *(plot(message_spec(text, 420, large)) for text in (
                "No sweep yet: see the command above.", "", ""))]
        results = record.results
        axis = axis or next(iter(results["grid"]))
        if axis not in results["grid"]:
            raise ValueError(f"{axis} is not an axis of {record.name}; its axes are {list(results['grid'])}.")
        if not results["cells"]:
            empty = plot(message_spec(f"No cell of {record.name} has finished yet.", 420, large))
            return [sweep_view.sweep_caption(results, [], criterion, record.sweep.counts()), empty, empty, empty]
        first = results["cells"][0]
        heldout = first["heldout"][0]
        label = label or heldout
        if label not in first["labels"]:
            raise ValueError(f"Unknown class {label!r}; choose one of {', '.join(first['labels'])}.")
        options = [*first["concepts"], "joint"]
        concepts = options if concepts is None else list(concepts)
        unknown = [c for c in concepts if c not in options]
        if unknown:
            raise ValueError(f"Unknown concept {unknown[0]!r}; choose from {', '.join(options)}.")
        if method not in sweep_view.METHODS:
            raise ValueError(f"Unknown method {method!r}; choose plain or elicited.")
        if method == "elicited" and any(c["criteria"][criterion]["numbers"] is None for c in results["cells"]):
            raise ValueError(f"Some cells of {record.name} ran without elicitation (--no-elicit), so they have no "
                             "elicited learning time; choose plain prompting.")
        shown = sweep_view.axis_values(results, axis)
        number = _axis_value(value, shown, axis)
        caption_times = [self._learning_times(record, heldout, c, axis, criterion, "plain") for c in options]
        times = [self._learning_times(record, label, c, axis, criterion, method) for c in concepts]
        class_name = first["names"][first["labels"].index(label)]
        return [sweep_view.sweep_caption(results, caption_times, criterion, record.sweep.counts()),
                plot(sweep_view.fan_spec(results, criterion, axis, large=large)),
                plot(sweep_view.learning_time_spec(times, class_name, method, criterion, large)),
                plot(sweep_view.curves_spec(results, number, axis, criterion, large=large))]

    @user_errors
    def mask_figures(self, sweep: str | None, fraction: str | None, criterion: str, present: bool) -> list:
        """The underspecification view of the chosen sweep (views/masking_view.py), shown only when the sweep has
        cells trained with masked prompts: the chosen fraction's trace, the across-f figure and the table."""
        check_criterion(criterion)
        record = self._record(sweep)
        fractions = masking_view.fractions_of(record.results) if record is not None else []
        if not fractions:
            return [gr.update(visible=False), gr.skip(), gr.skip(), gr.skip()]
        shown = [float(f) for f in fractions]
        number = _axis_value(fraction, shown, "the masked fraction f") if fraction not in (None, "") else shown[-1]
        trace, across, table = masking_view.masking_specs(record.results, number, None, criterion, bool(present))
        return [gr.update(visible=True), plot(trace), plot(across), masking_view.table_markdown(table)]

    # -- a cell in the Explore tab ----------------------------------------------------------------------------------
    @user_errors
    def open_cell(self, sweep: str | None, cell: str | None, event: gr.EventData | None = None) -> dict[str, Any]:
        """The cell's run name for the run selector, and the Explore tab (the run switch follows in the next
        event); a clear message when the cell's weights are not here. The cell is the dropdown's, or the one
        clicked in the fan, which the browser names in the click's event data (assets/sweep_fan.js)."""
        clicked = getattr(event, "_data", None)  # EventData raises on a missing key instead of returning None
        if isinstance(clicked, dict) and "cell" in clicked:
            cell = clicked["cell"]
        record = self._record(sweep)
        if record is None:
            raise ValueError("There is no sweep on this server yet.")
        names = [c["name"] for c in record.results["cells"]]
        if cell not in names:
            raise ValueError(f"Choose a finished cell of {record.name}; {shown(cell)} is not one.")
        run = self.catalog.cell_run(record.name, cell)
        if run is None or run not in self.catalog.names:
            raise ValueError(f"The weights of {cell} are not bundled, so it cannot be opened in Explore; reproduce "
                             f"the sweep with `{sweep_view.reproduce_command(record.sweep.data, f'runs/{record.name}')}`"
                             " (its figures here need only results.json).")
        return {"run": run, "tabs": gr.Tabs(selected="explore")}


def _axis_value(value: Any, shown: list[float], axis: str) -> float:
    """The curves' axis value: `value` when it is a finished cell's, else the middle one."""
    if value in (None, ""):
        return shown[len(shown) // 2]
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{axis} = {value!r} is not a number.") from None
    if not any(abs(number - v) < 1e-9 for v in shown):
        raise ValueError(f"No finished cell has {axis} = {number:g}; choose one of "
                         f"{', '.join(f'{v:g}' for v in shown)}.")
    return number
