"""The areas of the page, one builder each: it declares the area's components and returns them by name.

Names are how events find components (layout.py wires them), so a component is declared once, here. The
generation panel names each control after its GenerationSettings field.
"""

from __future__ import annotations

import gradio as gr
from gradio.blocks import Block

from ..analysis.definitions import CRITERIA, DEFAULT_CRITERION
from ..core import limits
from ..core.concepts import CONCEPT_ORDER
from ..views import captions
from ..views.run_view import RunDashboard
from ..views.sweep_view import concept_name
from . import text
from .explorer import Explorer
from .runs import mask_label
from .settings import DIRECTION_CHOICES, DIRECTION_CUSTOM, NONE_PATCH, GenerationSettings
from .stepper import ASSETS, stepper_component
from .sweep_tab import MASK_HELP, NO_SWEEP, SWEEP_HELP, SweepTab
from .train_tab import TrainTab

Components = dict[str, Block]


def session_state(explorer: Explorer) -> Components:
    """Per-session values and timers. The hidden ones sit outside the tabs on purpose: gradio mounts a tab's
    components only while it is shown, and they must follow the view whichever tab is open. `checkpoint` is the
    index of the step the browser's step control settled on (stepper.py), which the other events read."""
    return dict(live_state=gr.State(None), shown_run=gr.State(explorer.default_run),
                train_timer=gr.Timer(2.0, active=False),
                checkpoint=gr.Number(0, precision=0, visible="hidden", elem_id="checkpoint"),
                url_state=gr.Textbox("", visible="hidden", elem_id="url-state"))


def header(explorer: Explorer, first: RunDashboard) -> Components:
    with gr.Row(elem_id="header", equal_height=True):
        with gr.Column(scale=6, min_width=240):
            gr.Markdown(f"# {text.TITLE}\n{text.SUBTITLE}", elem_id="title")
        with gr.Column(scale=3, min_width=200, elem_classes=["ce-control"]):
            run = gr.Dropdown(explorer.catalog.names, value=explorer.default_run, label="Run",
                              allow_custom_value=True, elem_id="run-select")
        with gr.Column(scale=2, min_width=200, elem_classes=["ce-control"]):
            criterion = gr.Radio(list(CRITERIA), value=DEFAULT_CRITERION, label="criterion", info=text.CRITERION_INFO,
                                 elem_id="criterion")
        with gr.Column(scale=1, min_width=150):
            present = gr.Checkbox(False, label="Presentation mode", elem_id="present-toggle")
    run_info = gr.Markdown(captions.describe(first), elem_id="run-info", elem_classes=["ce-control"])
    return dict(run=run, criterion=criterion, present=present, run_info=run_info)


def explore_tab(first: RunDashboard) -> Components:
    """The step control and every precomputed panel (one browser-side component), beside the live generation
    controls."""
    with gr.Tab("Explore", id="explore", elem_id="tab-explore"):
        with gr.Row(elem_id="explore-row"):
            with gr.Column(scale=3, min_width=300, elem_id="stepper-column"):
                tab = dict(stepper=stepper_component())
                gr.Markdown(text.STEP_HELP, elem_classes=["ce-help", "ce-control"])
                tab["smoothing"] = gr.Slider(*limits.SMOOTHING.bounds, value=0.0, step=0.25, elem_id="smoothing",
                                             elem_classes=["ce-control"],
                                             label="trajectory smoothing (Gaussian σ, in checkpoints; 0 = raw)")
                with gr.Accordion("What am I looking at?", open=False, elem_classes=["ce-control"]):
                    gr.Markdown(text.CONCEPT_SPACE_HELP)
                    gr.Markdown(text.CAPABILITY_HELP)
                    gr.Markdown(text.ACCURACY_HELP)
                    gr.Markdown(text.GENERATIONS_HELP)
                tab["learning"] = gr.Markdown(captions.learning_summary(first), elem_id="learning-summary",
                                              elem_classes=["ce-help"])
            with gr.Column(scale=1, min_width=280, elem_id="gen-panel", elem_classes=["ce-control"]):
                gr.Markdown("#### Live generation", elem_id="live-title")
                tab |= generation_panel(first)
                with gr.Accordion("How does live generation work?", open=False):
                    gr.Markdown(text.GENERATION_HELP)
    return tab


