"""Figures: the right traces, training classes dashed and held-out solid, the current step marked, valid plotly."""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pytest
from PIL import Image

from concept_explorer.views import concept_space, images, plots

STEPS = [100, 200, 400, 800, 1600]
LABELS = ["00", "01", "10", "11"]
NAMES = ["red-large", "red-small", "blue-large", "blue-small"]
HELDOUT = [False, False, False, True]
AXES = ("colour: red 0 → blue 1", "size: large 0 → small 1")


@pytest.fixture
def coordinates() -> np.ndarray:
    rng = np.random.default_rng(0)
    values = rng.uniform(0, 1, (len(STEPS), len(LABELS), 2))
    values[0, 3] = np.nan  # the held-out class drew nothing at the first checkpoint
    return values


def class_traces(figure) -> list:
    return [t for t in figure.data if t.name and t.name.split(" (")[0] in NAMES]


def test_concept_space_has_one_trace_per_class_dashed_for_training_solid_for_heldout(coordinates):
    figure = concept_space.concept_space_figure(STEPS, LABELS, NAMES, coordinates, HELDOUT, AXES)
    traces = class_traces(figure)
    assert [t.name for t in traces] == ["red-large", "red-small", "blue-large", "blue-small (held out)"]
    assert [t.line.dash for t in traces] == ["dash", "dash", "dash", "solid"]
    assert traces[3].line.width > traces[0].line.width
    assert traces[3].x[0] is None and traces[3].y[0] is None  # NaN becomes a gap, not a fake point
    assert figure.layout.height and figure.layout.xaxis.range == concept_space.AXIS_RANGE
    assert figure.layout.xaxis.title.text == AXES[0] and figure.layout.yaxis.title.text == AXES[1]


def test_concept_space_marks_the_current_step(coordinates):
    figure = concept_space.concept_space_figure(STEPS, LABELS, NAMES, coordinates, HELDOUT, AXES, current=2)
    marker = next(t for t in figure.data if t.name == "step 400")
    np.testing.assert_allclose(marker.x, coordinates[2, :, 0], atol=1e-4)
    np.testing.assert_allclose(marker.y, coordinates[2, :, 1], atol=1e-4)
    assert len(figure.data) == len(LABELS) + 1


def test_concept_space_smoothing_changes_the_lines_but_not_their_count(coordinates):
    raw = concept_space.concept_space_spec(STEPS, LABELS, NAMES, coordinates, HELDOUT, AXES)
    smoothed = concept_space.concept_space_spec(STEPS, LABELS, NAMES, coordinates, HELDOUT, AXES, smoothing=1.0)
    assert len(raw["data"]) == len(smoothed["data"])
    assert raw["data"][0]["x"] != smoothed["data"][0]["x"]


def test_concept_space_draws_live_points_faded_when_stale_and_corner_thumbnails(coordinates):
    thumbnail = images.png_data_uri(np.zeros((3, 8, 8), np.uint8))
    live = np.array([[0.9, 0.8], [0.7, 0.95], [0.2, 0.1]])
    fresh = concept_space.concept_space_figure(STEPS, LABELS, NAMES, coordinates, HELDOUT, AXES, current=1,
                                       live_points=live, corner_images=[thumbnail] * 4)
    stale = concept_space.concept_space_figure(STEPS, LABELS, NAMES, coordinates, HELDOUT, AXES, current=1,
                                       live_points=live, live_faded=True)
    points = next(t for t in fresh.data if t.name == "live generation")
    assert [point[:2] for point in points.customdata] == live.tolist()  # hover shows the values before jitter
    mean = next(t for t in fresh.data if t.name == "live mean")
    assert mean.x[0] == pytest.approx(0.6, abs=1e-4)
    assert next(t for t in stale.data if t.name == "live generation").marker.opacity < points.marker.opacity
    assert len(fresh.layout.images) == 4 and fresh.layout.images[0].source.startswith("data:image/png;base64,")
    corners = {(round(i.x, 2), round(i.y, 2)) for i in fresh.layout.images}
    assert corners == {(-0.3, -0.3), (-0.3, 1.3), (1.3, -0.3), (1.3, 1.3)}
    # Positions overshoot the class means: the axes show -0.3 … 1.3 and more.
    assert fresh.layout.xaxis.range[0] < -0.3 and fresh.layout.yaxis.range[1] > 1.3


