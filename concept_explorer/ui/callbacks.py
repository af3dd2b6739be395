"""The explorer's callbacks: runs, the shared step control, panels, live generation, comparison and the URL.

No tensor math and no file formats here. Every failure a viewer can cause becomes one `gr.Error` sentence and
the server keeps serving. Values are validated again here because API clients can send anything.
"""

from __future__ import annotations

import atexit
import itertools
import math
import shutil
import tempfile
import threading
import weakref
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np

from ..analysis.jobs import TrainingJob
from ..analysis.live import LiveGenerator, LiveResult, LiveSettings
from ..core.concepts import CONCEPT_ORDER, LEVEL_NAMES
from ..core.limits import finite
from ..core.run import RunFolderError
from ..views import captions
from ..views import images as raster
from ..views.catalog import RunCatalog
from ..views.plots import message_spec
from ..views.run_view import PHASE_ORDER, RunDashboard
from .common import plot, smoothing_value, user_errors
from .state import DIRECTION_CUSTOM, ViewState

PHASE_BUTTONS = dict(zip(("training", "memorization", "hidden", "generalization"), PHASE_ORDER))
SPEEDS = {"0.5×": 1.6, "1×": 0.8, "2×": 0.4, "4×": 0.2}
"""Play speed → seconds per checkpoint."""
NONE_PATCH = "none"
GENERATION_CONTROLS = ("shape", "color", "size", "bg", "overprompt", "overprompt_along", "direction", "w_shape",
                       "w_color", "w_size", "w_bg", "strength", "projection", "patch", "guidance", "seed", "samples",
                       "sample_steps")
"""The generation panel's controls, in the order the layout passes them."""
RUN_CONTROLS = ("step", "jump_training", "jump_memorization", "jump_hidden", "jump_generalization", "run_info",
                "learning", *(f"pos_{c}" for c in CONCEPT_ORDER), *(f"w_{c}" for c in CONCEPT_ORDER),
                "overprompt_along", "direction", "patch", "guidance", "run", "prompt_class")
"""The controls that depend on the run, in the order `run_controls` updates them."""
LiveState = dict[str, Any] | None
"""What a session remembers of its last live generation: run, step, label and per-sample coordinates (tiny)."""


def _index(dashboard: RunDashboard, index: Any) -> int:
    return dashboard.check_index(index)


