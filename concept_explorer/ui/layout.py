"""The page: its areas (areas.py) declare components by name, and the events here wire them to the callbacks.

Event policy: the step control and every precomputed panel live in the browser (stepper.py), which tells the
server only the step it settled on, once per burst of changes; cheap lookups run outside the queue with hidden
progress; torch work (live generation, the PNG export) starts at once in gradio's queue and waits its turn in the
server's fair queue (fair_queue.py: one pending request per session, a newer one supersedes it, the least recently
served session first, a bound on how many wait), so a flood of generations never fills gradio's queue nor delays a
cheap event. The live generation that follows the step is `always_last`, the only such handler on its trigger, so
stale steps are skipped in the browser and no two deferred handlers can restart each other. Cheap events that a
viewer can make fail (a typed step, a link, training, exports) are queued in their own wide slot, because gradio
only shows an error or warning message for queued events. Every Python event has an api_name, so the API is the
test surface.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial

import gradio as gr
from gradio.blocks import Block
from gradio.events import Dependency

from ..core.concepts import CONCEPT_ORDER
from . import areas, text
from .compare import Compare
from .explorer import Explorer
from .exports import Exports
from .live_panel import LivePanel
from .runs import RUN_DEPENDENT, Runs
from .settings import GenerationSettings
from .stepper import Stepper
from .sweep_tab import SweepTab
from .train_tab import TrainTab
from .url import VIEW_CONTROLS, ViewLink
from .wiring import Page

TORCH = dict(concurrency_id="live", concurrency_limit=None)
"""Torch work: no limit in gradio's queue, since it waits in the fair queue (Explorer.sample) holding no thread."""
INSTANT = dict(queue=False, show_progress="hidden")
QUEUED = dict(concurrency_id="ui", concurrency_limit=8, show_progress="hidden")
"""For cheap events whose failure a viewer must see: gradio shows gr.Error/gr.Warning only for queued events."""
CHAINED = dict(api_visibility="undocumented")
"""Follow-up steps of chained events: callable by api_name, left off the API page."""

WRITE_URL_JS = """
(query) => {
  const params = new URLSearchParams(query);  // the server's view, with the step the browser shows
  const stepper = window.ceStepper;
  if (stepper && stepper.view) params.set('step', stepper.view.steps[stepper.index]);
  const search = params.toString() ? '?' + params.toString() : '';
  history.replaceState(null, '', location.pathname + search + location.hash);
  if (window.parent !== window) {  // inside a Hugging Face Space: let the outer page keep the same query
    window.parent.postMessage({queryString: search, hash: location.hash}, 'https://huggingface.co');
  }
  return location.origin + location.pathname + search;
}
"""

PRESENT_JS = "(on) => { document.body.classList.toggle('present', !!on); return on; }"

# Inputs and outputs the events share, by component name (a dataclass stands for the controls of its fields).
VIEW = ["run", "checkpoint", "smoothing", "present", "criterion"]
LIVE = ["run", "checkpoint", "smoothing", "present", "criterion", GenerationSettings]
LIVE_OUTPUTS = ["stepper", "live_state"]
COMPARE = ["run", "compare", "checkpoint", "smoothing", "present", "criterion"]
COMPARE_OUTPUTS = ["compare_caption", "compare_left", "compare_left_curves", "compare_right", "compare_right_curves"]
SWITCH_RUN = (["run", "checkpoint", "criterion", "shown_run"], [*RUN_DEPENDENT, "shown_run"])
LIVE_PROGRESS = dict(show_progress="hidden")
"""The stepper shows a stale live grid faded until the new one arrives; a spinner over the whole panel would hide
the plots that scrubbing keeps moving."""


def build_blocks(explorer: Explorer) -> gr.Blocks:
    first = explorer.catalog.get(explorer.default_run)
    trainer = TrainTab(explorer)
    page = Page(roots=explorer.public_roots)
    with gr.Blocks(title=text.TITLE, fill_width=True, delete_cache=explorer.policy.cache_cleanup) as demo:
        page.add(areas.session_state(explorer))
        page.add(areas.header(explorer, first))
        sweeps = SweepTab(explorer)
        with gr.Tabs(elem_id="tabs") as tabs:
            page.add(areas.explore_tab(first))
            page.add(areas.compare_tab(explorer))
            page.add(areas.sweep_tab(sweeps))
            page.add(areas.train_tab(trainer))
            page.add(areas.share_tab())
        page.add(dict(tabs=tabs))
        stepper, live, compare, link = Stepper(explorer), LivePanel(explorer), Compare(explorer), ViewLink(explorer)
        threading.Thread(target=stepper.warm, args=(explorer.default_run,), daemon=True, name="warm").start()
        redraw = partial(redraw_after, page, stepper, compare, live)
        wire_step_control(page, stepper, compare, live)
        wire_explore(page, stepper, compare, live)
        runs = Runs(explorer)
        wire_runs(page, runs, trainer, redraw)
        wire_url(page, demo, link, redraw)
        wire_train(page, trainer)
        wire_sweep(page, sweeps, runs, redraw)
        wire_exports(page, Exports(explorer))
    return demo


