"""The browser's copy of a run (views/step_view.py) on a tiny evaluated run: what the step control scrubs through
without asking the server — steps, captions, phases, figures without a current-step marker, and the sample grids
as native-resolution PNGs."""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from ui_runs import tiny_runs

from concept_explorer.analysis.phases import GENERALIZATION, HIDDEN, MEMORIZATION, TRAINING, TURN
from concept_explorer.analysis.turn import TurningPoint
from concept_explorer.views import captions
from concept_explorer.views.catalog import RunCatalog
from concept_explorer.views.images import class_colors
from concept_explorer.views.plots import FAMILY_COLORS, method_label
from concept_explorer.views.run_view import PHASE_HELP, RunDashboard
from concept_explorer.views.step_view import step_images, step_view

pytestmark = pytest.mark.slow

PNG_URI = "data:image/png;base64,"


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return tiny_runs(tmp_path_factory.mktemp("step-view-runs"))


@pytest.fixture(scope="module")
def plain(runs: dict[str, Path]) -> RunDashboard:
    return RunCatalog(extra=[runs["plain"]]).get("plain")


@pytest.fixture(scope="module")
def view(plain: RunDashboard) -> dict:
    return step_view(plain)


@pytest.fixture(scope="module")
def images(plain: RunDashboard) -> dict:
    return step_images(plain)


def decoded(uri: str) -> Image.Image:
    assert uri.startswith(PNG_URI)
    picture = Image.open(io.BytesIO(base64.b64decode(uri[len(PNG_URI):])))
    assert picture.format == "PNG"
    return picture


def grid_size(rows: int, columns: int, resolution: int) -> tuple[int, int]:
    """(width, height) of a native-resolution grid: tiles of `resolution` px with 1 px of background between them
    and around the edge (images.image_grid with scale 1, pad 1)."""
    return 1 + columns * (resolution + 1), 1 + rows * (resolution + 1)


def dotted_step_lines(spec: dict) -> list[dict]:
    """The current-step marks of a curve figure (plots._vline): dotted dark vertical lines."""
    return [s for s in spec["layout"].get("shapes", []) if s.get("type") == "line" and s.get("x0") == s.get("x1")
            and s.get("line", {}).get("dash") == "dot" and s["line"].get("color") == "#333"]


def test_view_holds_every_checkpoint_and_is_strict_json(plain: RunDashboard, view: dict) -> None:
    assert view["run"] == "plain" and view["steps"] == [2, 4, 6] == plain.steps
    assert view["header"] == captions.headline(plain) and "never saw a blue small" in view["header"]
    assert view["classes"] == 4 and view["heldout"] == "blue-small"
    assert view["classNames"] == ["red-large", "red-small", "blue-large", "blue-small (held out)"]
    assert view["classColors"] == class_colors(plain.heldout)
    assert view["captions"] == [captions.step_caption(plain, i) for i in range(3)]
    assert all(c.startswith("Prompted as blue-small, ") for c in view["captions"])
    assert view["large"] is False
    json.dumps(view, allow_nan=False)  # the browser parses it: NaN (a class that drew nothing) must be null


def test_phases_carry_their_step_and_checkpoint_index(plain: RunDashboard, monkeypatch: pytest.MonkeyPatch) -> None:
    assert step_view(plain)["phases"] == [{"name": MEMORIZATION, "step": 2, "index": 0,
                                           "help": PHASE_HELP[MEMORIZATION]}]
    # Every phase, at steps between checkpoints (2, 4, 6): each jumps to its nearest checkpoint, the earlier on a tie.
    monkeypatch.setattr(plain, "jump_targets", {TRAINING: 1, MEMORIZATION: 3, HIDDEN: 5, GENERALIZATION: 6})
    phases = step_view(plain)["phases"]
    assert [(p["name"], p["step"], p["index"]) for p in phases] == [
        (TRAINING, 1, 0), (MEMORIZATION, 3, 0), (HIDDEN, 5, 1), (GENERALIZATION, 6, 2)]
    assert [p["help"] for p in phases] == [PHASE_HELP[p["name"]] for p in phases]
    assert [p["step"] for p in phases] == sorted(p["step"] for p in phases)


