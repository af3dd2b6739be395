"""The app through its API: launch it on tiny runs, call every api_name with gradio_client, including bad inputs,
and check each failure is one clear sentence while the server keeps serving."""

from __future__ import annotations

import csv
import io
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from gradio_client import Client  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402
from ui_runs import launched_app, tiny_config  # noqa: E402

from concept_explorer.ui import train_tab  # noqa: E402
from concept_explorer.ui.settings import GenerationSettings  # noqa: E402
from concept_explorer.ui.state import ViewState  # noqa: E402

pytestmark = pytest.mark.slow

PUBLIC = {
    "/load_view", "/select_run", "/show_step", "/show_compare_step", "/generate_on_step", "/step_back",
    "/step_forward", "/go_to_step", "/jump_training", "/jump_memorization", "/jump_hidden", "/jump_generalization",
    "/toggle_play", "/tick", "/set_speed", "/redraw", "/compare", "/generate", "/prompt_class", "/show_weights",
    "/view_query", "/train_start", "/train_cancel", "/train_poll", "/open_trained", "/export_grid", "/export_gif",
    "/export_csv", "/export_json",
}
CHAINED = {"/load_view_panels", "/load_view_compare", "/load_view_generate", "/select_run_panels",
           "/select_run_compare", "/select_run_generate", "/open_trained_select", "/open_trained_panels",
           "/open_trained_compare", "/open_trained_generate", "/prompt_class_generate"}
"""Follow-up steps of chained events: callable by name, left out of the API page."""

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


def error_of(client: Client, *args: object, api_name: str) -> str:
    with pytest.raises(AppError) as caught:
        client.predict(*args, api_name=api_name)
    return str(caught.value)


def by_label(client: Client, api_name: str, result: tuple) -> dict[str, Any]:
    """An endpoint's results keyed by their components' labels (as the API page lists them)."""
    returns = client.view_api(return_format="dict", print_info=False)["named_endpoints"][api_name]["returns"]
    assert len(returns) == len(result)
    return {r["label"]: value for r, value in zip(returns, result)}


def layout_update(client: Client, api_name: str, *args: object) -> dict:
    """The update a layout element (a row, the tour) gets: gradio_client leaves those out of its results, the
    HTTP API does not."""
    import httpx

    response = httpx.post(client.src.rstrip("/") + f"/gradio_api/run{api_name}", json={"data": list(args)},
                          timeout=30)
    assert response.status_code == 200, response.text
    (update,) = response.json()["data"]
    return update


def test_every_event_has_a_public_api_name(client):
    endpoints = set(client.view_api(return_format="dict", print_info=False)["named_endpoints"])
    assert endpoints == PUBLIC


def test_load_view_opens_the_default_run_at_its_last_checkpoint(client):
    result = client.predict(api_name="/load_view")
    controls = by_label(client, "/load_view", result)
    assert controls["checkpoint"]["maximum"] == 2 and controls["checkpoint"]["value"] == 2
    # Buttons, states and rows are not part of API results: [slider, run info (no label), learning steps, ...]
    assert result[1].startswith("plain · preset cpu") and "(Δcolor = 0.4" in result[1]
    assert controls["color"]["visible"] is True and controls["shape"]["visible"] is False
    assert controls["samples"] == 16 and controls["embedding patched from"]["value"] == "none"
    panels = client.predict("plain", 2, 0.0, False, api_name="/load_view_panels")
    assert "step 6" in panels[0]


def test_show_step_returns_every_panel_at_that_checkpoint(client):
    readout, concept, caption, capability, accuracy, stored, elicited, step = client.predict(
        "plain", 1, 0.0, False, api_name="/show_step")
    assert "step 4" in readout and "checkpoint 2 of 3" in readout and step == 4
    spec = json.loads(concept["plot"])
    assert spec["layout"]["title"]["text"] == "Concept space at step 4"
    dashes = [t["line"]["dash"] for t in spec["data"] if t.get("mode") == "lines+markers"]
    assert dashes == ["dash", "dash", "dash", "solid"]
    assert "blue-small" in caption
    assert json.loads(capability["plot"])["data"] and json.loads(accuracy["plot"])["data"]
    assert Image.open(stored).size[0] > 100
    assert elicited["visible"] is True and Image.open(elicited["value"]).size[0] > 100
    redrawn = client.predict("plain", 1, 1.5, True, api_name="/redraw")
    assert json.loads(redrawn[1]["plot"])["layout"]["font"]["size"] == 20  # presentation: large fonts


