"""The Sweep view: its figures drawn from a tiny sweep's results.json (views/sweep_view.py), the catalog's sweeps
and their cells (views/catalog.py), and the Sweep tab's events through the launched app's API."""

from __future__ import annotations

import copy
import json
import os
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402
from gradio_client import Client  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402
from ui_runs import launched_app, tiny_sweep  # noqa: E402

from concept_explorer.analysis.sweep import SWEEP_FILE, Sweep  # noqa: E402
from concept_explorer.analysis.sweep_results import RESULTS_FILE, load_results, pack  # noqa: E402
from concept_explorer.core.run import RunFolderError  # noqa: E402
from concept_explorer.ui.sweep_tab import MAKE_SWEEP, SweepTab  # noqa: E402
from concept_explorer.views import sweep_view  # noqa: E402
from concept_explorer.views.catalog import RunCatalog  # noqa: E402
from concept_explorer.views.plots import as_figure  # noqa: E402

pytestmark = pytest.mark.slow

FIELD = "concept_space.delta_color"
CELLS = ["delta_color-0.3_seed-0", "delta_color-0.3_seed-1", "delta_color-0.5_seed-0", "delta_color-0.5_seed-1"]
ALL = ["color", "size", "joint"]


@pytest.fixture(scope="module")
def sweep_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_sweep(tmp_path_factory.mktemp("sweep"))


@pytest.fixture
def results(sweep_path: Path) -> dict[str, Any]:
    """The tiny sweep's record, a fresh copy per test (tests write known numbers into it)."""
    return copy.deepcopy(load_results(sweep_path))


def with_turns(results: dict[str, Any], turns: dict[str, int | None], criterion: str = "strict") -> dict[str, Any]:
    for cell in results["cells"]:
        cell["criteria"][criterion]["numbers"]["turn"] = turns.get(cell["name"])
    return results


def traces(spec: dict, name: str) -> list[dict]:
    return [t for t in spec["data"] if t.get("name") == name]


# -- the figures ---------------------------------------------------------------------------------------------------
def test_the_fan_draws_every_cell_coloured_by_its_axis_value(results: dict[str, Any]) -> None:
    spec = sweep_view.fan_spec(with_turns(results, {}))
    as_figure(spec)  # a valid plotly figure
    assert [c["name"] for c in results["cells"]] == CELLS
    training, heldout = traces(spec, "training classes (dashed)"), traces(spec, "held-out blue-small")
    assert len(training) == len(heldout) == 4  # one of each per cell
    assert all(t["line"]["dash"] == "dash" and t["opacity"] < 0.5 for t in training)
    assert all("dash" not in t["line"] for t in heldout)
    colors = [t["line"]["color"] for t in heldout]
    assert colors[0] == colors[1] != colors[2] == colors[3]  # by Δcolor, not by seed
    assert [t["line"]["color"] for t in training] == colors
    assert "Δcolor 0.3 · seed 1" in heldout[1]["hovertemplate"] and "Δcolor 0.5 · seed 0" in heldout[2]["hovertemplate"]
    assert [set(t["customdata"]) for t in heldout] == [{cell} for cell in CELLS]  # a click names its cell
    assert heldout[0]["text"] == ["2", "4", "6"] and "at step %{text}" in heldout[0]["hovertemplate"]
    assert traces(spec, "at the slider's step")[0]["customdata"] == CELLS
    coordinates = np.array(results["cells"][3]["coordinates"], dtype=float)  # (T, C, K)
    assert heldout[3]["x"] == pytest.approx(list(coordinates[:, 3, 0]), abs=1e-4)
    (bar,) = [t for t in spec["data"] if t.get("marker", {}).get("showscale")]
    assert (bar["marker"]["cmin"], bar["marker"]["cmax"]) == (0.3, 0.5)
    assert bar["marker"]["colorbar"]["title"]["text"] == "Δcolor" and bar["marker"]["colorbar"]["tickvals"] == [0.3, 0.5]
    assert not traces(spec, "turning point")  # no cell turned