class Explorer:
    """State shared by every session of one server: the runs, the live generator and the training job."""

    def __init__(self, catalog: RunCatalog, live: LiveGenerator, job: TrainingJob,
                 default_run: str | None = None) -> None:
        self.catalog = catalog
        self.live = live
        self.job = job
        names = catalog.names
        if not names:
            problems = "; ".join(catalog.problems.values()) or "no run folders were found"
            raise RunFolderError(f"No run can be shown ({problems}). Train and evaluate one, or pass a run folder.")
        self.default_run = default_run if default_run in names else names[0]
        self.export_dir = Path(tempfile.mkdtemp(prefix="concept-explorer-exports-"))
        atexit.register(shutil.rmtree, self.export_dir, ignore_errors=True)
        # Per dashboard (a rebuilt dashboard of a growing run starts afresh), (index, large, kind) → PNG path.
        self._grid_files: weakref.WeakKeyDictionary[RunDashboard, dict] = weakref.WeakKeyDictionary()
        self._grid_names = itertools.count()
        self._grid_lock = threading.Lock()

    def dashboard(self, run: Any) -> RunDashboard:
        if not isinstance(run, str) or not run:
            raise ValueError("Choose a run first.")
        return self.catalog.get(run)

    # -- run-dependent controls -------------------------------------------------------------------------------------
    def run_controls(self, dashboard: RunDashboard, index: int) -> dict[str, Any]:
        """Updates of every control whose range, choices or visibility depend on the run, keyed like
        RUN_CONTROLS (the layout passes the components in that order)."""
        concepts = dashboard.concepts
        updates: dict[str, Any] = {"step": gr.update(maximum=len(dashboard.steps) - 1, value=index)}
        for key, phase in PHASE_BUTTONS.items():
            step = dashboard.jump_targets.get(phase)
            label = f"{phase.capitalize()} · " + (f"step {step}" if step is not None else "not reached")
            updates[f"jump_{key}"] = gr.update(value=label, interactive=step is not None)
        updates["run_info"] = captions.describe(dashboard)
        updates["learning"] = captions.learning_summary(dashboard)
        for c in CONCEPT_ORDER:
            updates[f"pos_{c}"] = gr.update(visible=c in concepts, label=_axis_label(c))
        for c in CONCEPT_ORDER:
            updates[f"w_{c}"] = gr.update(visible=c in concepts, label=f"{c} weight")
        updates["overprompt_along"] = gr.update(choices=concepts, value=[c for c in concepts if c == "color"]
                                                or concepts[:1])
        updates["direction"] = gr.update(choices=[*concepts, DIRECTION_CUSTOM])
        updates["patch"] = gr.update(choices=[("none", NONE_PATCH)] + [(f"step {s}", str(s))
                                                                      for s in dashboard.run.steps], value=NONE_PATCH)
        updates["guidance"] = gr.update(visible=dashboard.supports_guidance, value=1.0)
        updates["run"] = gr.update(choices=self.catalog.names, value=dashboard.run.name)
        updates["prompt_class"] = gr.update(
            choices=[f"{label} {name}" for label, name in zip(dashboard.labels, dashboard.names)], value=None)
        assert tuple(updates) == RUN_CONTROLS
        return updates

    @user_errors
    def select_run(self, run: str, index: float, current_run: str | None = None) -> list:
        """Switch runs, keeping the training step as close as the new run's checkpoints allow."""
        dashboard = self.dashboard(run)
        step = None
        if current_run and current_run != run:
            try:
                previous = self.catalog.get(current_run)
                step = previous.steps[previous.check_index(index)]
            except (RunFolderError, ValueError):
                step = None
        new_index = dashboard.nearest_index(step) if step is not None else len(dashboard.steps) - 1
        return [*self.run_controls(dashboard, new_index).values(), run]

    # -- the step control -------------------------------------------------------------------------------------------
    @user_errors
    def render_step(self, run: str, index: float, smoothing: float, present: bool, live_state: LiveState) -> list:
        """Every precomputed panel at one checkpoint: a lookup plus JSON, no sampling."""
        dashboard = self.dashboard(run)
        i = _index(dashboard, index)
        smoothing = smoothing_value(smoothing)
        large = bool(present)
        step = dashboard.steps[i]
        readout = (f"<div class='ce-readout'><span class='ce-step'>step {step:,}</span>"
                   f"<span class='ce-ckpt'>checkpoint {i + 1} of {len(dashboard.steps)}</span></div>")
        stored = self._grid_file(dashboard, i, large, "stored")
        elicited = self._grid_file(dashboard, i, large, "elicited")
        return [
            readout,
            plot(self._concept_spec(dashboard, i, smoothing, large, live_state)),
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
            path = self.export_dir / "grids" / f"{next(self._grid_names)}-{kind}-{index}.png"
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(raster.png_bytes(image))
        with self._grid_lock:
            return files.setdefault(key, None if path is None else str(path))

    def _concept_spec(self, dashboard: RunDashboard, index: int, smoothing: float, large: bool,
                      live_state: LiveState) -> dict:
        points, name, faded = None, "live", False
        if live_state and live_state.get("run") == dashboard.run.name and live_state.get("points"):
            points = np.array(live_state["points"], dtype=float)
            faded = live_state.get("step") != dashboard.steps[index]
            name = f"live: {live_state.get('name', '')} @ step {live_state.get('step')}"
        return dashboard.concept_space(index, smoothing, points, name, faded, large,
                                       title=f"Concept space at step {dashboard.steps[index]:,}")

    @user_errors
    def step_by(self, run: str, index: float, delta: int) -> int:
        dashboard = self.dashboard(run)
        return int(np.clip(_index(dashboard, index) + delta, 0, len(dashboard.steps) - 1))

    @user_errors
    def go_to_step(self, run: str, step: float) -> int:
        """A typed training step, snapped to the nearest evaluated checkpoint."""
        dashboard = self.dashboard(run)
        step = finite("Step", step)
        if step < 0:
            raise ValueError(f"Step must be 0 or more, got {step:g}.")
        return dashboard.nearest_index(step)

    @user_errors
    def jump(self, run: str, phase_key: str) -> int:
        dashboard = self.dashboard(run)
        phase = PHASE_BUTTONS[phase_key]
        if phase not in dashboard.jump_targets:
            raise ValueError(f"{run} has no '{phase}' phase (not reached within its checkpoints).")
        return dashboard.nearest_index(dashboard.jump_targets[phase])

    @user_errors
    def toggle_play(self, playing: bool, speed: str, run: str, index: float) -> list:
        """Play or pause; playing from the last checkpoint starts again from the first."""
        dashboard = self.dashboard(run)
        i = _index(dashboard, index)
        playing = not bool(playing)
        restart = playing and i == len(dashboard.steps) - 1
        return [playing, gr.update(value="⏸ Pause" if playing else "▶ Play"),
                gr.Timer(value=SPEEDS.get(speed, 0.8), active=playing), 0 if restart else gr.skip()]

    @user_errors
    def tick(self, run: str, index: float, playing: bool) -> list:
        """Advance one checkpoint; stop at the end."""
        dashboard = self.dashboard(run)
        i = _index(dashboard, index)
        if not playing:
            return [i, False, gr.update(value="▶ Play"), gr.Timer(active=False)]
        if i >= len(dashboard.steps) - 1:
            return [i, False, gr.update(value="▶ Play"), gr.Timer(active=False)]
        return [i + 1, True, gr.skip(), gr.skip()]

    @user_errors
    def set_speed(self, speed: str, playing: bool) -> gr.Timer:
        if speed not in SPEEDS:
            raise ValueError(f"Unknown speed {speed!r}; choose from {list(SPEEDS)}.")
        return gr.Timer(value=SPEEDS[speed], active=bool(playing))

    # -- live generation --------------------------------------------------------------------------------------------
    def settings(self, dashboard: RunDashboard, index: float, controls: dict[str, Any]) -> LiveSettings:
        """LiveSettings from the generation panel's controls, by name (GENERATION_CONTROLS)."""
        missing = [name for name in GENERATION_CONTROLS if name not in controls]
        if missing:
            raise ValueError(f"Missing generation settings {missing}.")
        (p_shape, p_color, p_size, p_bg, overprompt, op_concepts, direction, w_shape, w_color, w_size, w_bg,
         strength, projection, patch, guidance, seed, samples, sample_steps) = (
            controls[name] for name in GENERATION_CONTROLS)
        concepts = dashboard.concepts
        positions = dict(zip(CONCEPT_ORDER, (p_shape, p_color, p_size, p_bg)))
        if direction in concepts:
            weights = {c: float(c == direction) for c in concepts}
        elif direction == DIRECTION_CUSTOM:
            weights = dict(zip(CONCEPT_ORDER, (w_shape, w_color, w_size, w_bg)))
        else:
            raise ValueError(f"Unknown intervention direction {direction!r}; choose one of {concepts} or "
                             f"{DIRECTION_CUSTOM!r}.")
        if patch in (None, "", NONE_PATCH):
            patch_step = None
        else:
            try:
                patch_step = int(str(patch).removeprefix("step ").strip())
            except ValueError:
                raise ValueError(f"Unknown patch source {patch!r}; choose a checkpoint step or 'none'.") from None
        op_concepts = list(op_concepts or [])
        return LiveSettings(
            step=dashboard.steps[_index(dashboard, index)],
            concept_vector=tuple(positions[c] for c in concepts), overprompt=overprompt,
            overprompt_concepts=tuple(op_concepts), intervention=tuple(weights[c] for c in concepts),
            intervention_strength=strength, projection=bool(projection), patch_step=patch_step,
            guidance=guidance, seed=seed, samples=samples, sample_steps=sample_steps,
        )

    @user_errors
    def generate(self, run: str, index: float, smoothing: float, present: bool, shape: float = 1.0,
                 color: float = 1.0, size: float = 1.0, bg: float = 1.0, overprompt: float = 0.0,
                 overprompt_along: list[str] | None = None, direction: str = "color", w_shape: float = 0.0,
                 w_color: float = 0.0, w_size: float = 0.0, w_bg: float = 0.0, strength: float = 0.0,
                 projection: bool = False, patch: str = NONE_PATCH, guidance: float = 1.0, seed: float = 0,
                 samples: float = 16, sample_steps: float = 20) -> list:
        """Sample the checkpoint at the panel's settings (cached), and redraw concept space with the samples."""
        arguments = dict(locals())
        controls = {name: arguments[name] for name in GENERATION_CONTROLS}
        dashboard = self.dashboard(run)
        result = self.live.generate(dashboard.run, self.settings(dashboard, index, controls))
        i = _index(dashboard, index)
        live_state = _live_state(dashboard, result)
        grid = raster.image_grid(result.images, columns=8, scale=4 if dashboard.space.resolution <= 16 else 2)
        return [grid, _live_summary(result), live_state,
                plot(self._concept_spec(dashboard, i, smoothing_value(smoothing), bool(present), live_state))]

    def generate_on_step(self, follow: bool, run: str, index: float, smoothing: float, present: bool,
                         *controls: Any) -> list:
        """Follow the step control with the live generation, when the viewer wants that (controls in the order
        of GENERATION_CONTROLS)."""
        if not follow:
            return [gr.skip()] * 4
        return self.generate(run, index, smoothing, present, *controls)

    @user_errors
    def prompt_class(self, run: str, label: str) -> list:
        """Set the concept sliders to a class's means."""
        dashboard = self.dashboard(run)
        code = dashboard.space.parse_class(str(label).split(" ")[0])
        values = dict(zip(dashboard.concepts, code))
        return [gr.update(value=float(values[c])) if c in values else gr.skip() for c in CONCEPT_ORDER]

    # -- compare ----------------------------------------------------------------------------------------------------
    @user_errors
    def render_compare(self, run: str, other: str | None, index: float, smoothing: float, present: bool) -> list:
        dashboard = self.dashboard(run)
        i = _index(dashboard, index)
        smoothing, large = smoothing_value(smoothing), bool(present)
        step = dashboard.steps[i]
        left = [plot(dashboard.concept_space(i, smoothing, large=large, height=480,
                                             title=f"{dashboard.run.name} · step {step:,}")),
                plot(dashboard.capability(i, large, height=340))]
        if not other:
            empty = plot(message_spec("Choose a second run to compare.", 340, large))
            return ["Choose a second run to compare.", *left, empty, empty]
        second = self.dashboard(other)
        j = second.nearest_index(step)
        caption = (f"Left: {captions.describe(dashboard)}  \nRight: {captions.describe(second)}  \nThe right run is shown at its "
                   f"checkpoint nearest to step {step:,}: step {second.steps[j]:,}.")
        return [caption, *left,
                plot(second.concept_space(j, smoothing, large=large, height=480,
                                          title=f"{second.run.name} · step {second.steps[j]:,}")),
                plot(second.capability(j, large, height=340))]

    # -- the view in the URL ----------------------------------------------------------------------------------------
    def view_query(self, run: str, index: float, compare: str | None, smoothing: float, present: bool,
                   *controls: Any) -> str:
        """The query string of the current view (never fails: a half-typed value just leaves it out). Controls
        come in the order of GENERATION_CONTROLS."""
        try:
            dashboard = self.catalog.get(run)
            step = dashboard.steps[dashboard.check_index(index)]
        except (RunFolderError, ValueError):
            return ""
        (p_shape, p_color, p_size, p_bg, overprompt, op_concepts, direction, w_shape, w_color, w_size, w_bg,
         strength, projection, patch, guidance, seed, samples, sample_steps) = controls
        try:
            state = ViewState(
                run=run if run != self.default_run else None, step=step, compare=compare or None,
                positions=dict(zip(CONCEPT_ORDER, (p_shape, p_color, p_size, p_bg))), overprompt=overprompt,
                overprompt_concepts=tuple(op_concepts or ()), direction=direction,
                weights=dict(zip(CONCEPT_ORDER, (w_shape, w_color, w_size, w_bg))), strength=strength,
                projection=bool(projection), patch=None if patch in (None, "", NONE_PATCH) else int(patch),
                guidance=guidance, seed=int(seed) if _is_number(seed) else 0, samples=int(samples),
                sample_steps=int(sample_steps), smoothing=smoothing, present=bool(present),
            )
        except (TypeError, ValueError):
            return ""
        return state.to_query()

    def load_view(self, request: gr.Request) -> list:
        """Open the view a link describes (or the default view), warning about parameters it had to ignore."""
        params = dict(request.query_params) if request is not None else {}
        state, problems = ViewState.from_query(params)
        run = state.run or self.default_run
        if run not in self.catalog.names:
            problems.append(f"The link's run {run!r} is not on this server; showing {self.default_run}.")
            run = self.default_run
        dashboard = self.catalog.get(run)
        index = len(dashboard.steps) - 1 if state.step is None else dashboard.nearest_index(state.step)
        for problem in problems:
            gr.Warning(problem)
        compare = state.compare if state.compare in self.catalog.names else None
        controls = self.run_controls(dashboard, index)
        # Merge the link's values into the run-dependent updates (a component appears once among the outputs).
        concepts = dashboard.concepts
        for concept in CONCEPT_ORDER:
            controls[f"pos_{concept}"]["value"] = float(state.positions[concept])
            controls[f"w_{concept}"]["value"] = float(state.weights[concept])
        direction = state.direction if state.direction in [*concepts, DIRECTION_CUSTOM] else concepts[0]
        controls["overprompt_along"]["value"] = [c for c in state.overprompt_concepts if c in concepts]
        controls["direction"]["value"] = direction
        controls["patch"]["value"] = str(state.patch) if state.patch in dashboard.run.steps else NONE_PATCH
        controls["guidance"]["value"] = state.guidance if dashboard.supports_guidance else 1.0
        return [
            *controls.values(), gr.update(choices=[""] + self.catalog.names, value=compare or ""), state.smoothing,
            state.present, state.overprompt, state.strength, state.projection, state.seed, state.samples,
            state.sample_steps, gr.update(visible=direction == DIRECTION_CUSTOM), run,
        ]

    def tour_step(self, target: int) -> gr.Walkthrough:
        return gr.Walkthrough(selected=target)

    def show_weights(self, direction: str) -> Any:
        return gr.update(visible=direction == DIRECTION_CUSTOM)


# -- helpers ---------------------------------------------------------------------------------------------------------
def _axis_label(concept: str) -> str:
    low, high = LEVEL_NAMES[concept]
    return f"{concept}: {low} (0) ↔ {high} (1)"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _live_state(dashboard: RunDashboard, result: LiveResult) -> LiveState:
    points = None
    if result.coordinates is not None:
        present = result.presence >= 0.5
        points = np.round(result.coordinates[present], 4).tolist()
    return {"run": dashboard.run.name, "step": result.settings.step, "name": result.target_name, "points": points}


def _live_summary(result: LiveResult) -> str:
    s = result.settings
    parts = [f"Step {s.step:,}, prompt nearest **{result.target_name}**"]
    if s.overprompt:
        parts.append(f"overprompt {s.overprompt:g} on {', '.join(s.overprompt_concepts) or 'nothing'}")
    if s.intervention_strength:
        parts.append(f"intervention {s.intervention_strength:g}{' (projection)' if s.projection else ''}")
    if s.patch_step is not None:
        parts.append(f"embedding from step {s.patch_step:,}")
    if s.guidance != 1.0:
        parts.append(f"guidance {s.guidance:g}")
    text = ", ".join(parts) + f". {result.summary()} ({s.samples} samples, {s.sample_steps} sampling steps, seed "
    text += f"{s.seed}; {result.seconds:.2f} s)"
    for note in result.notes:
        text += f"  \n{note}"
    return text