def test_bad_inputs_give_a_clear_error_and_the_server_keeps_serving(client):
    assert "Unknown run 'nope'; available runs: plain, cfg" in error_of(client, "nope", 1, 0.0, False,
                                                                         api_name="/show_step")
    assert "greater than maximum" in error_of(client, "plain", 99, 0.0, False, api_name="/show_step")
    assert "Checkpoint index must be a whole number from 0 to 2, got 1.5" in error_of(
        client, "plain", 1.5, 0.0, False, api_name="/show_step")
    assert "greater than maximum value 3" in error_of(client, "plain", "", 1, 7.0, False,
                                                      api_name="/show_compare_step")
    assert "less than minimum value 0" in error_of(client, "plain", -3, api_name="/go_to_step")
    assert "Unknown run" in error_of(client, "plain", "nope", 1, 0.0, False, api_name="/compare")
    assert "trained without a null token" in error_of(
        client, "plain", 2, 0.0, False, *controls(guidance=3.0), api_name="/generate")
    assert "not in the list of choices" in error_of(client, "plain", "22 green-huge", api_name="/prompt_class")
    assert "not in the list of choices" in error_of(client, "9×", api_name="/set_speed")
    # still serving
    assert "step 6" in client.predict("plain", 2, 0.0, False, api_name="/show_step")[0]


def test_nan_sent_as_raw_json_is_refused_cleanly(app, client):
    """gradio_client refuses to send NaN, a browser or script can: post it to the HTTP API directly."""
    import httpx

    url = client.src.rstrip("/") + "/gradio_api/run/go_to_step"
    response = httpx.post(url, content='{"data": ["plain", NaN]}', headers={"content-type": "application/json"},
                          timeout=30)
    assert response.status_code >= 400  # gradio's own type check refuses NaN before our callback runs
    assert "step 6" in client.predict("plain", 2, 0.0, False, api_name="/show_step")[0]


def test_step_buttons_typed_steps_and_playback(client):
    assert client.predict("plain", 1, api_name="/step_back") == 0
    assert client.predict("plain", 0, api_name="/step_back") == 0
    assert client.predict("plain", 1, api_name="/step_forward") == 2
    assert client.predict("plain", 2, api_name="/step_forward") == 2
    assert client.predict("plain", 5, api_name="/go_to_step") == 1  # 5 is between 4 and 6: the earlier wins
    assert client.predict("plain", 6000, api_name="/go_to_step") == 2
    timer, index = client.predict("2×", "plain", 1, api_name="/toggle_play")  # one session: now it is playing
    assert timer["active"] is True and timer["value"] == 0.4 and index == {"__type__": "update"}
    assert client.predict("4×", api_name="/set_speed")["value"] == 0.2
    assert client.predict("plain", 1, api_name="/tick")[0] == 2
    assert client.predict("plain", 2, api_name="/tick")[0] == 2  # the end: playback stops
    assert client.predict("plain", 1, api_name="/tick")[0] == 1  # stopped, so ticks no longer advance
    timer, index = client.predict("1×", "plain", 2, api_name="/toggle_play")  # play from the end: restart
    assert timer["active"] is True and index == 0
    assert client.predict("1×", "plain", 0, api_name="/toggle_play")[0]["active"] is False  # pause


def test_jump_buttons_go_to_phases_and_explain_missing_ones(app, client):
    dashboard = app[0].explorer.catalog.get("plain")
    saved = dict(dashboard.jump_targets)
    try:
        dashboard.jump_targets.clear()
        dashboard.jump_targets.update({"memorization": 4, "hidden capability": 6})
        assert client.predict("plain", api_name="/jump_memorization") == 1
        assert client.predict("plain", api_name="/jump_hidden") == 2
        assert "has no 'generalization' phase" in error_of(client, "plain", api_name="/jump_generalization")
        assert "has no 'training classes learned' phase" in error_of(client, "plain", api_name="/jump_training")
    finally:
        dashboard.jump_targets.clear()
        dashboard.jump_targets.update(saved)


