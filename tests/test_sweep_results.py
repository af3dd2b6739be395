"""What the sweep views read (analysis/sweep_results.py): learning time against a grid axis and accuracy bands
over seeds, on synthetic records whose answers are known, and the record's file errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from concept_explorer.analysis.sweep_results import (
    RESULTS_FILE,
    accuracy_bands,
    axis_of,
    concept_lead,
    learning_times,
    load_results,
)
from concept_explorer.core.run import RunFolderError

FIELD = "concept_space.delta_color"
STEPS = [100, 200, 300, 400]


def cell(delta: float, seed: int, color_step: int | None, elicited: int | None, train: float, test: list[float],
         capability: list[float] | None) -> dict:
    """A finished cell's record: three training classes at accuracy `train`, held-out class '11' at `test`."""
    joint = [[train, train, train, t] for t in test]
    learning = {"11": {"color": color_step, "size": 200, "joint": color_step}}
    numbers = {"elicited": elicited, "turn": None,
               "concept_per_family": {"plain": {"color": color_step, "size": 200},
                                      "overprompt": {"color": elicited, "size": 200}}}
    per = {"joint": joint, "capability_steps": STEPS, "capability": capability, "learning": learning,
           "numbers": numbers}
    return {"name": f"d{delta}-s{seed}", "overrides": {FIELD: delta, "train.seed": seed}, "seed": seed,
            "steps": STEPS, "labels": ["00", "01", "10", "11"], "training": ["00", "01", "10"], "heldout": ["11"],
            "criteria": {"strict": per, "lenient": per}}


def record(cells: list[dict]) -> dict:
    return {"format": 1, "grid": {FIELD: sorted({c["overrides"][FIELD] for c in cells})}, "seeds": [0, 1],
            "cells": cells, "unreadable": {}}


def test_learning_time_falls_as_the_signal_grows_and_rho_says_so() -> None:
    steps = {0.2: None, 0.4: 300, 0.6: 200, 0.8: 100}  # Δ 0.2 never learns within the run: slowest
    cells = [cell(d, s, step, 100, 1.0, [0, 0, 0, 0], None) for s in (0, 1) for d, step in steps.items()]
    times = learning_times(record(cells), "11", "color")
    assert times.values == [0.2, 0.4, 0.6, 0.8] * 2 and times.steps == [None, 300, 200, 100] * 2
    assert times.correlation.rho == pytest.approx(1.0) and times.correlation.never == 2
    assert times.final_steps == [400] * 8
    elicited = learning_times(record(cells), "11", "color", method="elicited")
    assert elicited.steps == [100] * 8 and np.isnan(elicited.correlation.rho)  # no order to read
    reversed_cells = [cell(d, s, {0.2: 100, 0.4: 200, 0.6: 300, 0.8: None}[d], None, 1, [0] * 4, None)
                      for s in (0, 1) for d in steps]
    assert learning_times(record(reversed_cells), "11", "color").correlation.rho == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="plain or elicited"):
        learning_times(record(cells), "11", "color", method="guessed")


def test_accuracy_bands_span_the_seeds_of_one_axis_value() -> None:
    cells = [cell(0.4, 0, 300, 200, 0.9, [0.0, 0.2, 0.4, 0.6], [0.1, 0.5, 0.9, 1.0]),
             cell(0.4, 1, 300, 200, 0.7, [0.2, 0.2, 0.6, 1.0], None),  # this seed was never elicited
             cell(0.8, 0, 100, 100, 0.0, [1.0, 1.0, 1.0, 1.0], [1.0] * 4)]
    bands = accuracy_bands(record(cells), 0.4)
    assert bands.seeds == [0, 1] and bands.steps == STEPS
    mean, low, high = bands.test
    assert mean.tolist() == pytest.approx([0.1, 0.2, 0.5, 0.8])
    assert low.tolist() == pytest.approx([0.0, 0.2, 0.4, 0.6]) and high.tolist() == pytest.approx([0.2, 0.2, 0.6, 1.0])
    assert bands.train[0].tolist() == pytest.approx([0.8] * 4)
    assert bands.capability[0].tolist() == pytest.approx([0.1, 0.5, 0.9, 1.0])  # the elicited seed alone
    with pytest.raises(ValueError, match="No finished cell"):
        accuracy_bands(record(cells), 0.6)


def test_the_axis_must_be_named_when_the_grid_has_two() -> None:
    results = record([cell(0.4, 0, 300, 200, 1, [0] * 4, None)])
    assert axis_of(results) == FIELD
    results["grid"]["concept_space.delta_size"] = [0.3, 0.4]
    with pytest.raises(ValueError, match="2 grid axes"):
        axis_of(results)
    with pytest.raises(ValueError, match="not an axis"):
        axis_of(results, "train.lr")


@pytest.mark.parametrize("content, message", [
    (None, "has no results.json"),
    ("{not json", "not valid JSON"),
    (json.dumps({"format": 99, "cells": []}), "not a sweep record"),
    (json.dumps([1, 2]), "not a sweep record"),
])
def test_a_missing_or_broken_record_is_one_sentence(tmp_path: Path, content: str | None, message: str) -> None:
    if content is not None:
        (tmp_path / RESULTS_FILE).write_text(content)
    with pytest.raises(RunFolderError, match=message):
        load_results(tmp_path)


def test_concept_lead_reads_which_concept_the_trajectory_got_right_first() -> None:
    colour_first = cell(0.8, 0, 300, None, 1, [0] * 4, None)  # learned at 300: only 100 and 200 count
    colour_first["coordinates"] = [[[0, 0]] * 3 + [[0.6, 0.1]], [[0, 0]] * 3 + [[0.8, 0.2]],
                                   [[0, 0]] * 3 + [[-5, 5]], [[0, 0]] * 3 + [[1, 1]]]
    assert concept_lead(colour_first) == pytest.approx(0.55)
    size_first = cell(0.2, 0, None, None, 1, [0] * 4, None)  # never learned: every drawn checkpoint counts
    size_first["coordinates"] = [[[0, 0]] * 3 + [[None, None]], [[0, 0]] * 3 + [[0.0, 0.8]],
                                 [[0, 0]] * 3 + [[0.2, 0.9]], [[0, 0]] * 3 + [[0.1, 0.7]]]
    assert concept_lead(size_first) == pytest.approx(-0.7)
    nothing = cell(0.2, 0, None, None, 1, [0] * 4, None)
    nothing["coordinates"] = [[[0, 0]] * 3 + [[None, None]]] * 4
    assert concept_lead(nothing) is None