def test_figures_leave_the_current_step_to_the_page(plain: RunDashboard, view: dict) -> None:
    figures = view["figures"]
    concept = figures["concept"]
    trajectories = concept["data"][:view["classes"]]
    assert [t["customdata"] for t in trajectories] == [view["steps"]] * 4  # the page reads the marker off these
    assert [t["line"]["dash"] for t in trajectories] == ["dash", "dash", "dash", "solid"]
    assert concept == plain.concept_space(None)
    marked = plain.concept_space(1)
    assert len(marked["data"]) == len(concept["data"]) + 1 and marked["data"][-1]["name"] == "step 4"
    assert not any(str(t.get("name", "")).startswith("step ") for t in concept["data"])
    for name, marked_spec in (("capability", plain.capability(1)), ("accuracy", plain.accuracy(1))):
        assert figures[name]["data"], name
        assert dotted_step_lines(marked_spec) and not dotted_step_lines(figures[name]), name


def test_smoothing_and_large_type(plain: RunDashboard, view: dict) -> None:
    large = step_view(plain, large=True)
    assert large["large"] is True
    for name in ("concept", "capability", "accuracy"):
        assert view["figures"][name]["layout"]["font"]["size"] == 14, name
        assert large["figures"][name]["layout"]["font"]["size"] == 20, name
    assert large["steps"] == view["steps"] and large["captions"] == view["captions"]
    smoothed = step_view(plain, smoothing=1.0)["figures"]["concept"]["data"][0]
    raw = view["figures"]["concept"]["data"][0]
    assert smoothed["x"] != raw["x"] and smoothed["customdata"] == raw["customdata"]


def test_stored_grids_are_native_pixels_one_row_per_class(plain: RunDashboard, images: dict) -> None:
    resolution = plain.space.resolution
    assert images["run"] == "plain" and len(images["stored"]) == len(plain.steps)
    for index, grid in enumerate(images["stored"]):
        assert grid["rows"] == plain.names and grid["colors"] == class_colors(plain.heldout)
        samples = plain.evaluation.samples(plain.steps[index])
        pictures, labels = samples["images"].numpy(), samples["labels"].numpy()  # (N, 3, R, R), (N,)
        per_class = [pictures[labels == c][:8] for c in range(len(plain.names))]
        columns = max(len(p) for p in per_class)
        picture = decoded(grid["src"])
        assert picture.size == grid_size(len(plain.names), columns, resolution)
        pixels = np.asarray(picture.convert("RGB"))  # (H, W, 3)
        for row, samples_of_class in enumerate(per_class):
            for column in range(columns):
                top, left = 1 + row * (resolution + 1), 1 + column * (resolution + 1)
                tile = pixels[top:top + resolution, left:left + resolution]
                expected = (samples_of_class[column].transpose(1, 2, 0) if column < len(samples_of_class)
                            else np.full_like(tile, 255))  # a short row ends in background
                np.testing.assert_array_equal(tile, expected, err_msg=f"step {plain.steps[index]}, {row}/{column}")
        assert (pixels[0] == 255).all() and (pixels[:, 0] == 255).all()  # the 1 px border
    json.dumps(images, allow_nan=False)


def test_elicited_grids_have_one_labelled_row_per_method(plain: RunDashboard, images: dict) -> None:
    resolution = plain.space.resolution
    assert len(images["elicited"]) == len(plain.steps)
    for index, grid in enumerate(images["elicited"]):
        methods = plain.elicited_samples(plain.steps[index])
        assert methods, "the tiny run elicits every checkpoint"
        assert grid["rows"] == [method_label(m) for m in methods] and grid["rows"][0] == "plain prompt"
        assert grid["colors"] == [FAMILY_COLORS[m.split("@")[0]] for m in methods]
        columns = max(min(8, len(samples)) for samples in methods.values())
        assert decoded(grid["src"]).size == grid_size(len(methods), columns, resolution)


def test_elicited_grids_are_absent_without_capability_curves(runs: dict[str, Path]) -> None:
    dashboard = RunDashboard.load(runs["plain"])  # its own copy: the module's dashboard keeps its curves
    dashboard.curves = None
    assert step_images(dashboard)["elicited"] == [None, None, None]


def test_phase_strip_pairs_plain_prompting_with_the_best_method(plain: RunDashboard, images: dict) -> None:
    strip = images["strip"]
    assert [(t["phase"], t["step"], t["index"]) for t in strip] == [(MEMORIZATION, 2, 0)]
    tile = strip[0]
    assert tile["explanation"] == PHASE_HELP[MEMORIZATION]
    assert len(tile["rows"]) == 2 and tile["rows"][0].startswith("plain prompt · ")
    assert tile["rows"][0].endswith("% blue-small") and tile["colors"][0] == FAMILY_COLORS["plain"]
    assert decoded(tile["src"]).size[1] == grid_size(2, 4, plain.space.resolution)[1]