def test_the_fan_slider_moves_every_cell_to_one_step(results: dict[str, Any]) -> None:
    spec = sweep_view.fan_spec(results, step=4)
    current = spec["data"].index(traces(spec, "at the slider's step")[0])
    (slider,) = spec["layout"]["sliders"]
    assert [s["label"] for s in slider["steps"]] == ["2", "4", "6"] and slider["active"] == 1
    coordinates = [np.array(c["coordinates"], dtype=float) for c in results["cells"]]
    for t, step in enumerate(slider["steps"]):
        update, indices = step["args"]
        assert step["method"] == "restyle" and indices == [current]
        assert update["x"][0] == pytest.approx([float(c[t, 3, 0]) for c in coordinates], abs=1e-4)
        assert update["y"][0] == pytest.approx([float(c[t, 3, 1]) for c in coordinates], abs=1e-4)
        assert update["text"][0][2] == f"Δcolor 0.5 · seed 0: step {step['label']}"
    assert spec["data"][current]["x"] == slider["steps"][1]["args"][0]["x"][0]  # drawn at the chosen step


def test_a_star_marks_each_turning_point_and_only_those(results: dict[str, Any]) -> None:
    with_turns(results, {CELLS[1]: 4, CELLS[2]: 6})
    with_turns(results, {}, "lenient")
    spec = sweep_view.fan_spec(results)
    (stars,) = traces(spec, "turning point")
    assert stars["marker"]["symbol"] == "star" and len(stars["x"]) == 2
    for k, (cell, t) in enumerate([(1, 1), (2, 2)]):  # the held-out point at the turn's checkpoint
        point = results["cells"][cell]["coordinates"][t][3]
        assert (stars["x"][k], stars["y"][k]) == pytest.approx(tuple(point[:2]), abs=1e-4)
    assert stars["text"] == ["Δcolor 0.3 · seed 1: turns at step 4", "Δcolor 0.5 · seed 0: turns at step 6"]
    assert stars["customdata"] == [CELLS[1], CELLS[2]]
    assert not traces(sweep_view.fan_spec(results, "lenient"), "turning point")  # the criterion's own turns
    results["cells"][1]["criteria"]["strict"]["numbers"] = None  # a cell swept without elicitation: no phases
    assert len(traces(sweep_view.fan_spec(results), "turning point")[0]["x"]) == 1


def test_learning_time_puts_a_never_learned_cell_on_the_top_edge(results: dict[str, Any]) -> None:
    steps = {CELLS[0]: None, CELLS[1]: 6, CELLS[2]: 4, CELLS[3]: 2}  # Δ 0.3 seed 0 never learns colour
    for cell in results["cells"]:
        cell["criteria"]["strict"]["learning"]["11"]["color"] = steps[cell["name"]]
    times = sweep_view.learning_times_of(results, "11", ALL)
    spec = sweep_view.learning_time_spec(times, "blue-small")
    as_figure(spec)
    concept_traces = spec["data"][:3]
    assert [t["name"].partition(":")[0] for t in concept_traces] == ["colour", "size", "all right (joint)"]
    assert concept_traces[0]["name"] == f"colour: {sweep_view.rho_text(times[0].correlation)}"
    assert "ρ = 0.8" in concept_traces[0]["name"] and "[" in concept_traces[0]["name"]  # ρ [interval]
    color = concept_traces[0]
    top = color["y"][0]
    assert top > 6 and color["y"][1:] == [6, 4, 2]
    assert color["marker"]["symbol"] == ["circle-open", "diamond", "circle", "diamond"]  # open: never; shape: seed
    assert color["text"][0] == "Δcolor 0.3 · seed 0: not learned by step 6"
    assert [t["name"] for t in spec["data"][3:]] == ["seed 0", "seed 1"]
    (note,) = spec["layout"]["annotations"]
    assert note["text"] == "not learned by step 6" and note["y"] == top
    assert spec["layout"]["title"]["text"] == "When blue-small is learned, by plain prompting (strict)"
    elicited = sweep_view.learning_time_spec(sweep_view.learning_times_of(results, "11", ["joint"], method="elicited"),
                                             "blue-small", "elicited")
    assert "by best elicitation" in elicited["layout"]["title"]["text"] and len(elicited["data"]) == 1 + 2