def test_select_run_adapts_the_controls(client):
    result = client.predict("cfg", 1, api_name="/select_run")
    slider = result[0]
    assert slider["maximum"] == 2 and slider["value"] == 1  # the same training step as the run shown before
    assert "null token for guidance" in result[1]
    # The guidance slider shows for a run trained with a null token only.
    assert by_label(client, "/select_run", result)["guidance weight"]["visible"] is True
    plain = client.predict("plain", 1, api_name="/select_run")
    assert by_label(client, "/select_run", plain)["guidance weight"]["visible"] is False
    assert "Unknown run" in error_of(client, "ghost", 1, api_name="/select_run")
    assert "step 6" in client.predict("cfg", 2, 0.0, False, api_name="/select_run_panels")[0]
    assert "Right: plain · preset" in client.predict("cfg", "plain", 2, 0.0, False, api_name="/select_run_compare")[0]


def test_generate_places_live_samples_in_concept_space(client):
    grid, summary, concept = client.predict("plain", 2, 0.0, False, *controls(), api_name="/generate")
    assert Image.open(grid).size[0] > 8 * 4
    assert "prompt nearest **blue-small**" in summary and "4 samples" in summary
    names = [t["name"] for t in json.loads(concept["plot"])["data"]]
    assert "live: blue-small @ step 6" in names
    again = client.predict("plain", 2, 0.0, False, *controls(), api_name="/generate")
    assert again[1] == summary  # a cache hit: the same result, the same timing text
    pushed = client.predict("cfg", 1, 0.0, False, *controls(strength=2.0, direction="custom mix", w_color=1.0,
                                                           overprompt=1.0, patch="2", guidance=2.0,
                                                           projection=True), api_name="/generate")
    assert "intervention 2 (projection)" in pushed[1] and "embedding from step 2" in pushed[1]
    assert "guidance 2" in pushed[1]
    assert "greater than maximum" in error_of(client, "plain", 2, 0.0, False, *controls(samples=99),
                                              api_name="/generate")
    skipped = client.predict(False, "plain", 2, 0.0, False, *controls(), api_name="/generate_on_step")
    assert skipped[0] == {"__type__": "update"}  # not following: nothing changes
    followed = client.predict(True, "plain", 1, 0.0, False, *controls(), api_name="/generate_on_step")
    assert "Step 4" in followed[1]


def test_prompt_class_and_direction_controls(client):
    updates = client.predict("plain", "01 red-small", api_name="/prompt_class")
    assert [u.get("value") for u in updates] == [None, 0.0, 1.0, None]
    assert layout_update(client, "/show_weights", "custom mix") == {"__type__": "update", "visible": True}
    assert layout_update(client, "/show_weights", "color") == {"__type__": "update", "visible": False}
    assert client.predict("plain", 1, 0.0, False, *controls(color=0.0, size=1.0),
                          api_name="/prompt_class_generate")[1].startswith("Step 4, prompt nearest **red-small**")


def test_compare_two_runs_at_the_same_step(client):
    caption, left, left_curves, right, right_curves = client.predict("plain", "cfg", 1, 0.0, False,
                                                                      api_name="/compare")
    assert "Left: plain · preset" in caption and "Right: cfg · preset" in caption and "Δcolor = 0.3" in caption
    assert json.loads(right["plot"])["layout"]["title"]["text"] == "cfg · step 4"
    empty = client.predict("plain", "", 1, 0.0, False, api_name="/show_compare_step")
    assert empty[0] == "Choose a second run to compare."


def test_view_query_round_trips_through_a_link(client):
    query = client.predict("cfg", 1, "plain", 0.5, True, *controls(color=0.25, strength=1.5, patch="2", seed=7),
                           api_name="/view_query")
    state, problems = ViewState.from_query(dict(p.split("=", 1) for p in query.split("&")))
    assert problems == []
    assert (state.run, state.step, state.compare, state.smoothing, state.present) == ("cfg", 4, "plain", 0.5, True)
    generation = state.generation
    assert (generation.color, generation.strength, generation.patch, generation.seed) == (0.25, 1.5, "2", 7)
    assert generation.samples == 4 and generation.sample_steps == 10 and generation.overprompt_along == ("color",)
    assert client.predict("ghost", 1, "", 0.0, False, *controls(), api_name="/view_query") == ""