def test_concept_space_spec_is_plain_json():
    values = np.full((2, 4, 2), math.nan)
    spec = concept_space.concept_space_spec([1, 2], LABELS, NAMES, values, HELDOUT, AXES, current=0)
    text = json.dumps(spec, allow_nan=False)  # NaN must never reach the browser
    assert "NaN" not in text
    with pytest.raises(ValueError, match="coordinates must be"):
        concept_space.concept_space_spec([1, 2, 3], LABELS, NAMES, values, HELDOUT, AXES)


def test_accuracy_figure_has_a_panel_per_concept_plus_joint_with_step_lines_and_learning_stars():
    rng = np.random.default_rng(1)
    concept = rng.uniform(0, 1, (len(STEPS), 4, 2))
    joint = concept.prod(axis=2)
    learned = {"joint": [400, None, 800, None], "color": [200, 200, None, None], "size": [None] * 4}
    figure = plots.accuracy_figure(STEPS, NAMES, HELDOUT, concept, joint, ["color", "size"], learned,
                                   current_step=800)
    lines = [t for t in figure.data if t.mode == "lines"]
    assert len(lines) == 3 * 4
    assert {t.xaxis for t in lines} == {"x", "x2", "x3"}
    assert [t.line.dash for t in lines[:4]] == ["dash", "dash", "dash", "solid"]
    stars = [t for t in figure.data if t.mode == "markers"]
    assert [list(t.x) for t in stars] == [[400, 800], [200, 200]]  # no star for a concept nobody learned
    step_lines = [s for s in figure.layout.shapes if s.x0 == 800 and s.x1 == 800]
    assert len(step_lines) == 3
    titles = [a.text for a in figure.layout.annotations]
    assert titles == ["all right", "color", "size"]  # short: three titles share one row on a projector


def test_capability_figure_shades_the_hidden_capability_window():
    joint = {"plain": np.array([0, 0, 0.1, 0.5, 0.9]), "overprompt": np.array([0, 0.2, 0.9, 0.9, 0.95]),
             "intervention-orthogonal": np.array([0, 0.9, 0.9, 0.95, 1.0])}
    learned = {"plain": 1600, "overprompt": 400, "intervention-orthogonal": 200}
    figure = plots.capability_figure(STEPS, joint, learned, "blue-small", current_step=400)
    assert [t.name for t in figure.data] == ["plain prompt", "overprompting", "intervention (orthogonal direction)"]
    window = [s for s in figure.layout.shapes if s.type == "rect"]
    assert len(window) == 1 and (window[0].x0, window[0].x1) == (200, 1600)
    assert "1400 steps before plain" in figure.layout.annotations[0].text
    assert any(s.type == "line" and s.x0 == 400 for s in figure.layout.shapes)


def test_capability_window_runs_to_the_end_while_plain_prompting_has_not_learned():
    assert plots.hidden_window(STEPS, {"plain": None, "patch": 800}) == (800, 1600, False)
    assert plots.hidden_window(STEPS, {"plain": 400, "patch": 800}) is None  # elicitation was not earlier
    assert plots.hidden_window(STEPS, {"plain": None, "patch": None}) is None
    figure = plots.capability_figure(STEPS, {"plain": np.zeros(5)}, {"plain": None}, "blue-small")
    assert not [s for s in figure.layout.shapes if s.type == "rect"]


