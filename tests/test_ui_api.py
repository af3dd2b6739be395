"""The app through its API: launch it on tiny runs, call every api_name with gradio_client, including bad inputs,
and check each failure is one clear sentence while the server keeps serving.

The step control and the precomputed panels live in the browser (ui/stepper.py): here the server's side of them is
checked, the props it sends the stepper (`view`, `images`, `live`) and the settled step it hears back."""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from gradio_client import Client  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402
from ui_runs import launched_app, tiny_config, tiny_mask_run  # noqa: E402

from concept_explorer.analysis.elicit import DEFAULT_DIRECTION
from concept_explorer.ui import train_tab  # noqa: E402
from concept_explorer.ui.settings import GenerationSettings  # noqa: E402
from concept_explorer.ui.state import ViewState  # noqa: E402
from concept_explorer.ui.url import VIEW_CONTROLS  # noqa: E402

pytestmark = pytest.mark.slow

PUBLIC = {
    "/load_view", "/select_run", "/select_criterion", "/settle_step", "/show_compare_step", "/generate_on_step", "/redraw", "/compare",
    "/generate", "/prompt_class", "/show_weights", "/view_query", "/train_start", "/train_cancel", "/train_poll",
    "/open_trained", "/export_grid", "/export_gif", "/export_csv", "/export_json",
    "/select_sweep", "/sweep_figures", "/open_sweep_cell",  # the Sweep tab (tests/test_sweep_view.py)
    "/mask_figures",  # its underspecification view (tests/test_underspecification.py)
}
CHAINED = {*(f"/{switch}_{step}" for switch in ("load_view", "select_run", "select_criterion", "open_trained",
                                                "open_sweep_cell")
             for step in ("view", "images", "compare", "generate")),
           "/open_trained_select", "/prompt_class_generate", "/select_sweep_figures", "/open_sweep_cell_select",
           "/select_mask_figures"}
"""Follow-up steps of chained events: callable by name, left out of the API page."""
PNG_URI = "data:image/png;base64,"
RUNS = "available runs: plain, cfg, short."


def controls(**changes: object) -> list:
    """The generation panel's values as API parameters: the page's defaults, fewer samples, then `changes`."""
    return list(GenerationSettings(**({"samples": 4, "sample_steps": 10} | changes)).values().values())


