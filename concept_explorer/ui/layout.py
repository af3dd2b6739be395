"""The page: every component declared once, then wired to the callbacks of `Explorer`.

Event policy: cheap lookups (the step control and everything it drives) run outside the queue with hidden
progress, so scrubbing never flickers or waits behind sampling; torch work (live generation, exports that
sample) shares one concurrency slot. Cheap events that a viewer can make fail (a typed step, a link, training,
exports) are queued in their own wide slot, because gradio only shows an error or warning message for queued
events. Every Python event has an api_name, so the API is the test surface.
"""

from __future__ import annotations

from functools import partial

import gradio as gr

from ..core import limits
from ..core.concepts import CONCEPT_ORDER
from ..views import captions
from . import text
from .callbacks import NONE_PATCH, PHASE_BUTTONS, RUN_CONTROLS, SPEEDS, Explorer
from .exports import Exports
from .state import DIRECTION_CUSTOM, ViewState
from .train_tab import TrainTab

TORCH = dict(concurrency_id="torch", concurrency_limit=1)
INSTANT = dict(queue=False, show_progress="hidden")
QUEUED = dict(concurrency_id="ui", concurrency_limit=8, show_progress="hidden")
"""For cheap events whose failure a viewer must see: gradio shows gr.Error/gr.Warning only for queued events."""

WRITE_URL_JS = """
(query) => {
  const search = query ? '?' + query : '';
  history.replaceState(null, '', location.pathname + search + location.hash);
  if (window.parent !== window) {  // inside a Hugging Face Space: let the outer page keep the same query
    window.parent.postMessage({queryString: search, hash: location.hash}, 'https://huggingface.co');
  }
  return location.origin + location.pathname + search;
}
"""

PRESENT_JS = "(on) => { document.body.classList.toggle('present', !!on); return on; }"