def test_the_curves_of_one_axis_value_band_over_its_seeds(results: dict[str, Any]) -> None:
    spec = sweep_view.curves_spec(results, 0.3, criterion="lenient", large=True)
    as_figure(spec)
    names = [t["name"] for t in spec["data"]]
    assert names[-3:] == ["training classes (mean)", "blue-small: plain prompt", "blue-small: best elicitation"]
    assert "plain prompt: range over 2 seeds" in names and "training classes (mean): range over 2 seeds" in names
    assert spec["data"][-1]["x"] == [2, 4, 6] and spec["layout"]["font"]["size"] == 20
    assert spec["layout"]["title"]["text"] == "Δcolor = 0.3: accuracy over seeds 0, 1 (lenient)"
    with pytest.raises(ValueError, match="No finished cell has concept_space.delta_color = 0.4"):
        sweep_view.curves_spec(results, 0.4)


def test_the_caption_counts_cells_rhos_and_turns(results: dict[str, Any]) -> None:
    with_turns(results, {CELLS[3]: 4})
    times = sweep_view.learning_times_of(results, "11", ALL)
    caption = sweep_view.sweep_caption(results, times, "strict", {"complete": 4, "pending": 1, "failed": 1})
    first, second, third = caption.split("  \n")
    assert first == "**4 of 6 cells finished**, 1 failed · Δcolor ∈ {0.3, 0.5}, seeds 0, 1."
    assert second.startswith("Learning speed of held-out **blue-small** against Δcolor, plain prompting (strict): "
                             "colour ρ") and "all right (joint) ρ" in second
    assert third == "Turning points found in 1 of 4 cells (strict): at steps 4."
    assert sweep_view.sweep_caption(results, times).startswith("**4 of 4 cells finished** ·")  # from the grid


def test_the_reproduce_command_remakes_the_sweep(sweep_path: Path) -> None:
    from concept_explorer.cli import build_parser

    command = sweep_view.reproduce_command(Sweep.open(sweep_path).data, "runs/again")
    assert command.startswith("concept-explorer sweep --preset cpu --grid concept_space.delta_color=0.3,0.5 "
                              "--seeds 0,1 ") and command.endswith(" --out runs/again")
    args = build_parser().parse_args(command.split()[1:])
    assert args.grid == ["concept_space.delta_color=0.3,0.5"] and getattr(args, "train.p_uncond") == "0.2"
    assert getattr(args, FIELD) is None  # the axis is given once, by the grid


# -- the catalog ---------------------------------------------------------------------------------------------------
@pytest.fixture
def root(sweep_path: Path, tmp_path: Path) -> Path:
    """runs/ with the tiny sweep, its packed copy (no weights), and two sweeps whose files are broken."""
    root = tmp_path / "runs"
    shutil.copytree(sweep_path, root / "sweep-tiny")
    pack(Sweep.open(root / "sweep-tiny"), root / "sweep-packed")
    for broken, file in (("bad-results", RESULTS_FILE), ("bad-sweep", SWEEP_FILE)):
        (root / broken).mkdir()
        for name in (RESULTS_FILE, SWEEP_FILE):
            (root / broken / name).write_text("{" if name == file else (sweep_path / name).read_text())
    return root


