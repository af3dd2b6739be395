"""The underspecification analysis and view (issue 14, part 1) on synthetic sweep records with known answers."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import numpy as np
import pytest
from ui_runs import tiny_mask_sweep

from concept_explorer.analysis.capability import MASKED
from concept_explorer.analysis.sweep_results import load_results
from concept_explorer.analysis.underspecification import by_fraction, intertwining_rho, late, masked_traces
from concept_explorer.ui.sweep_tab import SweepTab
from concept_explorer.views.catalog import RunCatalog
from concept_explorer.views.masking_view import TABLE_HEADERS, masking_specs

STEPS = [100, 200, 300, 400, 500]


def cell(fraction: float, seed: int, colour_end: float, masked_end: float, elicited_end: float,
         plain_step: int | None, elicited_step: int | None) -> dict:
    """A finished cell of a shape × colour sweep whose held-out class 11 ends at `colour_end` on the colour axis
    (position k=1), the masked prompt at `masked_end`, overprompting at `elicited_end`; shape always right."""
    ramp = np.linspace(0, 1, len(STEPS))
    coordinates = [[[0, 0], [0, 1], [1, 0], [1, float(colour_end * r)]] for r in ramp]
    coordinates[0][3] = None  # nothing drawn at the first checkpoint: skipped, not a zero
    numbers = {"plain": plain_step, "elicited": elicited_step}
    drawn_red = [{"10": 1 - colour_end, "01": colour_end} for _ in STEPS]  # mistaken for red triangles or blue circles
    joint = [[1, 1, 1, 0.1 * r] for r in ramp]
    per = {"numbers": numbers, "outcomes": drawn_red, "joint": joint, "capability": [0.5] * len(STEPS)}
    return {
        "name": f"f{fraction}-s{seed}", "overrides": {"train.mask_fraction": fraction, "train.seed": seed},
        "seed": seed, "steps": STEPS, "labels": ["00", "01", "10", "11"],
        "names": ["circle-red", "circle-blue", "triangle-red", "triangle-blue"], "concepts": ["shape", "color"],
        "training": ["00", "01", "10"], "heldout": ["11"], "coordinates": coordinates,
        "criteria": {"strict": per, "lenient": per},
        "mask": {"concept": "color", "class": "10", "fraction": fraction},
        "elicited": {"steps": STEPS[1:], "methods": {
            "plain": [[1, colour_end * r] for r in ramp[1:]],
            "masked": [[1, masked_end * r] for r in ramp[1:]],
            "overprompt@1": [[1, elicited_end * r] for r in ramp[1:]],
        }},
    }


def results(cells: list[dict]) -> dict:
    return {"format": 1, "grid": {"train.mask_fraction": sorted({c["mask"]["fraction"] for c in cells})},
            "seeds": sorted({c["seed"] for c in cells}), "cells": cells, "unreadable": {}}


INTERTWINED = results([
    cell(0.0, 0, 0.9, 0.5, 1.0, 300, 200), cell(0.0, 1, 0.8, 0.4, 1.0, 400, 200),
    cell(0.5, 0, 0.5, 0.2, 0.9, None, 300), cell(1.0, 0, 0.1, 0.0, 0.7, None, None),
])


def test_late_averages_the_last_checkpoints_that_drew_something() -> None:
    assert late(np.array([0.0, 1.0, np.nan, 2.0, 3.0]), tail=3) == pytest.approx(2.0)
    assert late(np.array([np.nan, 0.4]), tail=3) == pytest.approx(0.4)
    assert math.isnan(late(np.array([np.nan, np.nan])))


def test_traces_read_the_masked_concepts_coordinate_of_the_heldout_prompt() -> None:
    traces = masked_traces(INTERTWINED)
    assert [(t.fraction, t.seed) for t in traces] == [(0.0, 0), (0.0, 1), (0.5, 0), (1.0, 0)]
    first = traces[0]
    assert first.concept == "color" and first.steps == STEPS and math.isnan(first.plain[0])
    assert first.plain[-1] == pytest.approx(0.9)  # the colour axis (k = 1), not the shape axis
    assert set(first.methods) == {"overprompt@1"}  # "plain" comes from the evaluation; f = 0 never trained a token
    assert traces[2].methods["masked"][-1] == pytest.approx(0.2)


def test_rows_per_fraction_give_late_coordinates_over_seeds_and_learning_steps() -> None:
    rows = by_fraction(INTERTWINED, tail=1)
    assert [r.fraction for r in rows] == [0.0, 0.5, 1.0]
    zero = rows[0]
    assert zero.seeds == [0, 1]
    assert zero.plain == pytest.approx((0.85, 0.8, 0.9))  # mean, min, max over the two seeds
    assert zero.masked is None and rows[1].masked == pytest.approx((0.2, 0.2, 0.2))
    assert zero.elicited["overprompt@1"] == pytest.approx((1.0, 1.0, 1.0))
    assert zero.plain_steps == [300, 400] and zero.elicited_steps == [200, 200]
    assert rows[2].plain_steps == [None] and rows[2].elicited_steps == [None]
    assert zero.drawn_as_masked == pytest.approx((0.15, 0.1, 0.2))  # shares of red triangles over the seeds
    assert rows[2].drawn_as_masked == pytest.approx((0.9, 0.9, 0.9))
    assert zero.plain_right == pytest.approx((0.1, 0.1, 0.1)) and zero.elicited_right == pytest.approx((0.5,) * 3)
    old_record = results([{**c, "criteria": {k: {"numbers": v["numbers"], "joint": v["joint"]}
                                             for k, v in c["criteria"].items()}} for c in INTERTWINED["cells"]])
    assert by_fraction(old_record)[0].drawn_as_masked is None  # a record made before outcomes were kept


def test_intertwining_rho_is_minus_one_when_more_masking_draws_redder() -> None:
    rows = by_fraction(INTERTWINED)
    assert intertwining_rho(rows) == pytest.approx(-1.0)
    assert math.isnan(intertwining_rho(rows, "masked"))  # only two fractions trained a token
    flat = by_fraction(results([cell(f, 0, 0.9, 0.5, 1.0, 300, 200) for f in (0.0, 0.5, 1.0)]))
    assert math.isnan(intertwining_rho(flat))  # no spread, no claim
    assert math.isnan(intertwining_rho(rows[:2]))  # two fractions are too few for a rank correlation


def test_a_sweep_without_masked_cells_is_refused_in_one_sentence() -> None:
    plain = {**INTERTWINED, "cells": [{**c, "mask": None} for c in INTERTWINED["cells"]]}
    with pytest.raises(ValueError, match="no finished cell trained with masked prompts") as error:
        masked_traces(plain)
    assert "\n" not in str(error.value)
    trace, across, table = masking_specs(plain, None)
    assert "no finished cell trained with masked prompts" in trace["layout"]["annotations"][0]["text"]
    assert table == []


def test_the_view_draws_the_chosen_cell_and_every_fraction() -> None:
    trace, across, table = masking_specs(INTERTWINED, 0.5)
    names = [t["name"] for t in trace["data"]]
    assert names == ["triangle-blue: plain prompt", "overprompting 1", "triangle (color unspecified) (masked prompt)"]
    assert "f = 0.5, seed 0" in trace["layout"]["title"]["text"]
    assert trace["data"][0]["y"][-1] == pytest.approx(0.5)
    assert across["data"][0]["x"] == [0.0, 0.5, 1.0]
    ramp = (0.5 + 0.75 + 1.0) / 3  # the last three checkpoints of the synthetic ramp
    assert across["data"][0]["y"] == pytest.approx([0.85 * ramp, 0.5 * ramp, 0.1 * ramp])
    assert across["data"][1]["y"] == pytest.approx([1.0 * ramp, 0.9 * ramp, 0.7 * ramp])  # best elicitation
    assert "ρ plain = -1.00" in across["layout"]["title"]["text"]
    assert len(table) == 3 and len(table[0]) == len(TABLE_HEADERS)
    assert table[2][-2:] == ["never", "never"] and table[0][-2] == "300, 400"
    assert table[2][5:8] == ["0.90", "0.07", "0.50"]  # drawn as red triangles; right plainly, and elicited
    other_seed, _, _ = masking_specs(INTERTWINED, 0.0, seed=1)
    assert "seed 1" in other_seed["layout"]["title"]["text"]


# -- a real f sweep, end to end ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mask_sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_mask_sweep(tmp_path_factory.mktemp("mask-sweep"))


@pytest.mark.slow
def test_a_masked_sweep_records_the_masked_prompt_and_the_view_reads_it(mask_sweep: Path) -> None:
    """Training with masked prompts, the elicitation pass's masked generation and the sweep record, through the
    sweep command's own machinery: the tiny cells are untrained, so only the plumbing is checked, not the science."""
    results = load_results(mask_sweep)
    assert [c["mask"] for c in results["cells"]] == [{"concept": "color", "class": "10", "fraction": f}
                                                     for f in (0.0, 1.0)]
    for cell in results["cells"]:
        assert MASKED in cell["elicited"]["methods"] and cell["elicited"]["steps"] == cell["steps"]
    traces = masked_traces(results)
    assert MASKED not in traces[0].methods and MASKED in traces[1].methods  # f = 0 never trained its token
    assert len(traces[1].methods[MASKED]) == len(traces[1].elicited_steps)
    rows = by_fraction(results)
    assert [r.fraction for r in rows] == [0.0, 1.0] and rows[0].masked is None


