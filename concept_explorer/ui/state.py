"""The whole view as a small value: what a shared link encodes in its query string, and how to read it back.

Only settings that differ from the defaults are written, so links stay short; a link with a bad value still
opens (that value falls back to its default) and the viewer is told which parameter was ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from urllib.parse import urlencode

from ..core import limits
from ..core.concepts import CONCEPT_ORDER

DIRECTION_CUSTOM = "custom mix"


def default_positions() -> dict[str, float]:
    """The generation panel starts at the held-out corner: level 1 of every concept (blue, small, …)."""
    return {concept: 1.0 for concept in CONCEPT_ORDER}


@dataclass(frozen=True)
class ViewState:
    run: str | None = None
    step: int | None = None  # a training step (snapped to the nearest checkpoint when shown)
    compare: str | None = None
    positions: dict[str, float] = field(default_factory=default_positions)
    overprompt: float = 0.0
    overprompt_concepts: tuple[str, ...] = ("color",)
    direction: str = "color"  # a concept name or DIRECTION_CUSTOM
    weights: dict[str, float] = field(default_factory=lambda: {c: 0.0 for c in CONCEPT_ORDER})
    strength: float = 0.0
    projection: bool = False
    patch: int | None = None
    guidance: float = 1.0
    seed: int = 0
    samples: int = limits.DEFAULT_SAMPLES
    sample_steps: int = limits.DEFAULT_SAMPLE_STEPS
    smoothing: float = 0.0
    present: bool = False

    # -- writing ----------------------------------------------------------------------------------------------------
    def to_query(self) -> str:
        """A query string holding every setting that differs from the default (empty for the default view)."""
        default = ViewState()
        params: dict[str, str] = {}
        scalar = {"run": "run", "step": "step", "compare": "vs", "overprompt": "op", "direction": "iv",
                  "strength": "ivs", "patch": "patch", "guidance": "cfg", "seed": "seed", "samples": "n",
                  "sample_steps": "ss", "smoothing": "smooth"}
        for name, key in scalar.items():
            value = getattr(self, name)
            if value is not None and value != getattr(default, name):
                params[key] = _text(value)
        for concept, value in self.positions.items():
            if value != default.positions.get(concept):
                params[f"c_{concept}"] = _text(value)
        if tuple(self.overprompt_concepts) != default.overprompt_concepts:
            params["opc"] = ",".join(self.overprompt_concepts) or "none"
        if self.direction == DIRECTION_CUSTOM:
            for concept, value in self.weights.items():
                if value:
                    params[f"w_{concept}"] = _text(value)
        if self.projection:
            params["proj"] = "1"
        if self.present:
            params["present"] = "1"
        return urlencode(params)

    # -- reading ----------------------------------------------------------------------------------------------------
    @classmethod
    def from_query(cls, params: Mapping[str, str]) -> tuple[ViewState, list[str]]:
        """The view a query asks for, and one sentence per parameter that was ignored."""
        state, problems = cls(), []
        positions, weights = dict(state.positions), dict(state.weights)
        changes: dict[str, object] = {}

        def number(key: str, bounds: limits.Range) -> float | int | None:
            text = params[key]
            try:
                return bounds.check(key, float(text))
            except ValueError:
                kind = "a whole number" if bounds.whole else "a number"
                problems.append(f"Ignored {key}={text!r}: it must be {kind} from {bounds.low:g} to {bounds.high:g}.")
                return None

        readers = {
            "step": ("step", limits.STEP), "op": ("overprompt", limits.OVERPROMPT),
            "ivs": ("strength", limits.STRENGTH), "patch": ("patch", limits.STEP),
            "cfg": ("guidance", limits.GUIDANCE), "seed": ("seed", limits.SEED),
            "n": ("samples", limits.SAMPLES), "ss": ("sample_steps", limits.SAMPLE_STEPS),
            "smooth": ("smoothing", limits.SMOOTHING),
        }
        for key, text in params.items():
            if key in readers:
                name, bounds = readers[key]
                value = number(key, bounds)
                if value is not None:
                    changes[name] = value
            elif key in ("run", "vs"):
                changes["run" if key == "run" else "compare"] = text
            elif key.startswith("c_") and key[2:] in CONCEPT_ORDER:
                value = number(key, limits.POSITION)
                if value is not None:
                    positions[key[2:]] = value
            elif key.startswith("w_") and key[2:] in CONCEPT_ORDER:
                value = number(key, limits.WEIGHT)
                if value is not None:
                    weights[key[2:]] = value
            elif key == "opc":
                chosen = tuple(c for c in text.split(",") if c in CONCEPT_ORDER)
                if text != "none" and len(chosen) != len(text.split(",")):
                    problems.append(f"Ignored unknown concepts in opc={text!r}; concepts are {list(CONCEPT_ORDER)}.")
                changes["overprompt_concepts"] = chosen
            elif key == "iv":
                if text in CONCEPT_ORDER or text == DIRECTION_CUSTOM:
                    changes["direction"] = text
                else:
                    problems.append(f"Ignored iv={text!r}: use a concept name or {DIRECTION_CUSTOM!r}.")
            elif key in ("proj", "present"):
                changes["projection" if key == "proj" else "present"] = text.lower() in ("1", "true", "yes", "on")
            elif key not in ("__theme", "view"):
                problems.append(f"Ignored unknown link parameter {key!r}.")
        if any(weights.values()) and "direction" not in changes:
            changes["direction"] = DIRECTION_CUSTOM
        return replace(state, positions=positions, weights=weights, **changes), problems


def _text(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)

