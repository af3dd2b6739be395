"""The story the page tells about the bundled run (checkpoints/cpu-default): phases in time order and named right,
the hidden capability shown where it is clearest, the four phases side by side, and a header in plain words."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from concept_explorer.core.concepts import ConceptSpace
from concept_explorer.views import captions
from concept_explorer.views.run_view import RunDashboard

BUNDLED = Path(__file__).resolve().parents[1] / "checkpoints" / "cpu-default"


@pytest.fixture(scope="module")
def view() -> RunDashboard:
    return RunDashboard.load(BUNDLED)


def test_phases_of_the_bundled_run_are_in_time_order(view: RunDashboard) -> None:
    """Seed 0 under the strict criterion (the default): the held-out prompt is mistaken for red-small, turns,
    the training classes are learned, and only guidance makes blue-small before the run ends."""
    assert list(view.jump_targets.items()) == [("memorization", 2104), ("sudden turn", 2346),
                                               ("training classes learned", 2869), ("hidden capability", 6683)]
    assert view.phases.memorization.mistaken_for == "01" and not view.phases.generalization.learned


def test_hidden_capability_is_shown_where_elicitation_leads_plain_prompting_most(view: RunDashboard) -> None:
    best = view.phases.hidden_capability_best
    assert best is not None and best.step == 6683 and best.method == "guidance@4"
    curves = view.curves
    lead = np.max([curves.joint[f] for f in curves.joint if f != "plain"], axis=0) - curves.joint["plain"]
    assert curves.steps[int(np.argmax(lead))] == best.step  # plain prompting never learns, so every step counts
    assert best.plain_accuracy < 0.3 and best.elicited_accuracy > 0.9
    assert view.phases.hidden_capability.step == 7548  # the first learned step stays available for tables


def test_the_caption_in_the_memorization_window_says_so(view: RunDashboard) -> None:
    index = view.steps.index(2346)
    assert view.phase_at(index) == "memorization"
    assert captions.step_caption(view, index).endswith("Phase: memorization.")
    assert "the most common mistake is red-small" in captions.step_caption(view, index)
    assert view.phase_at(view.steps.index(6683)) == "hidden capability"
    assert view.phase_at(view.steps.index(1876)) is None  # before the memorization window


def test_panels_carry_the_phases(view: RunDashboard) -> None:
    index = view.steps.index(2346)
    marks = [a["text"] for a in view.concept_space(index)["layout"]["annotations"] if a.get("showarrow")]
    assert marks == ["memorization", "hidden capability"]  # the held-out prompt's phases
    capability = view.capability(index)["layout"]
    phase_lines = [s["x0"] for s in capability["shapes"] if s["type"] == "line" and s["line"]["dash"] == "dash"]
    assert phase_lines == [2104, 2346, 2869, 6683]
    assert sorted((s["x0"], s["x1"]) for s in capability["shapes"] if s["type"] == "rect") == [(2104, 2601),
                                                                                               (7548, 8000)]


def test_phase_strip_shows_plain_and_best_method_side_by_side_in_time_order(view: RunDashboard) -> None:
    strip = view.phase_strip(samples=4)
    assert [(tile.phase, tile.step) for tile in strip] == list(view.jump_targets.items())
    hidden = strip[-1]
    assert hidden.grid.labels == ["plain prompt · 23% blue-small", "guidance (CFG) 4 · 94% blue-small"]
    for tile in strip:
        grid = tile.grid
        assert grid.row_height == view.space.resolution * grid.scale and len(grid.row_tops) == 2
        assert grid.image.dtype == np.uint8 and grid.image.shape[1] == 2 + 4 * (grid.row_height + 2)
        assert tile.explanation


def test_generation_grids_come_without_text_and_with_labels_as_data(view: RunDashboard) -> None:
    index = view.steps.index(2346)
    stored = view.generation_grid(index)
    assert stored.labels == view.names and stored.heldout == view.heldout and stored.scale == 4
    assert stored.image.shape == (2 + 4 * 66, 2 + 8 * 66, 3)
    elicited = view.elicited_grid(index)
    assert elicited is not None and elicited.labels[0] == "plain prompt" and elicited.scale == 4
    assert view.generations(index).width > stored.image.shape[1]  # the GIF/report version has its labels drawn in


def test_header_in_plain_words_and_the_technical_line_kept(view: RunDashboard) -> None:
    assert captions.headline(view) == ("A small diffusion model trained on red/blue, large/small circles — it never "
                                       "saw a blue small circle. Watch when it learns to draw one.")
    assert captions.describe(view).startswith("cpu-default · preset cpu · 16 px")


@pytest.mark.parametrize("concepts, expected", [
    (("shape", "color"), "trained on red/blue circles and triangles — it never saw a blue triangle."),
    (("color", "size", "bg"), "trained on red/blue, large/small circles on light/dark backgrounds — it never saw a "
                              "red small circle on a dark background (nor 3 other combinations)."),
])
def test_header_follows_the_concept_space(concepts: tuple[str, ...], expected: str) -> None:
    class Run:
        space = ConceptSpace(concepts=concepts)

    assert expected in captions.headline(Run())  # type: ignore[arg-type]