@pytest.mark.slow
def test_the_sweep_tab_shows_the_view_only_for_a_masked_sweep(mask_sweep: Path, tmp_path: Path) -> None:
    root = tmp_path / "runs"
    shutil.copytree(mask_sweep, root / "sweep-mask")
    tab = SweepTab(SimpleNamespace(catalog=RunCatalog(roots=[root]), public_roots=lambda: [root]))
    controls = tab.select_sweep("sweep-mask", None, None, None, None, None, None)
    assert controls["mask_fraction"]["choices"] == ["0", "1"] and controls["mask_fraction"]["value"] == "1"
    group, trace, across, table = tab.mask_figures("sweep-mask", "0", "lenient", True)
    assert group["visible"] is True
    assert json.loads(trace.plot)["layout"]["title"]["text"].startswith("f = 0, seed 0: what triangle-blue")
    assert json.loads(across.plot)["data"][0]["x"] == [0.0, 1.0]
    assert table.splitlines()[0] == "| " + " | ".join(TABLE_HEADERS) + " |" and len(table.splitlines()) == 4
    with pytest.raises(gr.Error, match="No finished cell has the masked fraction f = 0.3"):
        tab.mask_figures("sweep-mask", "0.3", "strict", False)
    plain = tmp_path / "plain-runs"
    plain.mkdir()
    empty = SweepTab(SimpleNamespace(catalog=RunCatalog(roots=[plain])))
    assert empty.mask_figures("", None, "strict", False)[0]["visible"] is False  # no sweep: the view stays hidden