def test_the_capability_figure_bands_a_seed_group_and_says_its_spread(runs: dict[str, Path], view: dict) -> None:
    names = [t["name"] for t in view["figures"]["capability"]["data"]]
    assert names[:4] == ["plain prompt: lowest seed", "plain prompt: range over 2 seeds",
                         "best elicitation: lowest seed", "best elicitation: range over 2 seeds"]  # plain + seed 1
    assert view["seedNote"] == ("Over 2 seeds (strict), learning steps of blue-small: plain prompting never (2 of 2), "
                                "best elicitation never (2 of 2). Shaded: the range over the seeds (grey: plain "
                                "prompting; teal: best elicitation).")
    alone = RunCatalog(extra=[runs["cfg"]]).get("cfg")  # differs from the others in more than its seed
    assert alone.seed_bands is None and step_view(alone)["seedNote"] == ""
    assert not any(t.get("fill") for t in alone.capability(None)["data"])


def lenient_sees_the_heldout_class(run: Path) -> None:
    """Rewrite a run's stored lenient verdicts so that plain prompting draws the held-out class (11) at every
    checkpoint under the lenient criterion only, as when its colours sit past the midpoint but outside the range."""
    for summary, rows in (("evaluation", lambda step: step), ("elicitation", lambda step: step["plain"])):
        path = run / summary / "summary.json"
        data = json.loads(path.read_text())
        for step in data["per_step"].values():
            rows(step)["11"]["criteria"]["lenient"] = {"concept_accuracy": [1.0, 1.0], "joint_accuracy": 1.0,
                                                       "outcomes": {"11": 1.0}}
        path.write_text(json.dumps(data))


def test_the_criterion_decides_the_figures_captions_and_phases(runs: dict[str, Path], tmp_path: Path) -> None:
    lenient_sees_the_heldout_class(shutil.copytree(runs["plain"], tmp_path / "plain"))
    catalog = RunCatalog(extra=[tmp_path / "plain"])
    strict, lenient = step_view(catalog.get("plain")), step_view(catalog.get("plain", "lenient"))

    def plain_line(view: dict) -> list:
        return next(t for t in view["figures"]["capability"]["data"] if t["name"] == "plain prompt")["y"]

    assert plain_line(strict) == [0.0, 0.0, 0.0] and plain_line(lenient) == [1.0, 1.0, 1.0]
    assert strict["figures"]["capability"]["layout"]["title"]["text"].endswith("(strict)")
    assert lenient["figures"]["capability"]["layout"]["title"]["text"].endswith("(lenient)")
    assert lenient["figures"]["accuracy"]["layout"]["title"]["text"] == "Accuracy per class (lenient)"
    assert strict["captions"][0].startswith("Prompted as blue-small, 0% of the samples are blue-small (strict)")
    assert lenient["captions"][0].startswith("Prompted as blue-small, 100% of the samples are blue-small (lenient)")
    assert [p["name"] for p in strict["phases"]] == [MEMORIZATION]
    assert [(p["name"], p["step"]) for p in lenient["phases"]] == [(GENERALIZATION, 2)]
    assert catalog.get("plain", "lenient") is catalog.get("plain", "lenient")  # built once per criterion
    with pytest.raises(ValueError, match="Unknown criterion 'loose'"):
        catalog.get("plain", "loose")


def test_a_sudden_turn_is_a_phase_button_a_strip_tile_and_a_star_on_the_trajectory(runs: dict[str, Path]) -> None:
    dashboard = RunDashboard.load(runs["plain"])  # its own copy: its phases are changed below
    dashboard.phases = dataclasses.replace(dashboard.phases, turning_point=TurningPoint(4, (0.2, 0.9), 0.4, 0.5))
    dashboard.jump_targets = dashboard.phases.jump_targets()
    view = step_view(dashboard)
    assert [(p["name"], p["step"], p["index"]) for p in view["phases"]] == [(MEMORIZATION, 2, 0), (TURN, 4, 1)]
    assert view["phases"][1]["help"] == PHASE_HELP[TURN]
    (star,) = [t for t in view["figures"]["concept"]["data"] if t["name"] == "sudden turn"]
    heldout = view["figures"]["concept"]["data"][3]
    assert (star["x"], star["y"]) == ([heldout["x"][1]], [heldout["y"][1]]) and star["text"] == ["turn"]
    strip = step_images(dashboard)["strip"]
    assert [(t["phase"], t["explanation"]) for t in strip][1] == (TURN, PHASE_HELP[TURN])