def test_capability_seed_bands_are_light_fills_behind_the_lines():
    joint = {"plain": np.array([0, 0, 0.1, 0.5, 0.9]), "overprompt": np.array([0, 0.2, 0.9, 0.9, 0.95])}
    learned = {"plain": 1600, "overprompt": 400}
    alone = plots.capability_figure(STEPS, joint, learned, "blue-small")
    assert not [t for t in alone.data if t.fill]  # one seed: no band
    bands = {"plain": (STEPS, np.array([0, 0, 0, 0.3, 0.8]), np.array([0, 0.1, 0.2, 0.6, 1.0])),
             "elicited": (STEPS[1:], np.array([0.1, 0.7, 0.8, 0.9]), np.array([0.3, 0.9, 1.0, np.nan]))}
    figure = plots.capability_figure(STEPS, joint, learned, "blue-small", bands=bands, seeds=3)
    names = [t.name for t in figure.data]
    assert names == ["plain prompt: lowest seed", "plain prompt: range over 3 seeds", "best elicitation: lowest seed",
                     "best elicitation: range over 3 seeds", "plain prompt", "overprompting"]  # bands first: behind
    plain_low, plain_high, elicited_low, elicited_high = figure.data[:4]
    assert plain_high.fill == "tonexty" and not plain_low.fill  # filled down to the lowest seed
    assert list(plain_low.y) == [0, 0, 0, 0.3, 0.8] and list(plain_high.y) == [0, 0.1, 0.2, 0.6, 1.0]
    assert list(elicited_high.x) == STEPS[1:] and elicited_high.y[-1] is None  # NaN: a gap in the band
    assert plain_high.fillcolor != elicited_high.fillcolor and "0.1" in plain_high.fillcolor  # light
    assert plain_low.showlegend is False and plain_high.showlegend is False  # the caption names them instead
    assert all(t.hoverinfo == "skip" for t in figure.data[:4])


def test_message_figure_says_why_it_is_empty():
    figure = plots.as_figure(plots.message_spec("No capability curves yet."))
    assert not figure.data and figure.layout.annotations[0].text == "No capability curves yet."


def test_large_mode_enlarges_fonts_and_height(coordinates):
    normal = concept_space.concept_space_spec(STEPS, LABELS, NAMES, coordinates, HELDOUT, AXES)
    large = concept_space.concept_space_spec(STEPS, LABELS, NAMES, coordinates, HELDOUT, AXES, large=True)
    assert large["layout"]["font"]["size"] > normal["layout"]["font"]["size"]
    assert large["layout"]["height"] > normal["layout"]["height"]


def test_image_grid_tiles_and_upscales():
    pictures = np.zeros((10, 3, 4, 4), np.uint8)
    pictures[3, 0] = 255
    grid = images.image_grid(pictures, columns=4, scale=2, pad=1)
    assert grid.shape == (1 + 3 * 9, 1 + 4 * 9, 3)
    assert (grid[1:9, 1 + 3 * 9:9 + 3 * 9, 0] == 255).all()  # image 3 sits in row 0, column 3, upscaled
    with pytest.raises(ValueError):
        images.image_grid(np.zeros((0, 3, 4, 4), np.uint8))


def test_class_grid_has_a_row_per_class_and_the_animation_is_a_gif():
    pictures = np.random.default_rng(0).integers(0, 255, (16, 3, 8, 8), dtype=np.uint8)
    labels = np.repeat(np.arange(4), 4)
    grid = images.class_grid(pictures, labels, NAMES, HELDOUT, per_class=4, scale=2, caption="step 10")
    assert isinstance(grid, Image.Image) and grid.height > 4 * 16
    frames = images.concept_space_frames(STEPS, NAMES, np.random.default_rng(0).uniform(0, 1, (5, 4, 2)), HELDOUT,
                                         AXES, grids=[grid] * 5)
    gif = Image.open(io.BytesIO(images.gif_bytes(frames)))
    assert gif.format == "GIF" and gif.n_frames == 5


def test_capability_methods_differ_in_dash_and_marker_not_just_colour_and_plain_is_thickest():
    """Overprompting and intervention often have the same accuracy, so one must not hide the other."""
    same = np.array([0, 0.5, 0.9, 0.9, 1.0])
    joint = {f: np.zeros(5) if f == "plain" else same for f in plots.FAMILY_STYLES}
    traces = plots.capability_figure(STEPS, joint, {f: None for f in joint}, "blue-small").data
    assert len({t.marker.symbol for t in traces}) == len(joint)
    assert len({t.line.dash for t in traces}) == 5  # the three intervention directions share a dash, one family
    assert [t.line.color for t in traces] == [plots.FAMILY_COLORS[f] for f in joint]
    assert traces[0].line.width > max(t.line.width for t in traces[1:])
    assert any(t.marker.symbol.endswith("-open") for t in traces)  # the one drawn on top lets the other show