def committed(control: Block) -> Callable:
    """The event of a control that says the viewer has settled on a value (not every step of a drag)."""
    if isinstance(control, gr.Slider):
        return control.release
    if isinstance(control, gr.Number):
        return control.submit
    return control.input


def redraw_after(page: Page, stepper: Stepper, compare: Compare, live: LivePanel, event: Dependency,
                 name: str) -> None:
    """Redraw everything once a run (or a whole view) has been set: its numbers, then its grids, then the
    Compare tab, then a live generation."""
    view = page.on(event.then, stepper.show_run, VIEW, ["stepper"], api_name=f"{name}_view", **CHAINED, **INSTANT)
    images = page.on(view.then, stepper.show_images, ["run", "criterion"], ["stepper"],
                     api_name=f"{name}_images", **CHAINED, **INSTANT)
    compared = page.on(images.then, compare.render_compare, COMPARE, COMPARE_OUTPUTS, api_name=f"{name}_compare",
                       **CHAINED, **INSTANT)
    page.on(compared.then, live.generate, LIVE, LIVE_OUTPUTS, api_name=f"{name}_generate", **LIVE_PROGRESS,
            **CHAINED, **TORCH)


def wire_step_control(page: Page, stepper: Stepper, compare: Compare, live: LivePanel) -> None:
    """The browser's settled step becomes `checkpoint`; the Compare tab and the live generation follow it."""
    # always_last: a settled step that arrives while the previous one is in flight must not be dropped (gradio's
    # default, "once", drops it, and the stepper sends each settled step only once).
    page.on(page["stepper"].input, stepper.settle, ["run"], ["checkpoint"], api_name="settle_step",
            trigger_mode="always_last", **INSTANT)
    checkpoint = page["checkpoint"]
    page.on(checkpoint.change, compare.render_compare, COMPARE, COMPARE_OUTPUTS, api_name="show_compare_step",
            **INSTANT)
    page.on(checkpoint.change, live.generate_on_step, ["follow", *LIVE], LIVE_OUTPUTS, api_name="generate_on_step",
            trigger_mode="always_last", **LIVE_PROGRESS, **TORCH)


def wire_explore(page: Page, stepper: Stepper, compare: Compare, live: LivePanel) -> None:
    """Display options (smoothing, presentation mode), the Compare tab's choice, and the live generation panel."""
    smoothing, present = page["smoothing"], page["present"]
    page.on([smoothing.release, present.change], stepper.show_run, VIEW, ["stepper"], api_name="redraw", **INSTANT)
    present.change(None, present, None, js=PRESENT_JS, api_visibility="private")
    page.on([smoothing.release, present.change, page["compare"].input], compare.render_compare, COMPARE,
            COMPARE_OUTPUTS, api_name="compare", **INSTANT)

    settled = [committed(control) for control in page.all(GenerationSettings.names())]
    page.on([*settled, page["generate"].click], live.generate, LIVE, LIVE_OUTPUTS, api_name="generate",
            trigger_mode="always_last", **LIVE_PROGRESS, **TORCH)
    prompted = page.on(page["prompt_class"].input, live.prompt_class, ["run", "prompt_class"], CONCEPT_ORDER,
                       api_name="prompt_class", **QUEUED)
    page.on(prompted.then, live.generate, LIVE, LIVE_OUTPUTS, api_name="prompt_class_generate", **LIVE_PROGRESS,
            **CHAINED, **TORCH)
    page.on(page["direction"].change, live.show_weights, ["direction"], ["weights_box"], api_name="show_weights",
            **INSTANT)


def wire_runs(page: Page, runs: Runs, trainer: TrainTab, redraw: Callable[[Dependency, str], None]) -> None:
    """Switching runs, from the selector or from the Train tab's finished run, and switching criteria (every
    accuracy, curve, caption and phase of the run is redrawn under the new one)."""
    redraw(page.on(page["run"].input, runs.select_run, *SWITCH_RUN, api_name="select_run", **QUEUED), "select_run")
    redraw(page.on(page["criterion"].input, runs.select_criterion, ["run", "criterion"], ["learning"],
                   api_name="select_criterion", **QUEUED), "select_criterion")
    opened = page.on(page["train_open"].click, trainer.open_trained, [], ["run"], api_name="open_trained", **QUEUED)
    redraw(page.on(opened.then, runs.select_run, *SWITCH_RUN, api_name="open_trained_select", **CHAINED, **INSTANT),
           "open_trained")


