"""Which of the generation panel's concept controls stands for which of a run's concepts.

The panel has one position slider and one weight slider per name of `CONCEPT_ORDER` (its *slots*), and its
intervention and overprompt choices take those names as values. Keeping the names fixed keeps the API's parameters
and a link's keys (`c_color`, `w_size`, `iv=color`, `opc=color`) the same for every run; a run whose concepts are
other names (two CelebA attributes) borrows slots instead of renaming controls, and only what the viewer reads
(labels, level names, choice labels) shows its own names. A synthetic concept sits in its own slot, so nothing
changes for synthetic runs; the run's k-th other concept takes the k-th slot its synthetic concepts leave free
(Male → shape, Smiling → color). Every place that turns controls into a prompt or a prompt into controls (the
settings, the run switch, prompt-a-class, links) asks this one mapping.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping

from ..core.concepts import CONCEPT_ORDER, LEVEL_NAMES, ConceptSpace


class ConceptSlots:
    """A run's concepts on the panel's slots, in the run's concept order."""

    def __init__(self, space: ConceptSpace) -> None:
        assert len(space.concepts) <= len(CONCEPT_ORDER), "every concept needs a slot of the panel"
        free = iter([slot for slot in CONCEPT_ORDER if slot not in space.concepts])
        self.space = space
        self.concepts = tuple(space.concepts)
        self.slots = tuple(c if c in CONCEPT_ORDER else next(free) for c in self.concepts)
        self._concept_of = dict(zip(self.slots, self.concepts))

    def concept(self, name: Hashable) -> str | None:
        """The run's concept a control value names: a slot the run uses, or (for API clients) one of the run's own
        concept names; None for anything else (an API client may send any name, or a number)."""
        if name in self.concepts:
            return name
        return self._concept_of.get(name)

    def vector(self, values: Mapping[str, float]) -> tuple[float, ...]:
        """Per concept of the run, in its order, the value of its slot (positions or intervention weights)."""
        return tuple(values[slot] for slot in self.slots)

    def levels(self, code: Iterable[int]) -> dict[str, float]:
        """Slot → position of a class's means (prompt-a-class): its bit per concept."""
        return {slot: float(bit) for slot, bit in zip(self.slots, code)}

    def choices(self) -> list[tuple[str, str]]:
        """(label, value) of the run's concepts as the overprompt and direction choices list them."""
        return list(zip(self.concepts, self.slots))

    def named(self) -> list[str]:
        """The slots as an error message names them: with the run's concept beside a slot of another name."""
        return [slot if slot == concept else f"{slot} ({concept})" for concept, slot in self.choices()]

    def position_label(self, slot: str) -> str:
        """'color: red (0) ↔ blue (1)': the concept in the slot and its two levels at the slider's ends (a slot the
        run leaves empty keeps its synthetic concept's label; it is hidden)."""
        concept = self._concept_of.get(slot, slot)
        low, high = self.space.level_names(concept) if concept in self.concepts else LEVEL_NAMES[slot]
        return f"{concept}: {low} (0) ↔ {high} (1)"

    def weight_label(self, slot: str) -> str:
        return f"{self._concept_of.get(slot, slot)} weight"