def test_capability_marks_each_phase_with_a_dashed_labelled_line_and_a_window_as_a_band():
    phases = {"memorization": (200, 800), "hidden capability": (400, 400), "generalization": (1600, 1600)}
    figure = plots.capability_figure(STEPS, {"plain": np.zeros(5)}, {"plain": 1600}, "blue-small", phases=phases)
    lines = [s for s in figure.layout.shapes if s.type == "line" and s.line.dash == "dash"]
    assert [s.x0 for s in lines] == [200, 400, 1600] and all(s.x0 == s.x1 for s in lines)
    bands = [s for s in figure.layout.shapes if s.type == "rect"]
    assert [(s.x0, s.x1) for s in bands] == [(200, 800)]  # no hidden window: plain prompting was not behind
    labels = {a.text: a.x for a in figure.layout.annotations}
    assert labels == {"memorization": 200, "hidden capability": 400, "generalization": 1600}


def test_concept_space_labels_the_phases_on_the_heldout_trajectory(coordinates):
    phases = {"memorization": 200, "hidden capability": 790, "generalization": 100}  # 790: nearest is 800
    spec = concept_space.concept_space_spec(STEPS, LABELS, NAMES, coordinates, HELDOUT, AXES, phases=phases)
    arrows = [a for a in spec["layout"]["annotations"] if a.get("showarrow")]
    assert [a["text"] for a in arrows] == ["memorization", "hidden capability"]  # step 100 drew nothing (NaN)
    assert [(a["x"], a["y"]) for a in arrows] == [tuple(np.round(coordinates[t, 3], 4)) for t in (1, 3)]
    marks = next(t for t in spec["data"] if t["name"] == "phases")
    assert marks["text"] == ["memorization: step 200", "hidden capability: step 800"]
    other = concept_space.concept_space_spec(STEPS, LABELS, NAMES, coordinates, HELDOUT, AXES, phases=phases,
                                             phase_class=0)
    assert [a["x"] for a in other["layout"]["annotations"] if a.get("showarrow")][0] == round(coordinates[1, 0, 0], 4)
    json.dumps(spec, allow_nan=False)


def test_concept_space_stars_the_sudden_turn_on_the_heldout_trajectory(coordinates):
    plain = concept_space.concept_space_spec(STEPS, LABELS, NAMES, coordinates, HELDOUT, AXES)
    assert not [t for t in plain["data"] if t["name"] == "sudden turn"]
    spec = concept_space.concept_space_spec(STEPS, LABELS, NAMES, coordinates, HELDOUT, AXES, turn=390,
                                            smoothing=1.0)  # 390: nearest checkpoint is 400
    (star,) = [t for t in spec["data"] if t["name"] == "sudden turn"]
    trajectory = spec["data"][3]  # the held-out class as drawn (smoothed)
    assert (star["x"], star["y"]) == ([trajectory["x"][2]], [trajectory["y"][2]])
    assert star["marker"]["symbol"] == "star" and star["text"] == ["turn"] and "step 400" in star["hovertemplate"]
    gone = concept_space.concept_space_spec(STEPS, LABELS, NAMES, coordinates, HELDOUT, AXES, turn=100)
    assert not [t for t in gone["data"] if t["name"] == "sudden turn"]  # the held-out class drew nothing there
    concept_space.concept_space_figure(STEPS, LABELS, NAMES, coordinates, HELDOUT, AXES, turn=400)  # valid plotly