def wire_url(page: Page, demo: gr.Blocks, link: ViewLink, redraw: Callable[[Dependency, str], None]) -> None:
    """Open the view a link describes, then keep the address bar and the share link on the view."""
    redraw(page.on(demo.load, link.load_view, [], VIEW_CONTROLS, api_name="load_view", **QUEUED), "load_view")
    view = ["run", "checkpoint", "compare", "smoothing", "present", "criterion", GenerationSettings]
    changes = [control.change for control in page.all(["run", "compare", "smoothing", "present", "criterion",
                                                       *GenerationSettings.names()])]
    page.on(changes, link.view_query, view, ["url_state"], api_name="view_query", trigger_mode="always_last",
            **INSTANT)
    page["url_state"].change(None, page["url_state"], page["share_link"], js=WRITE_URL_JS, api_visibility="private")


def wire_train(page: Page, trainer: TrainTab) -> None:
    page.on(page["train_start"].click, trainer.train_start,
            ["delta_color", "delta_size", "train_steps", "train_checkpoints", "train_seed"],
            ["train_status", "train_timer"], api_name="train_start", **QUEUED)
    page.on(page["train_cancel"].click, trainer.train_cancel, [], ["train_status"], api_name="train_cancel",
            **QUEUED)
    page.on(page["train_timer"].tick, trainer.train_poll, ["smoothing", "present"],
            ["train_status", "train_plot", "train_timer", "train_open"], api_name="train_poll", **INSTANT)


SWEEP_CONTROLS = ["sweep", "sweep_axis", "sweep_class", "sweep_concepts", "sweep_value", "sweep_cell", "mask_fraction"]
MASK_FIGURES = (["sweep", "mask_fraction", "criterion", "present"], ["mask_group", "mask_trace", "mask_across",
                                                                     "mask_table"])
SWEEP_FIGURES = (["sweep", "sweep_axis", "sweep_class", "sweep_concepts", "sweep_method", "sweep_value", "criterion",
                  "present"], ["sweep_caption", "sweep_fan", "sweep_learning", "sweep_curves"])


def wire_sweep(page: Page, sweeps: SweepTab, runs: Runs, redraw: Callable[[Dependency, str], None]) -> None:
    """The Sweep tab draws when it is opened or its sweep or axis changes, redraws when a figure's choice, the
    criterion or the type size changes; a cell (the dropdown's, or one clicked in the fan) opens in Explore as a
    run switch. The underspecification view (shown for sweeps of masked runs) follows the same events and its own
    fraction control."""
    chosen = page.on([page["sweep_tab"].select, page["sweep"].input, page["sweep_axis"].input], sweeps.select_sweep,
                     SWEEP_CONTROLS, SWEEP_CONTROLS, api_name="select_sweep", **QUEUED)
    page.on(chosen.success, sweeps.sweep_figures, *SWEEP_FIGURES, api_name="select_sweep_figures", **CHAINED,
            **INSTANT)
    page.on(chosen.success, sweeps.mask_figures, *MASK_FIGURES, api_name="select_mask_figures", **CHAINED, **INSTANT)
    page.on([page["mask_fraction"].input, page["criterion"].input, page["present"].change], sweeps.mask_figures,
            *MASK_FIGURES, api_name="mask_figures", **QUEUED)
    changes = [page[name].input for name in ("sweep_class", "sweep_concepts", "sweep_method", "sweep_value",
                                             "criterion")]
    page.on([*changes, page["present"].change], sweeps.sweep_figures, *SWEEP_FIGURES, api_name="sweep_figures",
            **QUEUED)
    opened = page.on([page["sweep_open"].click, page["sweep_fan_click"].click], sweeps.open_cell,
                     ["sweep", "sweep_cell"], ["run", "tabs"], api_name="open_sweep_cell", **QUEUED)
    redraw(page.on(opened.success, runs.select_run, *SWITCH_RUN, api_name="open_sweep_cell_select", **CHAINED,
                   **INSTANT), "open_sweep_cell")


def wire_exports(page: Page, exports: Exports) -> None:
    page.on(page["export_png"].click, exports.export_grid, ["run", "checkpoint", GenerationSettings],
            ["export_file"], api_name="export_grid", **TORCH)
    page.on(page["export_gif"].click, exports.export_gif, ["run", "smoothing"], ["export_file"],
            api_name="export_gif", concurrency_id="export", concurrency_limit=1)
    page.on(page["export_csv"].click, exports.export_csv, ["run", "criterion"], ["export_file"],
            api_name="export_csv", **QUEUED)
    page.on(page["export_json"].click, exports.export_json, ["run", "criterion"], ["export_file"],
            api_name="export_json", **QUEUED)
