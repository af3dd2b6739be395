"""Everything the page needs to scrub a run's trajectory in the browser, as one JSON-ready value.

A run's precomputed view is small (32 checkpoints × 4 classes of numbers, plus tiny native-resolution sample
grids), so it is sent once per run and the browser redraws every precomputed panel on a step change without a
server round trip (ui/assets/stepper.js). The figures are the same plotly specs the report uses, drawn without a
current-step marker; the browser draws the marker (the classes' points at that checkpoint, read off the first
`classes` traces, the trajectories) and the step line on the curves. Images are PNG data URIs at native
resolution without text: the page upscales them by a whole-number factor and writes their labels as text.
"""

from __future__ import annotations

from typing import Any

from . import captions
from . import images as raster
from .run_view import PHASE_HELP, RunDashboard


def grid_data(grid: raster.LabelledGrid | None) -> dict[str, Any] | None:
    """A text-free grid as the page shows it: the picture, and its rows' labels and colours."""
    if grid is None:
        return None
    return {"src": raster.png_data_uri(grid.image, scale=1), "rows": grid.labels, "colors": grid.colors}


def step_view(view: RunDashboard, smoothing: float = 0.0, large: bool = False) -> dict[str, Any]:
    """The numbers and figures of a run's precomputed panels (see the module docstring)."""
    phases = [{"name": name, "step": step, "index": view.nearest_index(step), "help": PHASE_HELP.get(name, "")}
              for name, step in view.jump_targets.items()]
    return {
        "run": view.run.name,
        "header": captions.headline(view),
        "steps": list(view.steps),
        "classes": len(view.labels),
        "classNames": [n + (" (held out)" if h else "") for n, h in zip(view.names, view.heldout)],
        "classColors": raster.class_colors(view.heldout),
        "heldout": view.heldout_name,
        "figures": {
            "concept": view.concept_space(None, smoothing, large=large),
            "capability": view.capability(None, large),
            "accuracy": view.accuracy(None, large),
        },
        "captions": [captions.step_caption(view, i) for i in range(len(view.steps))],
        "seedNote": captions.seed_summary(view),  # under the capability figure; empty without sibling seeds
        "phases": phases,  # in time order (Phases.jump_targets)
        "large": large,
    } | (three_concepts(view, smoothing, large) if len(view.planes) > 1 else {})


def three_concepts(view: RunDashboard, smoothing: float, large: bool) -> dict[str, Any]:
    """What a run of three or more concepts adds: concept space in every pair of concepts (the page shows one at a
    time, the first being `figures.concept`), the held-out classes' distance against learning time, and every
    class's learning steps. A 2-concept run's view has none of these keys."""
    return {
        "planes": [{"name": view.plane_name(axes), "axes": list(axes),
                    "figure": view.concept_space(None, smoothing, large=large, axes=axes)} for axes in view.planes],
        "distanceTime": view.distance_time_figure(large),
        "learningTable": view.learning_table(),
    }


def step_images(view: RunDashboard) -> dict[str, Any]:
    """The run's sample grids at native resolution, per checkpoint (stored, elicited) and per phase (the strip of
    plain prompting beside the best elicitation), sent after the numbers."""
    return {
        "run": view.run.name,
        "stored": [grid_data(view.generation_grid(i, scale=1)) for i in range(len(view.steps))],
        "elicited": [grid_data(view.elicited_grid(i, scale=1)) for i in range(len(view.steps))],
        "strip": [{"phase": tile.phase, "step": tile.step, "explanation": tile.explanation,
                   "index": view.nearest_index(tile.step), **grid_data(tile.grid)} for tile in view.phase_strip(scale=1)],
    }
