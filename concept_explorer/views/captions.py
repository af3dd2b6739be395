"""The sentences that describe a run and a checkpoint, in plain words (no markup), for the page and the report."""

from __future__ import annotations

from ..analysis.definitions import BETWEEN, NONE
from ..analysis.seeds import spread
from ..core.concepts import LEVEL_NAMES
from . import plots
from .run_view import RunDashboard


def step_caption(view: RunDashboard, index: int) -> str:
    """One line about the held-out class at checkpoint `index`, under the view's criterion."""
    c = view.labels.index(view.heldout_label)
    outcomes = view.evaluation.outcomes[index][c]
    correct = outcomes.get(view.heldout_label, 0.0)
    others = {k: v for k, v in outcomes.items() if k != view.heldout_label}
    text = f"Prompted as {view.heldout_name}, {correct:.0%} of the samples are {view.heldout_name} ({view.criterion})"
    if others:
        label, share = max(others.items(), key=lambda item: item[1])
        name = {NONE: "no object", BETWEEN: "in between classes"}.get(label) or view.names[view.labels.index(label)]
        text += f"; the most common mistake is {name} ({share:.0%})"
    phase = view.phase_at(index)
    if phase:
        text += f". Phase: {phase}"
    return text + "."


def headline(view: RunDashboard) -> str:
    """The run in one plain sentence for the page header: what the model saw, what it never saw, what to watch."""
    space = view.space
    if space.dataset == "celeba":
        return (f"A small diffusion model trained on CelebA faces of three of the four {' × '.join(space.concepts)} "
                f"combinations — it never saw a face that is {view.heldout_name}. Watch when it learns to draw one.")
    code = dict(zip(space.concepts, space.heldout_classes()[0]))
    adjectives = [c for c in space.concepts if c not in ("shape", "bg")]
    seen = [", ".join("/".join(LEVEL_NAMES[c]) for c in adjectives)] if adjectives else []
    seen.append(" and ".join(f"{s}s" for s in LEVEL_NAMES["shape"]) if "shape" in code else f"{space.shape}s")
    unseen = [LEVEL_NAMES[c][code[c]] for c in adjectives]
    unseen.append(LEVEL_NAMES["shape"][code["shape"]] if "shape" in code else space.shape)
    if "bg" in code:
        seen.append(f"on {'/'.join(LEVEL_NAMES['bg'])} backgrounds")
        unseen.append(f"on a {LEVEL_NAMES['bg'][code['bg']]} background")
    others = len(space.heldout_classes()) - 1
    nor = f" (nor {others} other combinations)" if others else ""
    return (f"A small diffusion model trained on {' '.join(seen)} — it never saw a {' '.join(unseen)}{nor}. "
            "Watch when it learns to draw one.")


def seed_summary(view: RunDashboard) -> str:
    """One line on the run's seed group under the view's criterion: median [min–max] over the seeds of the plain and
    the best elicited learning step and of the gap; empty for a run without sibling seeds."""
    bands = view.seed_bands
    if bands is None:
        return ""
    numbers = bands.numbers
    gaps = [n.gap for n in numbers if n.gap is not None]
    text = (f"Over {len(numbers)} seeds ({bands.criterion}), learning steps of {view.heldout_name}: plain prompting "
            f"{spread([n.plain for n in numbers])}, best elicitation {spread([n.elicited for n in numbers])}")
    if gaps:
        text += f", gap {spread(gaps)}" + (f" ({len(gaps)} of {len(numbers)} seeds)" if len(gaps) < len(numbers)
                                           else "")
    return text + ". Shaded: the range over the seeds (grey: plain prompting; teal: best elicitation)."


def describe(view: RunDashboard) -> str:
    """The run in one technical line (Compare caption, report): name, preset, geometry, concept signals,
    checkpoints, seed, status. The page header takes `headline`."""
    config = view.run.config
    space = config.concept_space
    if space.dataset == "synthetic":
        deltas = ", ".join(f"Δ{c} = {getattr(space, 'delta_' + c):g}" for c in space.concepts if c != "shape")
    else:
        deltas = f"CelebA, {view.heldout_name} held out"
    guidance = f", null token for guidance (p_uncond = {config.train.p_uncond:g})" if view.supports_guidance else ""
    return (f"{view.run.name} · preset {config.preset} · {space.resolution} px · concepts "
            f"{', '.join(space.concepts)} ({deltas}) · {len(view.steps)} evaluated checkpoints up to step "
            f"{view.steps[-1]} · seed {config.train.seed}{guidance} · status {view.run.status}")


def learning_summary(view: RunDashboard) -> str:
    """Every class's learning step, and the held-out class's under each elicitation method with its gap."""
    rows = []
    for label, name in zip(view.labels, view.names):
        step = view.learning[label]["joint"]
        rows.append(f"{name}{' (held out)' if view.heldout[view.labels.index(label)] else ''}: {step}")
    if view.curves is not None:
        for family, learned in view.curves.learned.items():
            gap = view.curves.gap(family) if family != "plain" else None
            extra = f" (gap {gap} steps)" if gap is not None else ""
            rows.append(f"{plots.FAMILY_NAMES.get(family, family)} → {view.heldout_name}: {learned}{extra}")
    return (f"Learning steps under the {view.criterion} criterion (first checkpoint of ≥3 in a row at ≥80 % "
            "correct): " + "; ".join(rows) + ".")