def test_the_catalog_lists_sweeps_and_offers_their_cells_as_runs(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    catalog = RunCatalog(roots=[root])
    assert catalog.sweep_names == ["sweep-packed", "sweep-tiny"]
    assert set(catalog.sweep_problems) == {"bad-results", "bad-sweep"}
    for problem in catalog.sweep_problems.values():
        assert "not valid JSON" in problem and "\n" not in problem
    assert catalog.names == [f"sweep-tiny/{cell}" for cell in CELLS]
    # The packed cells have no weights: the Sweep view's alone, neither offered nor reported as broken runs.
    assert not any(name.startswith("sweep-packed/") for name in [*catalog.paths, *catalog.problems])
    opened, get = [], catalog.get
    monkeypatch.setattr(catalog, "get", lambda name, *args: opened.append(name) or get(name, *args))
    assert len(catalog.names) == 4 and not any(n.startswith("sweep-packed/") for n in opened)
    assert catalog.cell_run("sweep-tiny", CELLS[1]) == f"sweep-tiny/{CELLS[1]}"
    assert catalog.cell_run("sweep-packed", CELLS[1]) is None
    assert catalog.cell_run("sweep-tiny", "nope") is None
    record = catalog.sweep("sweep-packed")
    assert record.results["cells"] == load_results(root / "sweep-tiny")["cells"]  # the same record, no weights
    assert catalog.sweep("sweep-packed") is record  # unchanged files: read once
    with pytest.raises(RunFolderError, match="Unknown sweep 'nope'; available sweeps: bad-results"):
        catalog.sweep("nope")


def test_a_changed_record_is_read_again(root: Path) -> None:
    catalog = RunCatalog(roots=[root])
    first = catalog.sweep("sweep-tiny")
    file = root / "sweep-tiny" / RESULTS_FILE
    results = json.loads(file.read_text())
    results["cells"] = results["cells"][:2]
    file.write_text(json.dumps(results))
    stat = file.stat()
    os.utime(file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert len(catalog.sweep("sweep-tiny").results["cells"]) == 2 and len(first.results["cells"]) == 4
    file.write_text("[]")
    os.utime(file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2 * 10**9))
    assert catalog.sweep_names == ["sweep-packed"]  # a sweep gone bad leaves the list, with its reason
    assert "is not a sweep record of format 1" in catalog.sweep_problems["sweep-tiny"]


def test_a_cell_clicked_in_the_fan_opens_rather_than_the_dropdowns(root: Path) -> None:
    tab = SweepTab(SimpleNamespace(catalog=RunCatalog(roots=[root]), public_roots=list))
    clicked = SimpleNamespace(_data={"cell": CELLS[2]})  # what the page's fan sends (assets/sweep_fan.js)
    assert tab.open_cell("sweep-tiny", CELLS[0], clicked)["run"] == f"sweep-tiny/{CELLS[2]}"
    assert tab.open_cell("sweep-tiny", CELLS[0], SimpleNamespace(_data=None))["run"] == f"sweep-tiny/{CELLS[0]}"
    with pytest.raises(gr.Error, match=f"The weights of {CELLS[2]} are not bundled"):
        tab.open_cell("sweep-packed", CELLS[0], clicked)
    with pytest.raises(gr.Error, match=r"sweep-tiny; 'x{38}… is not one\."):  # a forged name, quoted short
        tab.open_cell("sweep-tiny", None, SimpleNamespace(_data={"cell": "x" * 5000}))


def test_without_a_sweep_the_tab_says_how_to_make_one(tmp_path: Path) -> None:
    tab = SweepTab(SimpleNamespace(catalog=RunCatalog(roots=[tmp_path])))
    caption, *figures = tab.sweep_figures("", None, None, [], "plain", None, "strict", False)
    assert MAKE_SWEEP in caption and caption.startswith("No sweep on this server yet.")
    assert len(figures) == 3 and tab.select_sweep("", None, None, [], None, None, None) == {}


# -- the Sweep tab through the API ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory):
    with launched_app(tmp_path_factory, "ui-sweep", sweeps=True) as (_, url):
        yield Client(url, verbose=False)


def figure(payload: dict) -> dict:
    """A gr.Plot's value as gradio_client returns it: the plotly spec, JSON inside."""
    assert payload["type"] == "plotly"
    return json.loads(payload["plot"])


def error_of(client: Client, *args: object, api_name: str) -> str:
    with pytest.raises(AppError) as caught:
        client.predict(*args, api_name=api_name)
    message = str(caught.value)
    assert message and "\n" not in message and "Traceback" not in message, message
    return message


def test_opening_the_tab_fills_its_controls(client: Client) -> None:
    sweep, axis, label, concepts, value, cell, fraction = client.predict("", None, None, [], None, None, None,
                                                                         api_name="/select_sweep")
    assert sweep["value"] == "sweep-packed" and [c[1] for c in sweep["choices"]] == ["sweep-packed", "sweep-tiny"]
    assert axis["value"] == FIELD and axis["visible"] is False  # one axis: nothing to choose
    assert label["value"] == "11" and ["blue-small (held out)", "11"] in label["choices"]
    assert concepts["value"] == ALL
    assert [c[1] for c in value["choices"]] == ["0.3", "0.5"]
    assert cell["choices"][0] == ["Δcolor 0.3 · seed 0 (no weights here)", CELLS[0]]
    assert fraction["choices"] == [] and fraction["value"] is None  # no masked runs: the view stays hidden
    tiny = client.predict("sweep-tiny", FIELD, "01", ["size"], "0.3", CELLS[2], None, api_name="/select_sweep")
    assert (tiny[2]["value"], tiny[3]["value"], tiny[4]["value"], tiny[5]["value"]) == ("01", ["size"], "0.3",
                                                                                       CELLS[2])
    assert tiny[5]["choices"][2] == ["Δcolor 0.5 · seed 0", CELLS[2]]


def test_the_figures_follow_the_choices_and_the_criterion(client: Client) -> None:
    caption, fan, learning, curves = client.predict("sweep-tiny", FIELD, "11", ALL, "plain", "0.5", "lenient", True,
                                                    api_name="/sweep_figures")
    assert caption.startswith("**4 of 4 cells finished** · Δcolor ∈ {0.3, 0.5}, seeds 0, 1.")
    assert "plain prompting (lenient)" in caption
    fan = figure(fan)
    assert fan["layout"]["title"]["text"] == "The held-out class across Δcolor (lenient)"
    assert fan["layout"]["font"]["size"] == 20 and len(fan["layout"]["sliders"][0]["steps"]) == 3
    learning = figure(learning)
    assert [t["name"].partition(":")[0] for t in learning["data"][:3]] == ["colour", "size", "all right (joint)"]
    assert figure(curves)["layout"]["title"]["text"] == "Δcolor = 0.5: accuracy over seeds 0, 1 (lenient)"
    one = client.predict("sweep-packed", FIELD, "10", ["joint"], "elicited", "0.3", "strict", False,
                         api_name="/sweep_figures")
    assert figure(one[2])["layout"]["title"]["text"] == "When blue-large is learned, by best elicitation (strict)"
    assert len(figure(one[2])["data"]) == 1 + 2  # joint, and the two seeds' symbols
    packed = figure(one[1])  # the packed sweep (no weights) draws its fan from results.json alone
    assert len(traces(packed, "held-out blue-small")) == 4 and packed["layout"]["font"]["size"] == 14


def test_bad_choices_are_one_sentence(client: Client) -> None:
    args = [FIELD, "11", ALL, "plain", "0.3", "strict", False]
    assert "Unknown sweep 'ghost'; available sweeps: sweep-packed, sweep-tiny." in error_of(
        client, "ghost", *args, api_name="/sweep_figures")
    assert "No finished cell has concept_space.delta_color = 0.9" in error_of(
        client, "sweep-tiny", *args[:4], "0.9", *args[5:], api_name="/sweep_figures")
    assert "Unknown class '22'" in error_of(client, "sweep-tiny", FIELD, "22", *args[2:], api_name="/sweep_figures")
    assert "train.seed is not an axis of sweep-tiny" in error_of(client, "sweep-tiny", "train.seed", *args[1:],
                                                                 api_name="/sweep_figures")


def test_a_cell_opens_in_explore_when_its_weights_are_here(client: Client) -> None:
    assert client.predict("sweep-tiny", CELLS[2], api_name="/open_sweep_cell") == f"sweep-tiny/{CELLS[2]}"
    switched = client.predict(f"sweep-tiny/{CELLS[2]}", 0, "strict", "plain", api_name="/open_sweep_cell_select")
    assert switched[1].startswith(f"{CELLS[2]} · preset cpu · 8 px · concepts color, size (Δcolor = 0.5")  # run info
    assert switched[-2]["value"] == f"sweep-tiny/{CELLS[2]}"  # the selector shows the cell by its catalog name
    message = error_of(client, "sweep-packed", CELLS[2], api_name="/open_sweep_cell")
    assert message.startswith(f"The weights of {CELLS[2]} are not bundled, so it cannot be opened in Explore; "
                              "reproduce the sweep with `concept-explorer sweep --preset cpu --grid "
                              "concept_space.delta_color=0.3,0.5 --seeds 0,1 ")
    assert "--out runs/sweep-packed`" in message
    assert "is not one" in error_of(client, "sweep-tiny", "ghost-cell", api_name="/open_sweep_cell")