def generation_panel(first: RunDashboard) -> Components:
    """The live generation controls: one component per GenerationSettings field, under the field's name."""
    default = GenerationSettings()
    with gr.Group(elem_classes=["ce-control"], elem_id="gen-controls"):
        with gr.Row():
            panel = dict(prompt_class=gr.Radio([f"{first.space.class_label(c)} {first.space.class_name(c)}"
                                                for c in first.space.all_classes()], label="prompt a class",
                                               value=None, elem_id="prompt-class"))
        # Labelled by slot (the API page names components by their first label); a run's labels come with the run.
        panel |= {c: gr.Slider(*limits.POSITION.bounds, value=position, step=0.05, label=c,
                               visible=c in first.slots.slots, elem_id=f"pos-{c}")
                  for c, position in default.positions().items()}
        with gr.Row():
            panel["overprompt"] = gr.Slider(*limits.OVERPROMPT.bounds, value=default.overprompt, step=0.25,
                                            label="overprompt strength", elem_id="overprompt")
            panel["overprompt_along"] = gr.CheckboxGroup(first.slots.choices(), value=list(default.overprompt_along),
                                                         label="overprompt along", elem_id="overprompt-concepts")
        with gr.Row():
            panel["direction"] = gr.Radio([*first.slots.choices(), DIRECTION_CUSTOM], value=default.direction,
                                          label="intervene along", elem_id="iv-direction")
        with gr.Row():
            panel["strength"] = gr.Slider(*limits.STRENGTH.bounds, value=default.strength, step=0.25,
                                          label="intervention strength", elem_id="iv-strength")
            panel["direction_kind"] = gr.Dropdown(DIRECTION_CHOICES, value=default.direction_kind, label="direction",
                                                  info=text.DIRECTION_INFO, elem_id="iv-direction-kind", min_width=120)
        with gr.Row(visible=False, elem_id="iv-weights") as weights_box:
            panel |= {f"w_{c}": gr.Slider(*limits.WEIGHT.bounds, value=weight, step=0.1, label=f"{c} weight",
                                          visible=c in first.slots.slots, elem_id=f"w-{c}")
                      for c, weight in default.weights().items()}
        panel["weights_box"] = weights_box
        with gr.Row():
            panel["projection"] = gr.Checkbox(default.projection, label="projection form (e + s(e·d̂)d̂)",
                                              elem_id="iv-projection")
            panel["patch"] = gr.Dropdown([("none", NONE_PATCH)] + [(f"step {s}", str(s)) for s in first.run.steps],
                                         value=default.patch, label="embedding patched from", elem_id="patch-step")
            panel["guidance"] = gr.Slider(*limits.GUIDANCE.bounds, value=default.guidance, step=0.25,
                                          label="guidance weight", visible=first.supports_guidance,
                                          elem_id="guidance")
            panel["masked"] = gr.Checkbox(default.masked, label=mask_label(first), visible=first.supports_masking,
                                          elem_id="masked")
        with gr.Row():
            panel["seed"] = gr.Number(default.seed, label="seed", precision=0, minimum=0, elem_id="seed",
                                      min_width=90)
            panel["samples"] = gr.Slider(*limits.SAMPLES.bounds, value=default.samples, step=1, label="samples",
                                         elem_id="samples")
            panel["sample_steps"] = gr.Slider(*limits.SAMPLE_STEPS.bounds, value=default.sample_steps, step=1,
                                              label="sampling steps", elem_id="sample-steps")
        with gr.Row():
            panel["follow"] = gr.Checkbox(True, label="follow the step control", elem_id="live-follow")
            panel["generate"] = gr.Button("Generate", variant="primary", elem_id="generate-btn")
    return panel


def compare_tab(explorer: Explorer) -> Components:
    with gr.Tab("Compare runs", id="compare", elem_id="tab-compare"):
        gr.Markdown(text.COMPARE_HELP, elem_classes=["ce-help"])
        tab = dict(compare=gr.Dropdown([""] + explorer.catalog.names, value="", label="Compare with",
                                       allow_custom_value=True, elem_id="compare-select"),
                   compare_caption=gr.Markdown("", elem_id="compare-caption"))
        with gr.Row():
            for side in ("left", "right"):
                with gr.Column():
                    tab[f"compare_{side}"] = gr.Plot(show_label=False, elem_id=f"compare-{side}")
                    tab[f"compare_{side}_curves"] = gr.Plot(show_label=False, elem_id=f"compare-{side}-curves")
    return tab


