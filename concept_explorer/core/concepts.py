"""Concept space: which concepts vary, their two levels, and the concept signal Δ of each.

Follows the authors' data generator (reference-spec §1.3–§1.4): every concept has two levels whose means are
Δ apart along one semantic axis, training images draw each attribute uniformly within its class range, and the
held-out ("OOD") classes are prompted at their exact class means. Classes are bit codes over the run's concepts
in a fixed order; a class is seen in training iff at most one of its bits is 1 (the "fid_axis" rule).
A CelebA space (`dataset` "celeba", reference-spec §6) has two of CelebA's binary attributes as its concepts, each
level a one-hot in h, and the levels oriented so that its held-out combination is class 11 (core/celeba.py).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import torch

from .celeba import ATTRIBUTES
from .limits import DELTA_MAX, check_config_ranges, check_config_types

CONDITIONING_DIM = 11
"""Length of h: [shape one-hot(2), x, y, object RGB(3), size, background RGB(3)] (reference-spec §2.1)."""

H_SLOTS: dict[str, slice] = {
    "shape": slice(0, 2),
    "x": slice(2, 3),
    "y": slice(3, 4),
    "color": slice(4, 7),
    "size": slice(7, 8),
    "bg": slice(8, 11),
}
"""Where each attribute lives in h."""

CONCEPT_ORDER = ("shape", "color", "size", "bg")
"""Class bits are ordered like this (the authors' order with the null position concepts dropped)."""

SHAPES = ("circle", "triangle", "square")

LEVEL_NAMES: dict[str, tuple[str, str]] = {
    "color": ("red", "blue"),
    "size": ("large", "small"),
    "bg": ("light", "dark"),
    "shape": ("circle", "triangle"),
}
"""Human names of level 0 and level 1; level 1 of every concept is the held-out direction."""

DATASETS = ("synthetic", "celeba")
"""Where a run's images come from: rendered (core/render.py) or a local CelebA copy (core/celeba.py)."""

NEUTRAL_BACKGROUND = (0.8, 1.0)
"""Per-channel background range when background is not a concept (pastel tint, a nuisance variable)."""


@dataclass(frozen=True)
class ConceptSpace:
    """The data-generating process of one run.

    Sizes are radii in units of half the image width, so they scale with `resolution` (§1.1).
    """

    concepts: tuple[str, ...] = field(
        default=("color", "size"), metadata={"help": "concepts that vary, from shape,color,size,bg"}
    )
    resolution: int = field(default=32, metadata={"help": "image side in pixels"})
    delta_color: float = field(default=0.4, metadata={"help": "colour concept signal Δc (0 < Δc <= 0.8)"})
    delta_size: float = field(default=0.4, metadata={"help": "size concept signal Δs (0 < Δs <= 0.4)"})
    delta_bg: float = field(default=0.4, metadata={"help": "background concept signal Δbg (0 < Δbg <= 0.8)"})
    size_center: float = field(default=0.45, metadata={"help": "midpoint of the large and small size means"})
    shape: str = field(default="circle", metadata={"help": "shape drawn when shape is not a concept"})
    position_range: float = field(default=0.5, metadata={"help": "centres are uniform in ±this (half-widths)"})
    blur_px_at_32: float = field(default=1.0, metadata={"help": "edge blur σ in pixels at 32 px (scales)"})
    noise_level: float = field(default=0.001, metadata={"help": "std of i.i.d. pixel noise"})
    min_size: float = field(default=0.1, metadata={"help": "sizes are clamped below at this radius"})
    dataset: str = field(default="synthetic", metadata={
        "help": "synthetic (rendered) or celeba (a local copy; concepts are then two CelebA attribute names)"})
    heldout: str = field(default="11", metadata={
        "help": "celeba: the held-out combination of the two attributes, e.g. 01 (1 = has it); synthetic: 11"})
    data_root: str = field(default="", metadata={
        "help": "celeba: folder holding img_align_celeba/, list_attr_celeba.txt, list_eval_partition.txt"})

    def __post_init__(self) -> None:
        check_config_types("concept_space", self)
        if self.dataset not in DATASETS:
            raise ValueError(f"Unknown dataset {self.dataset!r}; choose from {list(DATASETS)}.")
        if self.dataset == "celeba":
            self._check_celeba()
            return
        if self.heldout != "11" or self.data_root:
            raise ValueError("concept_space.heldout and data_root are for CelebA runs (concept_space.dataset celeba); "
                             "a synthetic run holds out the classes with two or more level-1 concepts.")
        unknown = [c for c in self.concepts if c not in CONCEPT_ORDER]
        if unknown:
            raise ValueError(f"Unknown concept(s) {unknown}; choose from {list(CONCEPT_ORDER)}.")
        if len(set(self.concepts)) != len(self.concepts) or len(self.concepts) < 2:
            raise ValueError(f"A concept space needs at least two distinct concepts, got {list(self.concepts)}.")
        if tuple(c for c in CONCEPT_ORDER if c in self.concepts) != tuple(self.concepts):
            raise ValueError(f"Concepts must be listed in the order {list(CONCEPT_ORDER)}, got {list(self.concepts)}.")
        if self.shape not in SHAPES:
            raise ValueError(f"Unknown shape {self.shape!r}; choose from {list(SHAPES)}.")
        if self.resolution < 8:
            raise ValueError(f"Resolution must be at least 8 px, got {self.resolution}.")
        for concept, limit in DELTA_MAX.items():
            value = getattr(self, f"delta_{concept}")
            if not 0.0 < value <= limit:
                raise ValueError(f"delta_{concept} must be in (0, {limit}], got {value}.")
        if self.size_center - self.delta_size / 2 - 3 * self.delta_size / 8 < 0 or self.size_center > 1.5:
            raise ValueError(f"size_center={self.size_center} with delta_size={self.delta_size} gives negative sizes.")
        check_config_ranges("concept_space", self)

    def _check_celeba(self) -> None:
        """Two distinct CelebA attributes, a held-out combination of two bits, a data folder (read when used)."""
        unknown = [c for c in self.concepts if c not in ATTRIBUTES]
        if unknown:
            raise ValueError(f"Unknown CelebA attribute(s) {unknown}; choose two of {', '.join(ATTRIBUTES)}.")
        if len(self.concepts) != 2 or self.concepts[0] == self.concepts[1]:
            raise ValueError(f"A CelebA concept space needs two distinct attributes, got {list(self.concepts)}.")
        if len(self.heldout) != 2 or set(self.heldout) - {"0", "1"}:
            raise ValueError(f"concept_space.heldout must be two digits 0 or 1 (e.g. 01), got {self.heldout!r}.")
        if not self.data_root:
            raise ValueError("concept_space.data_root must name the folder of your local CelebA copy.")
        check_config_ranges("concept_space", self)

    # -- classes ---------------------------------------------------------------------------------------------
    @property
    def num_concepts(self) -> int:
        return len(self.concepts)

    def all_classes(self) -> list[tuple[int, ...]]:
        """Every class as a bit tuple, in C order (class index = position in this list)."""
        return list(itertools.product((0, 1), repeat=self.num_concepts))

    def training_classes(self) -> list[tuple[int, ...]]:
        return [c for c in self.all_classes() if sum(c) <= 1]

    def heldout_classes(self) -> list[tuple[int, ...]]:
        return [c for c in self.all_classes() if sum(c) > 1]

    def class_name(self, code: tuple[int, ...]) -> str:
        """E.g. (1, 1) -> 'blue-small', or 'not Male & Smiling' on CelebA (attribute names hold '-' and '_')."""
        joint = " & " if self.dataset == "celeba" else "-"
        return joint.join(self.level_names(c)[bit] for c, bit in zip(self.concepts, code))

    @staticmethod
    def class_label(code: tuple[int, ...]) -> str:
        """E.g. (1, 1) -> '11'."""
        return "".join(str(b) for b in code)

    def parse_class(self, text: str) -> tuple[int, ...]:
        """Accept '11' or 'blue-small'; raise a clear error otherwise."""
        for code in self.all_classes():
            if text in (self.class_label(code), self.class_name(code)):
                return code
        names = ", ".join(f"{self.class_label(c)} ({self.class_name(c)})" for c in self.all_classes())
        raise ValueError(f"Unknown class {text!r}; this concept space has {names}.")

    # -- CelebA levels --------------------------------------------------------------------------------------------
    @property
    def flips(self) -> tuple[bool, ...]:
        """Per concept of a CelebA space: whether level 1 means the attribute is absent. Chosen so that the held-out
        combination is class 11, the one class the project's scheme holds out of two concepts."""
        return tuple(bit == "0" for bit in self.heldout)

    def level_names(self, concept: str) -> tuple[str, str]:
        """Human names of level 0 and level 1 of a concept (level 1 is the held-out direction)."""
        if self.dataset != "celeba":
            return LEVEL_NAMES[concept]
        names = (f"not {concept}", concept)
        return names[::-1] if self.flips[self.concepts.index(concept)] else names

    def slot(self, concept: str) -> slice:
        """Where a concept lives in h: H_SLOTS on synthetic runs; on CelebA the k-th attribute's one-hot
        [level 0, level 1] takes slots 2k, 2k+1 (the authors' 4-d h of two 2-way one-hots, §6, in the first four
        of the 11 slots, so the model, its embedding and every prompt keep one shape)."""
        if self.dataset != "celeba":
            return H_SLOTS[concept]
        k = self.concepts.index(concept)
        return slice(2 * k, 2 * k + 2)

    # -- attribute geometry (§1.4) ---------------------------------------------------------------------------
    def level_mean(self, concept: str, level: int) -> torch.Tensor:
        """Mean attribute of a level: RGB (3,) for colour/background, radius (1,) for size, one-hot for shape and
        for CelebA attributes."""
        if self.dataset == "celeba":
            return torch.tensor([1.0, 0.0]) if level == 0 else torch.tensor([0.0, 1.0])
        sign = 1.0 if level == 0 else -1.0
        if concept == "color":
            h = self.delta_color / 2
            return torch.tensor([0.5 + sign * h, 0.5 - h, 0.5 - sign * h])
        if concept == "size":
            return torch.tensor([self.size_center + sign * self.delta_size / 2])
        if concept == "bg":
            return torch.full((3,), 0.5 + sign * self.delta_bg / 2)
        if concept == "shape":
            return torch.tensor([1.0, 0.0]) if level == 0 else torch.tensor([0.0, 1.0])
        raise ValueError(f"Unknown concept {concept!r}.")

    def level_half_width(self, concept: str) -> float:
        """Half-width of the uniform within-class range (per channel for colours); a CelebA class is one prompt."""
        if self.dataset == "celeba":
            return 0.0
        return {"color": self.delta_color / 8, "size": 3 * self.delta_size / 8, "bg": self.delta_bg / 8,
                "shape": 0.0}[concept]

    def concept_axis(self, concept: str) -> torch.Tensor:
        """The semantic axis of a concept in h coordinates: mean(level 1) − mean(level 0), shape (11,)."""
        axis = torch.zeros(CONDITIONING_DIM)
        axis[self.slot(concept)] = self.level_mean(concept, 1) - self.level_mean(concept, 0)
        return axis

    def class_prompt(self, code: tuple[int, ...]) -> torch.Tensor:
        """The conditioning vector h at the exact class means, shape (11,). Used to prompt held-out classes."""
        h = torch.zeros(CONDITIONING_DIM)
        for concept, bit in zip(self.concepts, code):
            h[self.slot(concept)] = self.level_mean(concept, bit)
        return h

    def prompt_at(self, positions: tuple[float, ...] | list[float]) -> torch.Tensor:
        """h at a position along each concept's semantic axis, shape (11,), unclipped: 0 is the level-0 class mean,
        1 the level-1 mean, values outside [0, 1] extrapolate (overprompting moves a position by ±s/2).
        `prompt_at(code)` equals `class_prompt(code)` for a bit code."""
        if len(positions) != self.num_concepts:
            raise ValueError(f"Expected {self.num_concepts} positions ({list(self.concepts)}), got {len(positions)}.")
        h = self.class_prompt((0,) * self.num_concepts)
        for concept, position in zip(self.concepts, positions):
            h = h + float(position) * self.concept_axis(concept)
        return h

    @property
    def blur_px(self) -> float:
        return self.blur_px_at_32 * self.resolution / 32


def mask_concept(h: torch.Tensor, concept: str) -> torch.Tensor:
    """A copy of h (…, 11) with `concept` left unspecified: NaN in its slots, which no real prompt holds. The
    embedding of a run trained with masked prompts puts its learned mask token there (core/model.py); one without
    refuses NaN. Overprompting or any arithmetic on a masked slot keeps it masked."""
    masked = h.clone()
    masked[..., H_SLOTS[concept]] = float("nan")
    return masked
