"""The generation panel's settings as one value: a field per control, named like the control on the page.

The layout declares one component under each field's name; events hand the panel to a callback as one
`GenerationSettings`; each field declares how a shared link carries it. So a new control is a component in the
layout plus a field here (and its use in `live_settings`), and nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

from ..analysis.elicit import DEFAULT_DIRECTION, DIRECTIONS
from ..analysis.live import LiveSettings
from ..core import limits
from ..core.concepts import CONCEPT_ORDER
from ..views.run_view import RunDashboard
from .link import Choice, Concepts, Flag, Number, StepText, Warn, read_params, setting

NONE_PATCH = "none"
"""The patch dropdown's value for "no embedding patched in"."""
DIRECTION_CUSTOM = "custom mix"
"""The intervention direction that mixes the concepts by the weight sliders."""
DIRECTION_CHOICES = ("orthogonal", "pairs", "target")
"""The ways to take a concept's direction (elicit.DIRECTIONS) as the dropdown lists them: the cleanest first."""


def _position(concept: str) -> Any:
    # The panel starts at the held-out corner: level 1 of every concept (blue, small, …).
    return setting(1.0, Number(f"c_{concept}", limits.POSITION))


def _weight(concept: str) -> Any:
    return setting(0.0, Number(f"w_{concept}", limits.WEIGHT))


@dataclass(frozen=True)
class GenerationSettings:
    """The values as the controls hold them, unchecked (an API client can send anything): `live_settings` and
    LiveSettings.validated check them."""

    shape: float = _position("shape")
    color: float = _position("color")
    size: float = _position("size")
    bg: float = _position("bg")
    overprompt: float = setting(0.0, Number("op", limits.OVERPROMPT))
    overprompt_along: Sequence[str] = setting(("color",), Concepts("opc"))
    direction: str = setting("color", Choice("iv", (*CONCEPT_ORDER, DIRECTION_CUSTOM),
                                             f"a concept name or {DIRECTION_CUSTOM!r}"))
    w_shape: float = _weight("shape")
    w_color: float = _weight("color")
    w_size: float = _weight("size")
    w_bg: float = _weight("bg")
    strength: float = setting(0.0, Number("ivs", limits.STRENGTH))
    # How each concept's direction is taken (elicit.DIRECTIONS); `direction` above is which concepts it mixes.
    direction_kind: str = setting(DEFAULT_DIRECTION, Choice("ivd", DIRECTION_CHOICES, "orthogonal, pairs or target"))
    projection: bool = setting(False, Flag("proj"))
    patch: str = setting(NONE_PATCH, StepText("patch", limits.STEP))
    guidance: float = setting(1.0, Number("cfg", limits.GUIDANCE))
    masked: bool = setting(False, Flag("masked"))  # leave the run's masked concept unspecified (train.mask_concept)
    seed: float = setting(0, Number("seed", limits.SEED))
    samples: float = setting(limits.DEFAULT_SAMPLES, Number("n", limits.SAMPLES))
    sample_steps: float = setting(limits.DEFAULT_SAMPLE_STEPS, Number("ss", limits.SAMPLE_STEPS))

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The controls' names, in the order events pass them (and API clients send them)."""
        return tuple(f.name for f in fields(cls))

    def values(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.names()}

    def positions(self) -> dict[str, float]:
        """Position along each slot's axis, for every slot (the run uses its own: RunDashboard.slots)."""
        return {concept: getattr(self, concept) for concept in CONCEPT_ORDER}

    def weights(self) -> dict[str, float]:
        """Each slot's weight in the custom intervention direction."""
        return {concept: getattr(self, f"w_{concept}") for concept in CONCEPT_ORDER}

    def live_settings(self, dashboard: RunDashboard, index: Any) -> LiveSettings:
        """What to sample at checkpoint `index` of the run (LiveGenerator validates the values). The controls are
        the panel's slots; the run's concepts are read off them by `dashboard.slots`."""
        slots = dashboard.slots
        along = slots.concept(self.direction)
        if along is not None:
            weights = tuple(float(c == along) for c in slots.concepts)
        elif self.direction == DIRECTION_CUSTOM:
            weights = slots.vector(self.weights())
        else:
            raise ValueError(f"Unknown intervention direction {self.direction!r}; choose one of {slots.named()} or "
                             f"{DIRECTION_CUSTOM!r}.")
        if self.patch in (None, "", NONE_PATCH):
            patch_step = None
        else:
            try:
                patch_step = int(str(self.patch).removeprefix("step ").strip())
            except ValueError:
                raise ValueError(f"Unknown patch source {self.patch!r}; choose a checkpoint step or "
                                 f"{NONE_PATCH!r}.") from None
        # A name that is no concept of the run is passed on as it is, for LiveSettings to refuse in its sentence.
        along_overprompt = tuple(slots.concept(c) or c for c in self.overprompt_along or ())
        return LiveSettings(
            step=dashboard.steps[dashboard.check_index(index)], concept_vector=slots.vector(self.positions()),
            overprompt=self.overprompt, overprompt_concepts=along_overprompt,
            intervention=weights, intervention_strength=self.strength,
            projection=bool(self.projection), direction=self.direction_kind, patch_step=patch_step,
            guidance=self.guidance, masked=self.masked, seed=self.seed, samples=self.samples,
            sample_steps=self.sample_steps,
        )

    def fitted_to(self, dashboard: RunDashboard) -> GenerationSettings:
        """These settings with what the run cannot use replaced (other concepts, steps it lacks, guidance, a masked
        prompt)."""
        slots = dashboard.slots.slots
        return replace(
            self, overprompt_along=[c for c in self.overprompt_along if c in slots],
            direction=self.direction if self.direction in (*slots, DIRECTION_CUSTOM) else slots[0],
            patch=self.patch if self.patch in {str(s) for s in dashboard.run.steps} else NONE_PATCH,
            guidance=self.guidance if dashboard.supports_guidance else 1.0,
            masked=self.masked if dashboard.supports_masking else False,
        )

    def for_link(self) -> GenerationSettings:
        """What a link needs: the weights count only for the custom direction, so other links leave them out."""
        if self.direction == DIRECTION_CUSTOM:
            return self
        default = GenerationSettings()
        return replace(self, **{f"w_{c}": getattr(default, f"w_{c}") for c in CONCEPT_ORDER})

    @classmethod
    def from_link(cls, params: Mapping[str, str], warn: Warn) -> GenerationSettings:
        """The settings a link holds; a link with weights but no direction means the custom direction."""
        values = read_params(cls, params, warn)
        if "direction" not in values and any(values.get(f"w_{c}") for c in CONCEPT_ORDER):
            values["direction"] = DIRECTION_CUSTOM
        return cls(**values)


assert set(CONCEPT_ORDER) <= set(GenerationSettings.names()), "one position slider per concept"
assert set(DIRECTION_CHOICES) == set(DIRECTIONS), "the direction dropdown lists every way elicit takes a direction"