def test_live_samples_on_one_corner_are_spread_and_counted(coordinates):
    """16 samples split 8/8 between two corners must not look like two marks."""
    live = np.array([[0.99, 0.98]] * 8 + [[0.02, 0.97]] * 8)
    spec = concept_space.concept_space_spec(STEPS, LABELS, NAMES, coordinates, HELDOUT, AXES, live_points=live)
    points = next(t for t in spec["data"] if t["name"] == "live generation")
    shown = np.array([points["x"], points["y"]]).T
    assert len({tuple(p) for p in shown}) == 16  # every sample has its own mark
    assert np.abs(shown - live).max() <= concept_space.LIVE_JITTER + 1e-4
    again = concept_space.concept_space_spec(STEPS, LABELS, NAMES, coordinates, HELDOUT, AXES, live_points=live)
    assert again["data"] == spec["data"]  # seeded: redrawing does not make the marks dance
    assert [c[2] for c in points["customdata"]] == [8] * 16 and "of 16 samples" in points["hovertemplate"]
    counts = next(t for t in spec["data"] if t["name"] == "live generation: counts")
    assert counts["text"] == ["<b>8 of 16</b>", "<b>8 of 16</b>"]
    assert sorted(counts["x"]) == [-0.3, 1.3]  # beside each cluster, outside the square
    lopsided = concept_space.concept_space_spec(STEPS, LABELS, NAMES, coordinates, HELDOUT, AXES,
                                                live_points=live[:9])
    assert next(t for t in lopsided["data"] if t["name"] == "live generation: counts")["text"] == [
        "<b>1 of 9</b>", "<b>8 of 9</b>"]


def test_class_rows_are_pixels_only_upscaled_by_an_integer_with_labels_as_data():
    pictures = np.zeros((7, 3, 4, 4), np.uint8)
    pictures[:, 0] = np.arange(7)[:, None, None] * 10 + 5  # a distinct red per sample
    labels = np.array([0, 0, 0, 2, 2, 3, 3])  # class 1 drew nothing: no row
    grid = images.class_rows(pictures, labels, NAMES, HELDOUT, per_class=2, scale=3, caption="step 10")
    assert grid.labels == ["red-large", "blue-large", "blue-small"] and grid.heldout == [False, False, True]
    assert grid.colors == [images.class_colors(HELDOUT)[c] for c in (0, 2, 3)]
    assert grid.scale == 3 and grid.row_height == 12 and grid.caption == "step 10"
    assert grid.image.shape == (2 + 3 * 14, 2 + 2 * 14, 3)
    # Row r, column k holds sample k of the row's class, each pixel repeated 3×3, and nothing else (no text).
    for r, samples in enumerate([[0, 1], [3, 4], [5, 6]]):
        top = grid.row_tops[r]
        for k, sample in enumerate(samples):
            tile = grid.image[top:top + 12, 2 + k * 14:2 + k * 14 + 12]
            assert (tile == pictures[sample].transpose(1, 2, 0).repeat(3, 0).repeat(3, 1)).all()
    assert set(np.unique(grid.image[..., 0])) <= {*(pictures[:, 0, 0, 0].tolist()), 255}
    drawn = images.draw_labels(grid)
    assert drawn.width > grid.image.shape[1] and drawn.height > grid.image.shape[0]
    assert (np.asarray(drawn)[:, :150] < 128).any()  # the labels are in these pixels


def test_class_rows_pads_a_short_row_with_background():
    pictures = np.zeros((3, 3, 2, 2), np.uint8)
    grid = images.class_rows(pictures, np.array([0, 0, 1]), NAMES, HELDOUT, per_class=4, scale=1, pad=1)
    assert grid.image.shape == (1 + 2 * 3, 1 + 2 * 3, 3)  # as wide as the longest row, not per_class
    assert (grid.image[grid.row_tops[1]:grid.row_tops[1] + 2, 4:6] == 255).all()


def test_method_labels_read_as_words() -> None:
    from concept_explorer.views.plots import method_label

    keys = ("plain", "overprompt@1", "intervention-orthogonal@0.5", "patch@final", "guidance@2")
    assert [method_label(k) for k in keys] == [
        "plain prompt", "overprompting 1", "intervention (orthogonal direction) 0.5", "embedding patching (final)",
        "guidance (CFG) 2"]
