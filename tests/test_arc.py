"""The whole-arc outcomes of a run and the ranking of configurations by them (analysis/arc.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from concept_explorer.analysis.arc import MIN_GAP_FRACTION, OUTCOMES, arc_of, best_config, score_config

ROOT = Path(__file__).resolve().parents[1]


def numbers(training=2000, elicited=3000, plain=7000, memorization=(1000, 2500), turn=2600, final=12000) -> dict:
    """A RunNumbers record as results.json stores it (only the fields the arc reads, plus one it ignores)."""
    return {"training": training, "elicited": elicited, "plain": plain, "memorization": memorization,
            "mistaken_for": "01" if memorization else None, "turn": turn, "final_step": final, "method": "overprompt"}


def test_a_run_with_every_phase_tells_the_whole_arc() -> None:
    arc = arc_of(numbers())
    assert arc.whole and all(arc.outcome(o) for o in OUTCOMES)
    assert arc.gap_fraction == pytest.approx(4000 / 12000)


@pytest.mark.parametrize("missing", ["training", "elicited", "plain", "memorization", "turn"])
def test_any_missing_phase_breaks_the_arc(missing: str) -> None:
    arc = arc_of(numbers(**{missing: None}))
    assert not arc.outcome(missing) and not arc.whole


def test_a_lead_shorter_than_the_required_share_of_the_run_is_not_a_hidden_capability() -> None:
    just_short = arc_of(numbers(elicited=3000, plain=3000 + int(MIN_GAP_FRACTION * 12000) - 1))
    just_enough = arc_of(numbers(elicited=3000, plain=3000 + int(MIN_GAP_FRACTION * 12000)))
    assert just_short.plain and just_short.elicited and not just_short.gap and not just_short.whole
    assert just_enough.gap and just_enough.whole
    assert arc_of(numbers(elicited=7000, plain=3000)).gap_fraction < 0  # plain first: no lead at all


def test_without_plain_generalization_the_lead_is_unknown_not_large() -> None:
    arc = arc_of(numbers(plain=None))
    assert arc.gap_fraction is None and not arc.gap


def test_configurations_rank_by_the_share_of_outcomes_their_seeds_show() -> None:
    whole = [arc_of(numbers()), arc_of(numbers(turn=None))]
    suppressed = [arc_of(numbers(plain=None)), arc_of(numbers(plain=None, memorization=None, turn=None))]
    scores = {"whole": score_config(whole), "suppressed": score_config(suppressed)}
    assert scores["whole"].counts["turn"] == 1 and scores["whole"].whole == 1
    assert scores["whole"].score == pytest.approx(11 / 12)
    assert scores["suppressed"].counts["plain"] == 0 and scores["suppressed"].mean_gap_fraction is None
    assert best_config(scores) == "whole"


def test_a_configuration_with_too_few_seeds_is_not_chosen() -> None:
    scores = {"one lucky seed": score_config([arc_of(numbers())]),
              "two seeds": score_config([arc_of(numbers(turn=None))] * 2)}
    assert best_config(scores) == "one lucky seed"
    assert best_config(scores, min_seeds=2) == "two seeds"
    assert best_config(scores, min_seeds=3) is None


def test_the_arc_reads_the_numbers_a_sweep_stores() -> None:
    """The field names arc_of reads are the ones the bundled sweep's results.json holds."""
    cell = json.loads((ROOT / "checkpoints" / "sweep-color" / "results.json").read_text())["cells"][0]
    stored = cell["criteria"]["strict"]["numbers"]
    arc = arc_of(stored)
    assert arc.plain == (stored["plain"] is not None) and arc.turn == (stored["turn"] is not None)