def build_blocks(explorer: Explorer) -> gr.Blocks:
    default = ViewState()
    trainer, exports = TrainTab(explorer), Exports(explorer)
    first = explorer.catalog.get(explorer.default_run)
    # The page sets the slider's range per run on load; API sessions keep this default, so it must admit every run's
    # checkpoints (each callback checks the index against its own run).
    most_checkpoints = max(len(explorer.catalog.get(name).steps) for name in explorer.catalog.names)
    with gr.Blocks(title=text.TITLE, fill_width=True, delete_cache=(3600, 7200)) as demo:
        live_state = gr.State(None)
        playing = gr.State(False)
        shown_run = gr.State(explorer.default_run)
        timer = gr.Timer(value=SPEEDS["1×"], active=False)
        train_timer = gr.Timer(2.0, active=False)
        # Outside the tabs on purpose: gradio mounts a tab's components only while it is shown, and the URL must
        # follow the view whichever tab is open.
        url_state = gr.Textbox("", visible="hidden", elem_id="url-state")

        # -- header -----------------------------------------------------------------------------------------------
        with gr.Row(elem_id="header", equal_height=True):
            with gr.Column(scale=6, min_width=320):
                gr.Markdown(f"# {text.TITLE}\n{text.SUBTITLE}", elem_id="title")
            with gr.Column(scale=3, min_width=240, elem_classes=["ce-control"]):
                run_select = gr.Dropdown(explorer.catalog.names, value=explorer.default_run, label="Run",
                                         allow_custom_value=True, elem_id="run-select")
            with gr.Column(scale=1, min_width=150):
                present = gr.Checkbox(False, label="Presentation mode", elem_id="present-toggle")
        run_info = gr.Markdown(captions.describe(first), elem_id="run-info", elem_classes=["ce-control"])

        # -- the shared step control ------------------------------------------------------------------------------
        with gr.Group(elem_id="step-bar"):
            with gr.Row(equal_height=True):
                play = gr.Button("▶ Play", elem_id="play-btn", scale=0, min_width=100, variant="primary")
                speed = gr.Dropdown(list(SPEEDS), value="1×", label="speed", elem_id="speed", scale=0, min_width=90,
                                    container=False)
                back = gr.Button("◀", elem_id="step-prev", scale=0, min_width=56)
                step_slider = gr.Slider(0, most_checkpoints - 1, value=len(first.steps) - 1, step=1,
                                        label="checkpoint", show_label=False, elem_id="step-slider", scale=8,
                                        container=False)
                forward = gr.Button("▶", elem_id="step-next", scale=0, min_width=56)
                step_number = gr.Number(first.steps[-1], label="go to step", elem_id="step-input", precision=0,
                                        minimum=0, scale=0, min_width=130, container=False)
                readout = gr.HTML("", elem_id="step-readout", min_width=220)
            with gr.Row(elem_id="jump-row"):
                jumps = {key: gr.Button(phase.capitalize(), size="sm", elem_id=f"jump-{key}",
                                        elem_classes=["ce-jump", f"ce-jump-{key}"])
                         for key, phase in PHASE_BUTTONS.items()}
        gr.Markdown(text.STEP_HELP, elem_classes=["ce-help", "ce-control"])

        with gr.Tabs(elem_id="tabs"):
            # -- explore ------------------------------------------------------------------------------------------
            with gr.Tab("Explore", id="explore", elem_id="tab-explore"):
                with gr.Row():
                    with gr.Column(scale=6, min_width=420):
                        concept_plot = gr.Plot(label="Concept space", show_label=False, elem_id="concept-plot")
                        caption = gr.Markdown("", elem_id="step-caption")
                        smoothing = gr.Slider(*limits.SMOOTHING.bounds, value=0.0, step=0.25, elem_id="smoothing",
                                              elem_classes=["ce-control"],
                                              label="trajectory smoothing (Gaussian σ, in checkpoints; 0 = raw)")
                        with gr.Accordion("What am I looking at?", open=False, elem_classes=["ce-control"]):
                            gr.Markdown(text.CONCEPT_SPACE_HELP)
                    with gr.Column(scale=5, min_width=380, elem_id="gen-panel"):
                        gr.Markdown("#### Live generation at this checkpoint", elem_id="live-title")
                        live_grid = gr.Image(label="Live generation", show_label=False, format="png", type="numpy",
                                             height=300, elem_id="live-grid", buttons=["download", "fullscreen"],
                                             interactive=False)
                        live_summary = gr.Markdown("", elem_id="live-summary")
                        with gr.Group(elem_classes=["ce-control"], elem_id="gen-controls"):
                            with gr.Row():
                                class_buttons = gr.Radio(
                                    [f"{first.space.class_label(c)} {first.space.class_name(c)}"
                                     for c in first.space.all_classes()], label="prompt a class", value=None,
                                    elem_id="prompt-class")
                            positions = {c: gr.Slider(*limits.POSITION.bounds, value=default.positions[c], step=0.05,
                                                      label=c, visible=c in first.concepts, elem_id=f"pos-{c}")
                                         for c in CONCEPT_ORDER}
                            with gr.Row():
                                overprompt = gr.Slider(*limits.OVERPROMPT.bounds, value=0.0, step=0.25,
                                                       label="overprompt strength", elem_id="overprompt")
                                op_concepts = gr.CheckboxGroup(first.concepts, value=["color"],
                                                               label="overprompt along",
                                                               elem_id="overprompt-concepts")
                            with gr.Row():
                                direction = gr.Radio([*first.concepts, DIRECTION_CUSTOM], value="color",
                                                     label="intervention direction", elem_id="iv-direction")
                                strength = gr.Slider(*limits.STRENGTH.bounds, value=0.0, step=0.25, label="intervention strength",
                                                     elem_id="iv-strength")
                            with gr.Row(visible=False, elem_id="iv-weights") as weights_box:
                                weights = {c: gr.Slider(*limits.WEIGHT.bounds, value=0.0, step=0.1, label=f"{c} weight",
                                                        visible=c in first.concepts, elem_id=f"w-{c}")
                                           for c in CONCEPT_ORDER}
                            with gr.Row():
                                projection = gr.Checkbox(False, label="projection form (e + s(e·d̂)d̂)",
                                                         elem_id="iv-projection")
                                patch = gr.Dropdown([("none", NONE_PATCH)] + [(f"step {s}", str(s))
                                                                               for s in first.run.steps],
                                                    value=NONE_PATCH, label="embedding patched from",
                                                    elem_id="patch-step")
                                guidance = gr.Slider(*limits.GUIDANCE.bounds, value=1.0, step=0.25, label="guidance weight",
                                                     visible=first.supports_guidance, elem_id="guidance")
                            with gr.Row():
                                seed = gr.Number(0, label="seed", precision=0, minimum=0, elem_id="seed", min_width=90)
                                samples = gr.Slider(*limits.SAMPLES.bounds, value=default.samples, step=1, label="samples",
                                                    elem_id="samples")
                                sample_steps = gr.Slider(*limits.SAMPLE_STEPS.bounds, value=default.sample_steps,
                                                         step=1, label="sampling steps", elem_id="sample-steps")
                            with gr.Row():
                                follow = gr.Checkbox(True, label="follow the step control", elem_id="live-follow")
                                generate_button = gr.Button("Generate", variant="primary", elem_id="generate-btn")
                        with gr.Accordion("How does live generation work?", open=False, elem_classes=["ce-control"]):
                            gr.Markdown(text.GENERATION_HELP)
                with gr.Row():
                    with gr.Column(min_width=380):
                        capability_plot = gr.Plot(show_label=False, elem_id="capability-plot")
                        gr.Markdown(text.CAPABILITY_HELP, elem_classes=["ce-help"])
                    with gr.Column(min_width=380):
                        accuracy_plot = gr.Plot(show_label=False, elem_id="accuracy-plot")
                        gr.Markdown(text.ACCURACY_HELP, elem_classes=["ce-help"])
                learning = gr.Markdown(captions.learning_summary(first), elem_id="learning-summary",
                                       elem_classes=["ce-help"])
                with gr.Row():
                    stored_grid = gr.Image(label="Stored generations at this checkpoint", show_label=False,
                                           format="png", type="filepath", elem_id="stored-grid", interactive=False,
                                           buttons=["download"])
                    elicited_grid = gr.Image(label="Held-out class under each elicitation method", show_label=False,
                                             format="png",
                                             type="filepath", elem_id="elicited-grid", interactive=False,
                                             buttons=["download"])
                gr.Markdown(text.GENERATIONS_HELP, elem_classes=["ce-help"])

            # -- compare ------------------------------------------------------------------------------------------
            with gr.Tab("Compare runs", id="compare", elem_id="tab-compare"):
                gr.Markdown(text.COMPARE_HELP, elem_classes=["ce-help"])
                compare_select = gr.Dropdown([""] + explorer.catalog.names, value="", label="Compare with",
                                             allow_custom_value=True, elem_id="compare-select")
                compare_caption = gr.Markdown("", elem_id="compare-caption")
                with gr.Row():
                    with gr.Column():
                        compare_left = gr.Plot(show_label=False, elem_id="compare-left")
                        compare_left_curves = gr.Plot(show_label=False, elem_id="compare-left-curves")
                    with gr.Column():
                        compare_right = gr.Plot(show_label=False, elem_id="compare-right")
                        compare_right_curves = gr.Plot(show_label=False, elem_id="compare-right-curves")

            # -- train --------------------------------------------------------------------------------------------
            with gr.Tab("Train a run", id="train", elem_id="tab-train"):
                gr.Markdown(text.TRAIN_HELP, elem_classes=["ce-help"])
                with gr.Row():
                    delta_color = gr.Slider(*limits.PROBED_DELTA["color"].bounds, value=0.4, step=0.05, label="Δcolor (colour concept signal)",
                                            elem_id="train-dcolor")
                    delta_size = gr.Slider(*limits.PROBED_DELTA["size"].bounds, value=0.4, step=0.05, label="Δsize (size concept signal)",
                                           elem_id="train-dsize")
                    train_steps = gr.Dropdown(list(limits.JOB_STEP_CHOICES), value=600, label="training steps",
                                              elem_id="train-steps")
                    train_checkpoints = gr.Slider(*limits.JOB_CHECKPOINTS.bounds, value=12, step=1, label="checkpoints",
                                                  elem_id="train-checkpoints")
                    train_seed = gr.Number(0, label="seed", precision=0, minimum=0, elem_id="train-seed")
                with gr.Row():
                    train_start = gr.Button("Start training", variant="primary", elem_id="train-start")
                    train_cancel = gr.Button("Cancel", variant="stop", elem_id="train-cancel")
                    train_open = gr.Button("Explore this run", visible=False, elem_id="train-open")
                train_status = gr.Markdown(trainer.status_text(), elem_id="train-status")
                train_plot = gr.Plot(show_label=False, elem_id="train-plot")

            # -- tour ---------------------------------------------------------------------------------------------
            with gr.Tab("Guided tour", id="tour", elem_id="tab-tour"):
                with gr.Walkthrough(selected=0, elem_id="tour") as tour:
                    next_buttons = []
                    for i, (title, body, target) in enumerate(text.TOUR):
                        with gr.Step(title, id=i):
                            gr.Markdown(body, elem_classes=["ce-tour-text"])
                            with gr.Row():
                                if target:
                                    gr.Button("Show me on the timeline", size="sm", variant="primary",
                                              elem_id=f"tour-show-{i}").click(
                                        None, js=f"() => {{ document.getElementById('{target}')?.click(); "
                                                 "document.getElementById('tab-explore-button')?.click(); }",
                                        api_visibility="private")
                                if i + 1 < len(text.TOUR):
                                    next_buttons.append(gr.Button("Next →", size="sm", elem_id=f"tour-next-{i}"))

            # -- share & export -----------------------------------------------------------------------------------
            with gr.Tab("Share & export", id="share", elem_id="tab-share"):
                gr.Markdown(text.SHARE_HELP, elem_classes=["ce-help"])
                share_link = gr.Textbox("", label="Link to this exact view", buttons=["copy"], interactive=False,
                                        elem_id="share-link")
                with gr.Row():
                    export_png = gr.Button("Live grid (PNG)", elem_id="export-png")
                    export_gif = gr.Button("Trajectory animation (GIF)", elem_id="export-gif")
                    export_csv = gr.Button("Data (CSV)", elem_id="export-csv")
                    export_json = gr.Button("Data and phases (JSON)", elem_id="export-json")
                export_file = gr.File(label="Download", elem_id="export-file", interactive=False)

        # -- wiring -----------------------------------------------------------------------------------------------
        generation = [*positions.values(), overprompt, op_concepts, direction, *weights.values(), strength,
                      projection, patch, guidance, seed, samples, sample_steps]
        by_name = {"step": step_slider, **{f"jump_{k}": b for k, b in jumps.items()}, "run_info": run_info,
                   "learning": learning, **{f"pos_{c}": s for c, s in positions.items()},
                   **{f"w_{c}": s for c, s in weights.items()}, "overprompt_along": op_concepts,
                   "direction": direction, "patch": patch, "guidance": guidance, "run": run_select,
                   "prompt_class": class_buttons}
        run_controls = [by_name[name] for name in RUN_CONTROLS]
        panels = [readout, concept_plot, caption, capability_plot, accuracy_plot, stored_grid, elicited_grid,
                  step_number]
        live_outputs = [live_grid, live_summary, live_state, concept_plot]
        compare_outputs = [compare_caption, compare_left, compare_left_curves, compare_right, compare_right_curves]
        view = [run_select, step_slider, smoothing, present, live_state]
        compare_inputs = [run_select, compare_select, step_slider, smoothing, present]
        generate_inputs = [run_select, step_slider, smoothing, present, *generation]

        def after_run_change(event: gr.events.Dependency, name: str) -> gr.events.Dependency:
            """Redraw everything once a run (or a whole view) has been set."""
            chained = dict(api_visibility="undocumented")
            return (event.then(explorer.render_step, view, panels, api_name=f"{name}_panels", **chained, **INSTANT)
                    .then(explorer.render_compare, compare_inputs, compare_outputs, api_name=f"{name}_compare",
                          **chained, **INSTANT)
                    .then(explorer.generate, generate_inputs, live_outputs, show_progress="minimal",
                          show_progress_on=[live_grid], api_name=f"{name}_generate", **chained, **TORCH))

        after_run_change(demo.load(explorer.load_view, None, [
            *run_controls, compare_select, smoothing, present, overprompt, strength, projection, seed, samples,
            sample_steps, weights_box, shown_run], api_name="load_view", **QUEUED), "load_view")
        after_run_change(run_select.input(explorer.select_run, [run_select, step_slider, shown_run],
                                          [*run_controls, shown_run], api_name="select_run", **QUEUED), "select_run")

        step_slider.change(explorer.render_step, view, panels, api_name="show_step", **INSTANT)
        step_slider.change(explorer.render_compare, compare_inputs, compare_outputs, api_name="show_compare_step",
                           **INSTANT)
        step_slider.change(explorer.generate_on_step, [follow, *generate_inputs], live_outputs,
                           api_name="generate_on_step", show_progress="minimal", show_progress_on=[live_grid],
                           trigger_mode="always_last", **TORCH)
        back.click(partial(explorer.step_by, delta=-1), [run_select, step_slider], step_slider, api_name="step_back",
                   **INSTANT)
        forward.click(partial(explorer.step_by, delta=1), [run_select, step_slider], step_slider,
                      api_name="step_forward", **INSTANT)
        gr.on([step_number.submit, step_number.blur], explorer.go_to_step, [run_select, step_number], step_slider,
              api_name="go_to_step", **QUEUED)
        for key, button in jumps.items():
            button.click(partial(explorer.jump, phase_key=key), run_select, step_slider, api_name=f"jump_{key}",
                         **INSTANT)
        play.click(explorer.toggle_play, [playing, speed, run_select, step_slider], [playing, play, timer, step_slider],
                   api_name="toggle_play", **INSTANT)
        timer.tick(explorer.tick, [run_select, step_slider, playing], [step_slider, playing, play, timer],
                   api_name="tick", **INSTANT)
        speed.change(explorer.set_speed, [speed, playing], timer, api_name="set_speed", **INSTANT)

        gr.on([smoothing.release, present.change], explorer.render_step, view, panels, api_name="redraw", **INSTANT)
        present.change(None, present, None, js=PRESENT_JS, api_visibility="private")
        gr.on([smoothing.release, present.change, compare_select.input], explorer.render_compare, compare_inputs,
              compare_outputs, api_name="compare", **INSTANT)

        gr.on([*(s.release for s in positions.values()), overprompt.release, strength.release,
               *(w.release for w in weights.values()), op_concepts.input, direction.input, projection.input,
               patch.input, guidance.release, seed.submit, samples.release, sample_steps.release,
               generate_button.click],
              explorer.generate, generate_inputs, live_outputs, api_name="generate", show_progress="minimal",
              show_progress_on=[live_grid], trigger_mode="always_last", **TORCH)
        class_buttons.input(explorer.prompt_class, [run_select, class_buttons], list(positions.values()),
                            api_name="prompt_class", **QUEUED).then(
            explorer.generate, generate_inputs, live_outputs, show_progress="minimal", show_progress_on=[live_grid],
            api_name="prompt_class_generate", api_visibility="undocumented", **TORCH)
        direction.change(explorer.show_weights, direction, weights_box, api_name="show_weights", **INSTANT)

        gr.on([step_slider.change, run_select.change, compare_select.change, smoothing.change, present.change,
               *(c.change for c in generation)],
              explorer.view_query, [run_select, step_slider, compare_select, smoothing, present, *generation],
              url_state, api_name="view_query", trigger_mode="always_last", **INSTANT)
        url_state.change(None, url_state, share_link, js=WRITE_URL_JS, api_visibility="private")

        train_start.click(trainer.train_start, [delta_color, delta_size, train_steps, train_checkpoints, train_seed],
                          [train_status, train_timer], api_name="train_start", **QUEUED)
        train_cancel.click(trainer.train_cancel, None, train_status, api_name="train_cancel", **QUEUED)
        train_timer.tick(trainer.train_poll, [smoothing, present], [train_status, train_plot, train_timer, train_open],
                         api_name="train_poll", **INSTANT)
        after_run_change(train_open.click(trainer.open_trained, None, run_select, api_name="open_trained", **QUEUED)
                         .then(explorer.select_run, [run_select, step_slider, shown_run], [*run_controls, shown_run],
                               api_name="open_trained_select", api_visibility="undocumented", **INSTANT),
                         "open_trained")

        for i, button in enumerate(next_buttons):
            button.click(partial(explorer.tour_step, target=i + 1), None, tour, api_name=f"tour_next_{i}",
                         api_visibility="undocumented", **INSTANT)

        export_png.click(exports.export_grid, [run_select, step_slider, *generation], export_file,
                         api_name="export_grid", **TORCH)
        export_gif.click(exports.export_gif, [run_select, smoothing], export_file, api_name="export_gif",
                         concurrency_id="export", concurrency_limit=1)
        export_csv.click(exports.export_csv, run_select, export_file, api_name="export_csv", **QUEUED)
        export_json.click(exports.export_json, run_select, export_file, api_name="export_json", **QUEUED)
    return demo