def sweep_tab(sweeps: SweepTab) -> Components:
    """A sweep's figures (filled when the tab is opened) and the control that opens one of its cells in Explore."""
    names = sweeps.catalog.sweep_names
    with gr.Tab("Sweep", id="sweep", elem_id="tab-sweep") as tab:
        gr.Markdown(SWEEP_HELP if names else NO_SWEEP, elem_classes=["ce-help"], elem_id="sweep-help")
        area = dict(sweep_tab=tab)
        with gr.Column(visible=bool(names)):
            with gr.Row():
                area["sweep"] = gr.Dropdown(names, value=names[0] if names else None, label="Sweep",
                                            allow_custom_value=True, elem_id="sweep-select")
                area["sweep_axis"] = gr.Dropdown([], label="grid axis", visible=False, allow_custom_value=True,
                                                 elem_id="sweep-axis")
            area["sweep_caption"] = gr.Markdown("", elem_id="sweep-caption")
            with gr.Row():
                with gr.Column(scale=1, min_width=320):
                    area["sweep_fan"] = gr.Plot(show_label=False, elem_id="sweep-fan")
                    area["sweep_fan_click"] = gr.HTML(  # its click event names the cell clicked in the fan
                        "Click a run's held-out line, its star or its marker to open that run in Explore.",
                        js_on_load=(ASSETS / "sweep_fan.js").read_text(), elem_id="sweep-fan-click",
                        elem_classes=["ce-help"])
                with gr.Column(scale=1, min_width=320):
                    with gr.Row():
                        area["sweep_class"] = gr.Dropdown([], label="class", allow_custom_value=True,
                                                         elem_id="sweep-class")
                        area["sweep_method"] = gr.Radio([("plain prompting", "plain"), ("best elicitation",
                                                                                         "elicited")],
                                                        value="plain", label="learned by", elem_id="sweep-method")
                    area["sweep_concepts"] = gr.CheckboxGroup(  # every concept: the values any sweep may send
                        [(concept_name(c), c) for c in (*CONCEPT_ORDER, "joint")], label="concepts",
                        elem_id="sweep-concepts")
                    area["sweep_learning"] = gr.Plot(show_label=False, elem_id="sweep-learning")
            with gr.Row():
                with gr.Column(scale=1, min_width=200):
                    area["sweep_value"] = gr.Dropdown([], label="curves at axis value", allow_custom_value=True,
                                                      elem_id="sweep-value")
                    area["sweep_cell"] = gr.Dropdown([], label="a cell of the sweep", allow_custom_value=True,
                                                     elem_id="sweep-cell")
                    area["sweep_open"] = gr.Button("Open in Explore", elem_id="sweep-open")
                with gr.Column(scale=3, min_width=320):
                    area["sweep_curves"] = gr.Plot(show_label=False, elem_id="sweep-curves")
            with gr.Column(visible=False, elem_id="mask-view") as area["mask_group"]:
                gr.Markdown(MASK_HELP, elem_classes=["ce-help"])
                area["mask_fraction"] = gr.Radio([], label="masked fraction f", elem_id="mask-fraction")
                with gr.Row():
                    with gr.Column(scale=1, min_width=320):
                        area["mask_trace"] = gr.Plot(show_label=False, elem_id="mask-trace")
                    with gr.Column(scale=1, min_width=320):
                        area["mask_across"] = gr.Plot(show_label=False, elem_id="mask-across")
                area["mask_table"] = gr.Markdown("", elem_id="mask-table")
    return area


def train_tab(trainer: TrainTab) -> Components:
    with gr.Tab("Train a run", id="train", elem_id="tab-train"):
        gr.Markdown(text.TRAIN_HELP, elem_classes=["ce-help"])
        with gr.Row():
            tab = dict(
                delta_color=gr.Slider(*limits.PROBED_DELTA["color"].bounds, value=0.4, step=0.05,
                                      label="Δcolor (colour concept signal)", elem_id="train-dcolor"),
                delta_size=gr.Slider(*limits.PROBED_DELTA["size"].bounds, value=0.4, step=0.05,
                                     label="Δsize (size concept signal)", elem_id="train-dsize"),
                train_steps=gr.Dropdown(trainer.step_choices(), value=600, label="training steps",
                                        elem_id="train-steps"),
                train_checkpoints=gr.Slider(*limits.JOB_CHECKPOINTS.bounds, value=12, step=1, label="checkpoints",
                                            elem_id="train-checkpoints"),
                train_seed=gr.Number(0, label="seed", precision=0, minimum=0, elem_id="train-seed"),
            )
        with gr.Row():
            tab["train_start"] = gr.Button("Start training", variant="primary", elem_id="train-start")
            tab["train_cancel"] = gr.Button("Cancel", variant="stop", elem_id="train-cancel")
            tab["train_open"] = gr.Button("Explore this run", visible=False, elem_id="train-open")
        tab["train_status"] = gr.Markdown(trainer.status_text(), elem_id="train-status")
        tab["train_plot"] = gr.Plot(show_label=False, elem_id="train-plot")
    return tab


def share_tab() -> Components:
    with gr.Tab("Share & export", id="share", elem_id="tab-share"):
        gr.Markdown(text.SHARE_HELP, elem_classes=["ce-help"])
        tab = dict(share_link=gr.Textbox("", label="Link to this exact view", buttons=["copy"], interactive=False,
                                         elem_id="share-link"))
        with gr.Row():
            tab |= dict(export_png=gr.Button("Live grid (PNG)", elem_id="export-png"),
                        export_gif=gr.Button("Trajectory animation (GIF)", elem_id="export-gif"),
                        export_csv=gr.Button("Data (CSV)", elem_id="export-csv"),
                        export_json=gr.Button("Data and phases (JSON)", elem_id="export-json"))
        tab["export_file"] = gr.File(label="Download", elem_id="export-file", interactive=False)
    return tab
