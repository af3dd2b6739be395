"""Vectorised renderer of the synthetic concept images and their conditioning vectors h.

One call renders a whole batch with tensor ops (no per-image Python loop). Edges are anti-aliased analytically:
the mask is Φ(−d/σ) of the signed distance d to the shape's boundary, which equals a Gaussian blur of the binary
mask along straight edges (the authors blur the binary mask with σ = 1 px, §1.1) and is exact and cheap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .concepts import CONDITIONING_DIM, H_SLOTS, NEUTRAL_BACKGROUND, SHAPES, ConceptSpace


@dataclass(frozen=True)
class Attributes:
    """Per-image attributes of a batch of N images (all tensors on CPU, float32 unless noted)."""

    color: torch.Tensor  # (N, 3) object RGB
    size: torch.Tensor  # (N,) radius in half-widths
    bg: torch.Tensor  # (N, 3) background RGB
    shape: torch.Tensor  # (N,) long index into SHAPES
    x: torch.Tensor  # (N,) centre, half-widths
    y: torch.Tensor  # (N,)
    alpha: torch.Tensor  # (N,) object opacity; 1 for every dataset image, <1 only for probe negatives

    def __len__(self) -> int:
        return self.size.shape[0]


def sample_attributes(
    space: ConceptSpace, codes: torch.Tensor, generator: torch.Generator, at_mean: bool = False
) -> Attributes:
    """Draw attributes for images of the given classes.

    codes: (N, num_concepts) long bit codes. With `at_mean`, concept attributes sit exactly at their class
    means (the held-out prompt, §1.2); otherwise each channel is uniform within its class range. Attributes
    that are not concepts are nuisance: background tinted uniformly in [0.8, 1], shape fixed, position always
    uniform (never at a mean, so the model must learn position-invariant concepts).
    """
    n = codes.shape[0]

    def uniform(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=generator) * 2 - 1

    def concept_value(concept: str, width: int) -> torch.Tensor:
        bits = codes[:, space.concepts.index(concept)]
        means = torch.stack([space.level_mean(concept, 0), space.level_mean(concept, 1)])[bits]  # (N, width)
        jitter = 0.0 if at_mean else uniform(n, width) * space.level_half_width(concept)
        return means + jitter

    color = concept_value("color", 3).clamp(0, 1) if "color" in space.concepts else torch.full((n, 3), 0.5)
    if "size" in space.concepts:
        size = concept_value("size", 1)[:, 0].clamp(min=space.min_size)
    else:
        size = torch.full((n,), space.size_center)
    if "bg" in space.concepts:
        bg = concept_value("bg", 3).clamp(0, 1)
    else:
        low, high = NEUTRAL_BACKGROUND
        bg = low + (high - low) * torch.rand(n, 3, generator=generator)
    if "shape" in space.concepts:
        shape = codes[:, space.concepts.index("shape")].long()  # circle (0) vs triangle (1)
    else:
        shape = torch.full((n,), SHAPES.index(space.shape), dtype=torch.long)
    x = uniform(n) * space.position_range
    y = uniform(n) * space.position_range
    return Attributes(color=color, size=size, bg=bg, shape=shape, x=x, y=y, alpha=torch.ones(n))


def conditioning(space: ConceptSpace, attributes: Attributes) -> torch.Tensor:
    """The 11-d h of each image: the attributes actually rendered for concepts of the run, zeros elsewhere."""
    n = len(attributes)
    h = torch.zeros(n, CONDITIONING_DIM)
    if "shape" in space.concepts:
        h[:, H_SLOTS["shape"]] = torch.nn.functional.one_hot(attributes.shape.clamp(max=1), 2).float()
    if "color" in space.concepts:
        h[:, H_SLOTS["color"]] = attributes.color
    if "size" in space.concepts:
        h[:, H_SLOTS["size"]] = attributes.size[:, None]
    if "bg" in space.concepts:
        h[:, H_SLOTS["bg"]] = attributes.bg
    return h


def _signed_distance(shape: torch.Tensor, size: torch.Tensor, dx: torch.Tensor, dy: torch.Tensor) -> torch.Tensor:
    """Signed distance (negative inside) to a circle of radius `size`, or to the equilateral triangle / square of
    the same area. dx, dy: (N, R, R); shape, size: (N,)."""
    size = size[:, None, None]
    circle = torch.sqrt(dx**2 + dy**2) - size
    half_side = size * math.sqrt(math.pi) / 2
    square = torch.maximum(dx.abs(), dy.abs()) - half_side
    side = size * math.sqrt(4 * math.pi / math.sqrt(3))
    inradius = side * math.sqrt(3) / 6
    # Three edges at distance `inradius` from the centroid, outward normals at −90°, 30° and 150° (apex up).
    edges = torch.stack(
        [-dy, dx * math.sqrt(3) / 2 + dy / 2, -dx * math.sqrt(3) / 2 + dy / 2], dim=0
    ).amax(dim=0)
    triangle = edges - inradius
    kind = shape[:, None, None]
    return torch.where(kind == 0, circle, torch.where(kind == 1, triangle, square))


def render(space: ConceptSpace, attributes: Attributes, generator: torch.Generator) -> torch.Tensor:
    """Render images (N, 3, R, R) in [0, 1]. Rows run along y (up = +y), columns along x, so no transpose is
    needed for display (the authors' x-major arrays are a §9.13 quirk)."""
    resolution = space.resolution
    coords = torch.linspace(-1, 1, resolution)
    pitch = 2 / (resolution - 1)
    grid_y, grid_x = torch.meshgrid(coords.flip(0), coords, indexing="ij")  # (R, R), row 0 is the top
    dx = grid_x[None] - attributes.x[:, None, None]  # (N, R, R)
    dy = grid_y[None] - attributes.y[:, None, None]
    distance = _signed_distance(attributes.shape, attributes.size, dx, dy)
    sigma = space.blur_px * pitch
    mask = 0.5 * torch.erfc(distance / (sigma * math.sqrt(2))) * attributes.alpha[:, None, None]  # (N, R, R)
    mask = mask[:, None]  # (N, 1, R, R)
    images = mask * attributes.color[:, :, None, None] + (1 - mask) * attributes.bg[:, :, None, None]
    noise = torch.randn(images.shape, generator=generator) * space.noise_level
    return (images + noise).clamp(0, 1)


def render_classes(
    space: ConceptSpace, codes: list[tuple[int, ...]], per_class: int, generator: torch.Generator,
    at_mean: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Render `per_class` images of each class. Returns images (N,3,R,R), h (N,11), class index (N,) into codes."""
    labels = torch.arange(len(codes)).repeat_interleave(per_class)
    bits = torch.tensor(codes, dtype=torch.long)[labels]
    attributes = sample_attributes(space, bits, generator, at_mean=at_mean)
    return render(space, attributes, generator), conditioning(space, attributes), labels