def test_link_parameters_are_validated():
    state, problems = ViewState.from_query({"step": "nan", "c_color": "7", "iv": "sideways", "n": "3", "zzz": "1",
                                            "w_size": "0.5", "present": "1"})
    generation = state.generation
    assert state.step is None and generation.color == 1.0 and generation.direction == "custom mix"
    assert generation.samples == 3 and state.present and generation.w_size == 0.5
    assert len(problems) == 4 and any("step" in p for p in problems) and any("zzz" in p for p in problems)


def test_tour_buttons_move_the_walkthrough(client):
    for i in range(5):
        assert layout_update(client, f"/tour_next_{i}") == {"__type__": "update", "selected": i + 1}


def test_exports(client):
    table = Path(client.predict("plain", api_name="/export_csv")).read_text()
    rows = list(csv.DictReader(io.StringIO(table)))
    assert len(rows) == 3 * 4 and set(rows[0]) >= {"step", "class", "P(blue)", "P(small)", "joint_accuracy"}
    data = json.loads(Path(client.predict("plain", api_name="/export_json")).read_text())
    assert data["steps"] == [2, 4, 6] and data["capability"]["class"] == "11"
    gif = Image.open(client.predict("plain", 0.0, api_name="/export_gif"))
    assert gif.format == "GIF" and gif.n_frames == 3
    png = Image.open(client.predict("plain", 2, *controls(), api_name="/export_grid"))
    assert png.format == "PNG"
    assert "Unknown run" in error_of(client, "ghost", api_name="/export_csv")


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
    assert "greater than maximum" in error_of(client, 0.9, 0.4, 600, 12, 0, api_name="/train_start")
    status, _ = client.predict(0.4, 0.4, 6000, 4, 0, api_name="/train_start")  # 60 tiny steps
    assert "Training" in status
    assert "already training" in error_of(client, 0.4, 0.4, 600, 4, 0, api_name="/train_start")
    assert "Cancelling" in client.predict(api_name="/train_cancel")
    assert "Cancelled" in poll_until(client, ("cancelled", "complete"))
    client.predict(0.3, 0.2, 600, 4, 1, api_name="/train_start")  # 6 tiny steps, then capability curves
    done = poll_until(client, ("complete", "failed"))
    assert "**Complete**" in done, done
    status, figure, timer = client.predict(0.0, False, api_name="/train_poll")  # (the button is not in the API)
    assert json.loads(figure["plot"])["data"] and timer["active"] is False
    name = client.predict(api_name="/open_trained")
    assert name.startswith("ui-dc0.30-ds0.20-seed1-")
    assert app[0].explorer.catalog.get(name).curves is not None
    assert "step 6" in client.predict(name, 1, 0.0, False, api_name="/show_step")[0]  # checkpoints 3 and 6
    selected = client.predict(name, 1, api_name="/open_trained_select")
    assert by_label(client, "/select_run", selected)["Run"]["value"] == name  # its outputs; not on the API page
    readout, *_, step = client.predict(name, 1, 0.0, False, api_name="/open_trained_panels")
    assert "checkpoint 2 of 2" in readout and step == 6
    for chained in ("/open_trained_compare", "/load_view_compare"):
        caption, *plots = client.predict(name, "plain", 1, 0.0, False, api_name=chained)
        assert f"Left: {name} · preset" in caption and "Right: plain · preset" in caption
        assert "nearest to step 6: step 6" in caption
        assert [json.loads(p["plot"])["layout"]["title"]["text"] for p in plots[::2]] == [f"{name} · step 6",
                                                                                        "plain · step 6"]
    for chained in ("/open_trained_generate", "/load_view_generate", "/select_run_generate"):
        assert "Step 6" in client.predict(name, 1, 0.0, False, *controls(), api_name=chained)[1]
