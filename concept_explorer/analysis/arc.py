"""The whole arc of one run, and how well a configuration tells it across seeds: the test a default must pass.

The explorer exists to show one story on the held-out class: the training classes are learned; the held-out prompt
is first drawn as a training class (memorisation); elicitation draws it well before plain prompting does (hidden
capability), and plain prompting catches up within the run (generalisation), after a sudden turn of its trajectory.
A run's `seeds.RunNumbers` already hold each step; this module turns them into yes/no outcomes and ranks
configurations by how many of their seeds show each one, so the choice of a default is a computation over stored
numbers, not a judgement.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MIN_GAP_FRACTION = 0.2
"""The hidden capability must lead plain prompting by at least this share of the run: a lead of one or two
checkpoints would not be visible to an audience, and it is what the default's 'done when' asks."""

OUTCOMES = ("training", "elicited", "plain", "gap", "memorization", "turn")
"""In the order the story is told; each is one column of the search table."""

OUTCOME_TITLES = {
    "training": "training classes learned",
    "elicited": "best elicitation learns held-out",
    "plain": "plain prompting learns held-out",
    "gap": f"elicitation ahead by ≥ {MIN_GAP_FRACTION:.0%} of run",
    "memorization": "memorization",
    "turn": "sudden turn",
}


@dataclass(frozen=True)
class Arc:
    """One run's outcomes under one criterion. `gap_fraction` is (plain − elicited) / final step, None when either
    never happened within the run."""

    training: bool
    elicited: bool
    plain: bool
    memorization: bool
    turn: bool
    gap_fraction: float | None

    @property
    def gap(self) -> bool:
        return self.gap_fraction is not None and self.gap_fraction >= MIN_GAP_FRACTION

    def outcome(self, name: str) -> bool:
        return bool(getattr(self, name))

    @property
    def whole(self) -> bool:
        """Every outcome at once: the story a speaker can demo on this run."""
        return all(self.outcome(name) for name in OUTCOMES)


def arc_of(numbers: dict[str, Any]) -> Arc:
    """The outcomes of one run from its RunNumbers as stored (dataclasses.asdict, e.g. in a sweep's results.json)."""
    plain, elicited = numbers["plain"], numbers["elicited"]
    gap = None if plain is None or elicited is None else (plain - elicited) / numbers["final_step"]
    return Arc(training=numbers["training"] is not None, elicited=elicited is not None, plain=plain is not None,
               memorization=numbers["memorization"] is not None, turn=numbers["turn"] is not None, gap_fraction=gap)


@dataclass(frozen=True)
class ConfigScore:
    """How many of a configuration's seeds show each outcome, and the mean gap over the seeds that have one."""

    seeds: int
    counts: dict[str, int]
    whole: int  # seeds showing every outcome at once
    mean_gap_fraction: float | None

    @property
    def score(self) -> float:
        """The share of (seed, outcome) pairs shown: every outcome weighs the same, since a default that drops any
        one of them cannot tell the story."""
        return sum(self.counts.values()) / (self.seeds * len(OUTCOMES))

    def rank_key(self) -> tuple[float, int, float]:
        """Higher is better: the score, then whole arcs, then the mean lead of elicitation."""
        return self.score, self.whole, self.mean_gap_fraction or 0.0


def score_config(arcs: list[Arc]) -> ConfigScore:
    assert arcs, "a configuration needs at least one finished seed to be scored"
    gaps = [a.gap_fraction for a in arcs if a.gap_fraction is not None]
    return ConfigScore(seeds=len(arcs), counts={name: sum(a.outcome(name) for a in arcs) for name in OUTCOMES},
                       whole=sum(a.whole for a in arcs), mean_gap_fraction=sum(gaps) / len(gaps) if gaps else None)


def best_config(scores: dict[str, ConfigScore], min_seeds: int = 1) -> str | None:
    """The configuration with the highest rank key among those with at least `min_seeds` seeds (first on ties)."""
    eligible = {name: s for name, s in scores.items() if s.seeds >= min_seeds}
    return max(eligible, key=lambda name: eligible[name].rank_key()) if eligible else None