def tiny_job_config(delta_color: float, delta_size: float, num_steps: int, checkpoints: int, seed: int):
    """The Train tab's run, shrunk like the test runs so a training job takes seconds."""
    steps = int(num_steps) // 100
    return tiny_config(concept_space__delta_color=delta_color, concept_space__delta_size=delta_size,
                       train__num_steps=steps, train__checkpoint_steps=(steps // 2, steps), train__seed=int(seed))


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(train_tab, "job_config", tiny_job_config)
        with launched_app(tmp_path_factory, "ui-app") as (demo, url):
            yield demo, Client(url, verbose=False)
            demo.explorer.job.cancel()
            demo.explorer.job.wait(30)


@pytest.fixture(scope="module")
def client(app) -> Client:
    return app[1]


@pytest.fixture
def mask_run(app, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The tiny run trained with masked prompts, offered by the app for one test (its name), then taken off again so
    the other tests' run list holds."""
    catalog = app[0].explorer.catalog
    path = tiny_mask_run(tmp_path_factory.mktemp("mask-run"))
    yield catalog.add(path)
    catalog.forget([path])


def one_sentence(message: str) -> str:
    """An error as a viewer sees it: one line, no traceback."""
    assert message and "\n" not in message and "Traceback" not in message, message
    return message


def error_of(client: Client, *args: object, api_name: str) -> str:
    with pytest.raises(AppError) as caught:
        client.predict(*args, api_name=api_name)
    return one_sentence(str(caught.value))


def by_label(client: Client, api_name: str, result: tuple) -> dict[str, Any]:
    """An endpoint's results keyed by their components' labels (as the API page lists them)."""
    returns = client.view_api(return_format="dict", print_info=False)["named_endpoints"][api_name]["returns"]
    assert len(returns) == len(result)
    return {r["label"]: value for r, value in zip(returns, result)}


def stepper(update: dict, prop: str) -> Any:
    """A prop an event sets on the stepper (a gr.HTML with the custom props `view`, `images` and `live`).
    gradio_client returns such an update as sent: {"__type__": "update", "props": {prop: value}, ...}."""
    assert update["__type__"] == "update", update
    return update["props"][prop]


def decoded(uri: str) -> Image.Image:
    assert uri.startswith(PNG_URI)
    picture = Image.open(io.BytesIO(base64.b64decode(uri[len(PNG_URI):])))
    assert picture.format == "PNG"
    return picture


def http_run(client: Client, api_name: str, body: str | dict, query: str = "") -> httpx.Response:
    """A call through the HTTP API, as a browser or script makes it: the body may carry what gradio_client cannot
    send (event data, NaN), the address a query string (a shared link)."""
    url = client.src.rstrip("/") + f"/gradio_api/run{api_name}" + (f"?{query}" if query else "")
    if isinstance(body, dict):
        return httpx.post(url, json=body, timeout=30)
    return httpx.post(url, content=body, headers={"content-type": "application/json"}, timeout=30)


def layout_update(client: Client, api_name: str, *args: object) -> dict:
    """The update a layout element (a row) gets: gradio_client leaves those out of its results, the
    HTTP API does not."""
    response = http_run(client, api_name, {"data": list(args)})
    assert response.status_code == 200, response.text
    (update,) = response.json()["data"]
    return update


def settle(client: Client, run: str, index: str) -> httpx.Response:
    """The stepper's settled-step event for checkpoint `index` (raw JSON): the browser sends the index as event
    data, which gradio_client has no way to send."""
    return http_run(client, "/settle_step", f'{{"data": ["{run}"], "event_data": {{"index": {index}, "step": 0}}}}')


def test_every_event_has_a_public_api_name(app, client):
    endpoints = set(client.view_api(return_format="dict", print_info=False)["named_endpoints"])
    assert endpoints == PUBLIC
    fns = app[0].fns.values()
    assert {f"/{fn.api_name}" for fn in fns if fn.api_visibility == "undocumented"} == CHAINED
    assert all(fn.fn is None for fn in fns if fn.api_visibility == "private")  # only browser-side events


def test_load_view_opens_the_default_run_at_its_first_checkpoint(client):
    result = client.predict(api_name="/load_view")
    controls = by_label(client, "/load_view", result)
    # [checkpoint (hidden, no label), run info, learning steps, ...]: a view without a step starts at the start
    assert result[0] == 0
    assert result[1].startswith("plain · preset cpu") and "(Δcolor = 0.4" in result[1]
    assert controls["color"]["visible"] is True and controls["shape"]["visible"] is False
    assert controls["samples"] == 16 and controls["embedding patched from"]["value"] == "none"
    view = stepper(client.predict("plain", 0, 0.0, False, "strict", api_name="/load_view_view"), "view")
    assert (view["run"], view["steps"], view["start"], view["large"]) == ("plain", [2, 4, 6], 0, False)
    assert len(view["captions"]) == 3 and "stored" not in view  # the grids follow in an event of their own
    images = stepper(client.predict("plain", "strict", api_name="/load_view_images"), "images")
    assert images["run"] == "plain" and len(images["stored"]) == len(images["elicited"]) == 3
    assert all(decoded(grid["src"]) for grid in images["stored"])


def test_a_link_opens_its_run_at_the_nearest_checkpoint(client):
    for query, index, run in (("run=cfg&step=4", 1, "cfg"), ("run=short&step=6000", 1, "short"),
                              ("step=5", 1, "plain")):  # a tie goes to the earlier checkpoint
        response = http_run(client, "/load_view", {"data": []}, query=query)
        assert response.status_code == 200, response.text
        data = response.json()["data"]  # [checkpoint, run info, ...]
        assert data[0] == index and data[1].startswith(f"{run} · preset"), query
    with pytest.warns(UserWarning, match="The link's run 'ghost' is not on this server; showing plain."):
        data = http_run(client, "/load_view", {"data": []}, query="run=ghost&step=6").json()["data"]
    assert data[0] == 2 and data[1].startswith("plain · preset")


def test_the_stepper_view_carries_the_run_its_start_and_its_type_size(app, client):
    dashboard = app[0].explorer.catalog.get("plain")
    view = stepper(client.predict("plain", 1, 0.0, False, "strict", api_name="/redraw"), "view")
    assert view["run"] == "plain" and view["steps"] == [2, 4, 6] and view["start"] == 1
    assert view["heldout"] == "blue-small" and "blue-small" in view["captions"][1]
    concept = view["figures"]["concept"]
    dashes = [t["line"]["dash"] for t in concept["data"] if t.get("mode") == "lines+markers"]
    assert dashes == ["dash", "dash", "dash", "solid"]
    assert not any(str(t.get("name")).startswith("step ") for t in concept["data"])  # the page marks the step
    assert view["figures"]["capability"]["data"] and view["figures"]["accuracy"]["data"]
    assert [(p["name"], p["step"], p["index"]) for p in view["phases"]] == [
        (name, step, dashboard.nearest_index(step)) for name, step in dashboard.jump_targets.items()]
    large = stepper(client.predict("plain", 2, 1.5, True, "strict", api_name="/redraw"), "view")  # presentation mode
    assert large["large"] is True and large["start"] == 2
    assert {name: f["layout"]["font"]["size"] for name, f in large["figures"].items()} == {
        "concept": 20, "capability": 20, "accuracy": 20}
    assert large["figures"]["concept"]["data"][0]["x"] != concept["data"][0]["x"]  # smoothed


def test_the_criterion_selector_redraws_the_run_under_the_chosen_criterion(client):
    assert client.predict("plain", "lenient", api_name="/select_criterion").startswith(
        "Learning steps under the lenient criterion")
    for criterion in ("strict", "lenient"):
        view = stepper(client.predict("plain", 1, 0.0, False, criterion, api_name="/select_criterion_view"), "view")
        assert view["start"] == 1 and all(c.endswith(".") and f"({criterion})" in c for c in view["captions"])
        capability = view["figures"]["capability"]
        assert capability["layout"]["title"]["text"] == f"Hidden capability: blue-small ({criterion})"
        # plain has a seed sibling beside it (tests/ui_runs.py): its band and spread follow the criterion too
        assert "plain prompt: range over 2 seeds" in [t["name"] for t in capability["data"]]
        assert view["seedNote"].startswith(f"Over 2 seeds ({criterion}), learning steps of blue-small")
    images = stepper(client.predict("plain", "lenient", api_name="/select_criterion_images"), "images")
    assert images["run"] == "plain" and len(images["strip"]) >= 1
    caption, *_ = client.predict("plain", "cfg", 1, 0.0, False, "lenient", api_name="/select_criterion_compare")
    assert "Both are scored under the lenient criterion." in caption
    cfg = stepper(client.predict("cfg", 1, 0.0, False, "strict", api_name="/redraw"), "view")
    assert cfg["seedNote"] == "" and not any(t.get("fill") for t in cfg["figures"]["capability"]["data"])
    assert "Unknown criterion 'loose'; choose from ['strict', 'lenient']." == error_of(
        client, "plain", "loose", api_name="/select_criterion")
    response = http_run(client, "/load_view", {"data": []}, query="run=plain&criterion=lenient")
    assert response.status_code == 200, response.text
    assert response.json()["data"][VIEW_CONTROLS.index("criterion")] == "lenient"  # outputs in VIEW_CONTROLS order


def test_the_settled_step_becomes_the_checkpoint_the_other_events_read(client):
    response = settle(client, "plain", "1")
    assert response.status_code == 200 and response.json()["data"] == [1]
    for run, index, message in (
            ("plain", "3", "Checkpoint index must be a whole number from 0 to 2, got 3."),
            ("short", "2", "Checkpoint index must be a whole number from 0 to 1, got 2."),
            ("plain", "1.5", "Checkpoint index must be a whole number from 0 to 2, got 1.5."),
            ("plain", "NaN", "Checkpoint index must be a finite number, got nan."),
            ("ghost", "1", f"Unknown run 'ghost'; {RUNS}")):
        response = settle(client, run, index)
        assert response.status_code == 500 and one_sentence(response.json()["error"]) == message, response.text
    # What `checkpoint.change` runs: the Compare tab and the live generation follow the settled step.
    caption, *_ = client.predict("plain", "cfg", 1, 0.0, False, "strict", api_name="/show_compare_step")
    assert "nearest to step 4: step 4" in caption
    followed = stepper(client.predict(True, "plain", 1, 0.0, False, "strict", *controls(), api_name="/generate_on_step"),
                       "live")
    assert followed["step"] == 4 and followed["summary"].startswith("Step 4")


def test_a_settled_step_without_event_data_is_refused_clearly(client):
    response = http_run(client, "/settle_step", {"data": ["plain"]})
    assert response.status_code == 500
    assert response.json()["error"] == "Checkpoint index must be a finite number, got None."


def test_bad_inputs_give_a_clear_error_and_the_server_keeps_serving(client):
    assert f"Unknown run 'nope'; {RUNS}" in error_of(client, "nope", 1, 0.0, False, "strict", api_name="/redraw")
    assert "Checkpoint index must be a whole number from 0 to 2, got 99." in error_of(
        client, "plain", 99, 0.0, False, "strict", api_name="/redraw")
    assert "Checkpoint index must be a whole number from 0 to 1, got 2." in error_of(
        client, "short", 2, 0.0, False, "strict", api_name="/select_run_view")
    assert "Unknown run 'nope'" in error_of(client, "nope", "strict", api_name="/select_run_images")
    assert "smoothing must be between 0 and 3, got 7.0." == error_of(client, "plain", 1, 7.0, False, "strict",
                                                                     api_name="/redraw")
    assert "smoothing must be between 0 and 3, got 7.0." == error_of(client, "plain", "", 1, 7.0, False, "strict",
                                                                     api_name="/show_compare_step")
    assert "Unknown run" in error_of(client, "plain", "nope", 1, 0.0, False, "strict", api_name="/compare")
    assert "trained without a null token" in error_of(
        client, "plain", 2, 0.0, False, "strict", *controls(guidance=3.0), api_name="/generate")
    assert "Checkpoint index must be a whole number from 0 to 2, got 7." in error_of(
        client, "plain", 7, 0.0, False, "strict", *controls(), api_name="/generate")
    assert "Unknown class '22'; this concept space has 00 (red-large)" in error_of(client, "plain", "22 green-huge",
                                                                                  api_name="/prompt_class")
    # still serving
    assert stepper(client.predict("plain", 2, 0.0, False, "strict", api_name="/redraw"), "view")["start"] == 2


def test_nan_sent_as_raw_json_is_refused_cleanly(client):
    """gradio_client refuses to send NaN, a browser or script can: post it to the HTTP API directly."""
    response = http_run(client, "/redraw", '{"data": ["plain", NaN, 0.0, false, "strict"]}')
    assert response.status_code >= 400  # gradio's own type check refuses NaN before our callback runs
    assert stepper(client.predict("plain", 2, 0.0, False, "strict", api_name="/redraw"), "view")["start"] == 2


def test_select_run_keeps_the_step_within_the_new_runs_checkpoints(client):
    """The run a session shows is session state: a fresh client is a fresh page showing plain (steps 2, 4, 6)."""
    session = Client(client.src, verbose=False)
    # plain at step 6 to short (steps 2, 4): short's last checkpoint, never an index past it (with the old step
    # slider that was an HTTP 500, "Value 31 is greater than maximum value 2")
    short = session.predict("short", 2, "strict", api_name="/select_run")
    assert short[0] == 1 and by_label(session, "/select_run", short)["Run"]["value"] == "short"
    view = stepper(session.predict("short", short[0], 0.0, False, "strict", api_name="/select_run_view"), "view")
    assert (view["run"], view["steps"], view["start"]) == ("short", [2, 4], 1)
    assert session.predict("plain", 1, "strict", api_name="/select_run")[0] == 1  # short's step 4 is plain's step 4
    cfg = session.predict("cfg", 1, "strict", api_name="/select_run")
    assert cfg[0] == 1 and "null token for guidance" in cfg[1]
    # The guidance slider shows for a run trained with a null token only.
    assert by_label(session, "/select_run", cfg)["guidance weight"]["visible"] is True
    plain = session.predict("plain", 1, "strict", api_name="/select_run")
    assert by_label(session, "/select_run", plain)["guidance weight"]["visible"] is False
    assert session.predict("cfg", 31, "strict", api_name="/select_run")[0] == 2  # an index the shown run lacks: the end
    assert "Unknown run" in error_of(session, "ghost", 1, "strict", api_name="/select_run")
    images = stepper(session.predict("short", "strict", api_name="/select_run_images"), "images")
    assert images["run"] == "short" and len(images["stored"]) == 2
    assert "Right: plain · preset" in session.predict("cfg", "plain", 2, 0.0, False, "strict",
                                                      api_name="/select_run_compare")[0]


def test_generate_sends_live_samples_to_the_stepper(client):
    live = stepper(client.predict("plain", 2, 0.0, False, "strict", *controls(), api_name="/generate"), "live")
    assert (live["run"], live["step"], live["title"]) == ("plain", 6, "Live generation at step 6")
    assert decoded(live["src"]).size == (1 + 4 * 9, 1 + 9)  # 4 samples of 8 px in a row, 1 px apart and around
    assert live["summary"].startswith("Step 6, prompt nearest blue-small") and "4 samples" in live["summary"]
    names = [t["name"] for t in live["traces"]]
    assert names[0] == "live: blue-small @ step 6" and all(n.startswith("live") for n in names)
    again = stepper(client.predict("plain", 2, 0.0, False, "strict", *controls(), api_name="/generate"), "live")
    assert again["summary"] == live["summary"]  # a cache hit: the same result, the same timing text
    pushed = stepper(client.predict("cfg", 1, 0.0, False, "strict", *controls(
        strength=2.0, direction="custom mix", w_color=1.0, overprompt=1.0, patch="2", guidance=2.0,
        projection=True), api_name="/generate"), "live")["summary"]
    assert f"intervention 2 ({DEFAULT_DIRECTION} direction, projection)" in pushed and "embedding from step 2" in pushed
    assert "guidance 2" in pushed and "(strict criterion; 4 samples" in pushed
    orthogonal = stepper(client.predict("plain", 1, 0.0, False, "strict", *controls(
        strength=2.0, direction_kind="orthogonal"), api_name="/generate"), "live")["summary"]
    assert "intervention 2 (orthogonal direction)" in orthogonal
    assert "Unknown direction 'sideways' for the intervention; choose pairs, orthogonal or target." == error_of(
        client, "plain", 1, 0.0, False, "strict", *controls(strength=2.0, direction_kind="sideways"),
        api_name="/generate")
    assert "samples must be between 1 and 64, got 99." == error_of(
        client, "plain", 2, 0.0, False, "strict", *controls(samples=99), api_name="/generate")
    skipped = client.predict(False, "plain", 2, 0.0, False, "strict", *controls(), api_name="/generate_on_step")
    assert skipped["__type__"] == "update" and "live" not in skipped.get("props", {})  # not following: no change


def test_the_masked_prompt_control_follows_the_run_the_link_and_the_api(client, mask_run):
    session = Client(client.src, verbose=False)
    label = "leave a concept unspecified (masked prompt)"  # as the API page names it: the first run has no masking
    shown = by_label(session, "/select_run", session.predict(mask_run, 2, "strict", api_name="/select_run"))[label]
    assert (shown["visible"], shown["value"]) == (True, False)
    assert shown["label"] == "leave colour unspecified (masked prompt)"
    hidden = by_label(session, "/select_run", session.predict("plain", 2, "strict", api_name="/select_run"))[label]
    assert hidden["visible"] is False
    full = stepper(client.predict(mask_run, 2, 0.0, False, "strict", *controls(), api_name="/generate"), "live")
    masked = stepper(client.predict(mask_run, 2, 0.0, False, "strict", *controls(masked=True), api_name="/generate"),
                     "live")
    assert masked["src"] != full["src"] and "masked prompt" not in full["summary"]
    assert ", masked prompt. " in masked["summary"]
    assert masked["summary"].endswith("The prompt leaves color unspecified (the run's learned mask token).")
    assert "plain was not trained with masked prompts, so no concept can be left unspecified." == error_of(
        client, "plain", 2, 0.0, False, "strict", *controls(masked=True), api_name="/generate")
    assert "masked must be true or false, got 'yes'." == error_of(
        client, mask_run, 2, 0.0, False, "strict", *controls(masked="yes"), api_name="/generate")
    query = client.predict(mask_run, 1, "", 0.0, False, "strict", *controls(masked=True), api_name="/view_query")
    assert "masked=1" in query.split("&")
    for run, restored in ((mask_run, True), ("plain", False)):  # a run without masking drops it
        response = http_run(client, "/load_view", {"data": []}, query=f"run={run}&masked=1")
        assert response.status_code == 200, response.text
        update = response.json()["data"][VIEW_CONTROLS.index("masked")]
        assert (update["value"], update["visible"]) == (restored, restored), run


def test_prompt_class_and_direction_controls(client):
    updates = client.predict("plain", "01 red-small", api_name="/prompt_class")
    assert [u.get("value") for u in updates] == [None, 0.0, 1.0, None]
    assert layout_update(client, "/show_weights", "custom mix") == {"__type__": "update", "visible": True}
    assert layout_update(client, "/show_weights", "color") == {"__type__": "update", "visible": False}
    live = stepper(client.predict("plain", 1, 0.0, False, "strict", *controls(color=0.0, size=1.0),
                                  api_name="/prompt_class_generate"), "live")
    assert live["summary"].startswith("Step 4, prompt nearest red-small")


def test_compare_two_runs_at_the_same_step(client):
    caption, left, left_curves, right, right_curves = client.predict("plain", "cfg", 1, 0.0, False, "strict",
                                                                      api_name="/compare")
    assert "Left: plain · preset" in caption and "Right: cfg · preset" in caption and "Δcolor = 0.3" in caption
    assert json.loads(right["plot"])["layout"]["title"]["text"] == "cfg · step 4"
    empty = client.predict("plain", "", 1, 0.0, False, "strict", api_name="/show_compare_step")
    assert empty[0] == "Choose a second run to compare."


def test_view_query_round_trips_through_a_link(client):
    query = client.predict("cfg", 1, "plain", 0.5, True, "lenient", *controls(
        color=0.25, strength=1.5, patch="2", seed=7, direction_kind="orthogonal"), api_name="/view_query")
    state, problems = ViewState.from_query(dict(p.split("=", 1) for p in query.split("&")))
    assert problems == [] and "criterion=lenient" in query and "ivd=orthogonal" in query
    assert (state.run, state.step, state.compare, state.smoothing, state.present) == ("cfg", 4, "plain", 0.5, True)
    assert state.criterion == "lenient"
    generation = state.generation
    assert (generation.color, generation.strength, generation.patch, generation.seed) == (0.25, 1.5, "2", 7)
    assert generation.direction_kind == "orthogonal"
    default = client.predict("plain", 1, "", 0.0, False, "strict", *controls(), api_name="/view_query")
    assert "criterion" not in default and "ivd" not in default  # defaults stay out of links
    assert generation.samples == 4 and generation.sample_steps == 10 and generation.overprompt_along == ("color",)
    assert client.predict("ghost", 1, "", 0.0, False, "strict", *controls(), api_name="/view_query") == ""


def test_link_parameters_are_validated():
    state, problems = ViewState.from_query({"step": "nan", "c_color": "7", "iv": "sideways", "n": "3", "zzz": "1",
                                            "w_size": "0.5", "present": "1", "criterion": "loose", "ivd": "up"})
    generation = state.generation
    assert state.step is None and generation.color == 1.0 and generation.direction == "custom mix"
    assert generation.samples == 3 and state.present and generation.w_size == 0.5
    assert state.criterion == "strict" and generation.direction_kind == DEFAULT_DIRECTION  # bad values: defaults
    assert len(problems) == 6 and any("step" in p for p in problems) and any("zzz" in p for p in problems)
    assert "Ignored criterion='loose': use strict or lenient." in problems
    assert "Ignored ivd='up': use orthogonal, pairs or target." in problems


def test_exports(client):
    table = Path(client.predict("plain", "strict", api_name="/export_csv")).read_text()
    rows = list(csv.DictReader(io.StringIO(table)))
    assert len(rows) == 3 * 4 and set(rows[0]) >= {"step", "class", "color_position", "size_position", "joint_accuracy"}
    data = json.loads(Path(client.predict("plain", "strict", api_name="/export_json")).read_text())
    assert data["steps"] == [2, 4, 6] and data["capability"]["class"] == "11"
    gif = Image.open(client.predict("plain", 0.0, api_name="/export_gif"))
    assert gif.format == "GIF" and gif.n_frames == 3
    png = Image.open(client.predict("plain", 2, *controls(), api_name="/export_grid"))
    assert png.format == "PNG"
    assert "Unknown run" in error_of(client, "ghost", "strict", api_name="/export_csv")


def poll_until(client: Client, states: tuple[str, ...], timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.predict(0.0, False, api_name="/train_poll")[0]
        if any(f"**{s.capitalize()}**" in status for s in states):
            return status
        time.sleep(0.5)
    raise AssertionError(f"training did not reach {states}: {status}")


def test_train_a_run_one_at_a_time_cancel_and_explore_it(app, client):
    assert "nothing to cancel" in error_of(client, api_name="/train_cancel")
    assert "delta_color must be between 0.1 and 0.8, got 0.9." == error_of(client, 0.9, 0.4, 600, 12, 0,
                                                                           api_name="/train_start")
    status, _ = client.predict(0.4, 0.4, 6000, 4, 0, api_name="/train_start")  # 60 tiny steps
    assert "Training" in status
    assert "already training" in error_of(client, 0.4, 0.4, 600, 4, 0, api_name="/train_start")
    assert "Cancelling" in client.predict(api_name="/train_cancel")
    cancelled = app[0].explorer.job.status().run_path
    assert "Cancelled" in poll_until(client, ("cancelled", "complete"))
    # Issue 22, item 9: every start + cancel left its folder behind; now it is removed and no longer offered.
    assert cancelled is not None and not cancelled.exists()
    assert cancelled.name not in app[0].explorer.catalog.names
    client.predict(0.3, 0.2, 600, 4, 1, api_name="/train_start")  # 6 tiny steps, then capability curves
    done = poll_until(client, ("complete", "failed"))
    assert "**Complete**" in done, done
    status, figure, timer = client.predict(0.0, False, api_name="/train_poll")  # (the button is not in the API)
    assert json.loads(figure["plot"])["data"] and timer["active"] is False
    name = client.predict(api_name="/open_trained")
    assert name.startswith("ui-dc0.30-ds0.20-seed1-")
    assert app[0].explorer.catalog.get(name).curves is not None
    view = stepper(client.predict(name, 1, 0.0, False, "strict", api_name="/open_trained_view"), "view")
    assert (view["run"], view["steps"], view["start"]) == (name, [3, 6], 1)
    images = stepper(client.predict(name, "strict", api_name="/open_trained_images"), "images")
    assert images["run"] == name and len(images["stored"]) == 2 and all(images["elicited"])
    selected = client.predict(name, 2, "strict", api_name="/open_trained_select")  # its outputs; not on the API page
    assert by_label(client, "/select_run", selected)["Run"]["value"] == name and selected[0] in (0, 1)
    for chained in ("/open_trained_compare", "/load_view_compare"):
        caption, *plots = client.predict(name, "plain", 1, 0.0, False, "strict", api_name=chained)
        assert f"Left: {name} · preset" in caption and "Right: plain · preset" in caption
        assert "nearest to step 6: step 6" in caption
        assert [json.loads(p["plot"])["layout"]["title"]["text"] for p in plots[::2]] == [f"{name} · step 6",
                                                                                        "plain · step 6"]
    for chained in ("/open_trained_generate", "/load_view_generate", "/select_run_generate"):
        live = stepper(client.predict(name, 1, 0.0, False, "strict", *controls(), api_name=chained), "live")
        assert live["run"] == name and live["summary"].startswith("Step 6"), chained


def test_link_parameters_are_echoed_short_and_never_as_markup():
    """Issue 22, item 3: a link's run, phase, opc, c_* and iv values reached the warning toast whole, as HTML."""
    from concept_explorer.ui.common import MESSAGE_LIMIT, page_text

    markup = '<a href="https://example.invalid/login" style="font-size:40px;color:red">Session expired</a>'
    huge = "x" * 20_000
    _, problems = ViewState.from_query({"c_color": huge, "iv": markup, "opc": huge, "criterion": markup, huge: "1"})
    assert len(problems) == 5 and all(len(p) < 200 for p in problems), [len(p) for p in problems]
    shown = page_text(f"The link's run {markup!r} is not on this server. " + huge)
    assert "<a" not in shown and "&lt;a href" in shown and len(shown) <= MESSAGE_LIMIT + 30  # entities add a little
    assert page_text("a\nb   c") == "a b c"
