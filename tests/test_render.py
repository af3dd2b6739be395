"""The concept space and the renderer: class ranges, Δ geometry, the layout of h, and what is drawn."""

from __future__ import annotations

import math

import pytest
import torch

from concept_explorer.core.concepts import SHAPES, ConceptSpace
from concept_explorer.core.render import Attributes, conditioning, render, render_classes, sample_attributes

SPACES = {
    "2x2": ConceptSpace(concepts=("color", "size")),
    "2x2x2": ConceptSpace(concepts=("color", "size", "bg"), delta_color=0.6, delta_size=0.3, delta_bg=0.5),
}
EPS = 1e-6


def draw(space: ConceptSpace, code: tuple[int, ...], n: int = 400, seed: int = 0, at_mean: bool = False) -> Attributes:
    codes = torch.tensor([code] * n, dtype=torch.long)
    return sample_attributes(space, codes, torch.Generator().manual_seed(seed), at_mean=at_mean)


def assert_uniform_within(values: torch.Tensor, low: torch.Tensor, high: torch.Tensor) -> None:
    """All values lie in [low, high] and fill most of it (so the range is really sampled, not a point)."""
    assert (values >= low - EPS).all() and (values <= high + EPS).all()
    spread = values.max(0).values - values.min(0).values
    assert (spread >= 0.9 * (high - low)).all()


@pytest.mark.parametrize("layout", SPACES)
def test_sampled_attributes_lie_in_their_class_ranges(layout: str) -> None:
    space = SPACES[layout]
    for code in space.all_classes():
        bits = dict(zip(space.concepts, code))
        attributes = draw(space, code)
        color_mean = space.level_mean("color", bits["color"])
        assert_uniform_within(attributes.color, color_mean - space.delta_color / 8, color_mean + space.delta_color / 8)
        size_mean = space.level_mean("size", bits["size"])
        size_half = 3 * space.delta_size / 8
        low = (size_mean - size_half).clamp(min=space.min_size)
        assert_uniform_within(attributes.size[:, None], low, size_mean + size_half)
        if "bg" in bits:
            bg_mean = space.level_mean("bg", bits["bg"])
            assert_uniform_within(attributes.bg, bg_mean - space.delta_bg / 8, bg_mean + space.delta_bg / 8)
        else:  # background is a nuisance pastel tint
            assert_uniform_within(attributes.bg, torch.full((3,), 0.8), torch.ones(3))
        assert (attributes.shape == SHAPES.index("circle")).all()
        assert attributes.x.abs().max() <= space.position_range and attributes.x.std() > 0.1


def test_small_sizes_are_clamped_at_min_size() -> None:
    space = ConceptSpace(size_center=0.4, delta_size=0.4, min_size=0.1)  # small class spans [0.05, 0.35]
    size = draw(space, (0, 1), n=2000).size
    assert size.min().item() == pytest.approx(0.1)
    assert 0.05 < (size == 0.1).float().mean() < 0.3  # about (0.1 − 0.05) / 0.3 of the draws


@pytest.mark.parametrize("layout", SPACES)
def test_held_out_prompt_sits_exactly_at_the_class_means(layout: str) -> None:
    space = SPACES[layout]
    code = (1,) * space.num_concepts
    attributes = draw(space, code, n=5, at_mean=True)
    assert torch.equal(attributes.color, space.level_mean("color", 1).expand(5, 3))
    assert torch.equal(attributes.size, space.level_mean("size", 1).expand(5))
    h = conditioning(space, attributes)
    assert torch.equal(h, space.class_prompt(code).expand(5, -1))


@pytest.mark.parametrize("delta", [0.1, 0.4, 0.8])
def test_colour_and_background_levels_are_delta_apart(delta: float) -> None:
    space = ConceptSpace(concepts=("color", "bg"), delta_color=delta, delta_bg=delta)
    half = delta / 2
    assert torch.allclose(space.level_mean("color", 0), torch.tensor([0.5 + half, 0.5 - half, 0.5 - half]))  # red
    assert torch.allclose(space.level_mean("color", 1), torch.tensor([0.5 - half, 0.5 - half, 0.5 + half]))  # blue
    assert torch.allclose(space.level_mean("bg", 0), torch.full((3,), 0.5 + half))  # light
    assert torch.allclose(space.level_mean("bg", 1), torch.full((3,), 0.5 - half))  # dark
    assert space.concept_axis("color").norm().item() == pytest.approx(delta * math.sqrt(2), rel=1e-5)


@pytest.mark.parametrize("delta", [0.1, 0.4])
def test_size_levels_are_delta_apart_around_the_centre(delta: float) -> None:
    space = ConceptSpace(delta_size=delta, size_center=0.5)
    assert space.level_mean("size", 0).item() == pytest.approx(0.5 + delta / 2)  # large
    assert space.level_mean("size", 1).item() == pytest.approx(0.5 - delta / 2)  # small
    assert space.level_half_width("size") == pytest.approx(3 * delta / 8)


def test_h_layout_for_2x2_holds_colour_and_size_only() -> None:
    space = SPACES["2x2"]
    attributes = draw(space, (1, 0), n=10)
    h = conditioning(space, attributes)
    assert h.shape == (10, 11)
    assert torch.equal(h[:, 4:7], attributes.color)
    assert torch.equal(h[:, 7], attributes.size)
    assert not h[:, [0, 1, 2, 3, 8, 9, 10]].any()  # no shape, position or background in h


def test_h_layout_for_2x2x2_adds_the_background() -> None:
    space = SPACES["2x2x2"]
    attributes = draw(space, (0, 1, 1), n=10)
    h = conditioning(space, attributes)
    assert torch.equal(h[:, 4:7], attributes.color)
    assert torch.equal(h[:, 7], attributes.size)
    assert torch.equal(h[:, 8:11], attributes.bg)
    assert not h[:, :4].any()


def test_training_classes_have_at_most_one_bit_set() -> None:
    labels = {layout: {space.class_label(c) for c in space.training_classes()} for layout, space in SPACES.items()}
    assert labels == {"2x2": {"00", "01", "10"}, "2x2x2": {"000", "001", "010", "100"}}
    held_out = {ConceptSpace.class_label(c) for c in SPACES["2x2x2"].heldout_classes()}
    assert held_out == {"011", "101", "110", "111"}
    assert SPACES["2x2"].class_name((1, 1)) == "blue-small"
    assert SPACES["2x2"].parse_class("blue-small") == SPACES["2x2"].parse_class("11") == (1, 1)
    with pytest.raises(ValueError, match="Unknown class '22'"):
        SPACES["2x2"].parse_class("22")


@pytest.mark.parametrize("layout", SPACES)
def test_rendering_is_deterministic_under_a_seed_and_in_the_unit_interval(layout: str) -> None:
    space = SPACES[layout]

    def render_with(seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return render_classes(space, space.all_classes(), 8, torch.Generator().manual_seed(seed))

    images, h, labels = render_with(3)
    again, h_again, _ = render_with(3)
    other, _, _ = render_with(4)
    n = 8 * len(space.all_classes())
    assert images.shape == (n, 3, 32, 32) and h.shape == (n, 11)
    assert torch.equal(labels, torch.arange(len(space.all_classes())).repeat_interleave(8))
    assert torch.equal(images, again) and torch.equal(h, h_again)
    assert not torch.allclose(images, other)
    assert images.min() >= 0 and images.max() <= 1


def single(space: ConceptSpace, shape: str = "circle", size: float = 0.4, x: float = 0.0, y: float = 0.0,
           color: tuple[float, float, float] = (0.9, 0.1, 0.2), bg: tuple[float, float, float] = (0.3, 0.3, 0.3),
           ) -> torch.Tensor:
    """Render one image with the given attributes, (3, R, R)."""
    attributes = Attributes(
        color=torch.tensor([color]), size=torch.tensor([size]), bg=torch.tensor([bg]),
        shape=torch.tensor([SHAPES.index(shape)]), x=torch.tensor([x]), y=torch.tensor([y]), alpha=torch.ones(1),
    )
    return render(space, attributes, torch.Generator().manual_seed(0))[0]


def pixel(image: torch.Tensor, x: float, y: float) -> torch.Tensor:
    """The RGB of the pixel nearest to (x, y) in half-widths; row 0 is the top (y = +1)."""
    last = image.shape[-1] - 1
    return image[:, round((1 - y) / 2 * last), round((x + 1) / 2 * last)]


@pytest.mark.parametrize("shape", SHAPES)
def test_object_is_drawn_in_its_colour_at_its_centre_over_the_background(shape: str) -> None:
    space = ConceptSpace(resolution=33, noise_level=0.0)
    image = single(space, shape=shape, x=0.25, y=0.5)
    assert torch.allclose(pixel(image, 0.25, 0.5), torch.tensor([0.9, 0.1, 0.2]), atol=1e-3)
    assert torch.allclose(pixel(image, -0.75, -0.75), torch.tensor([0.3, 0.3, 0.3]), atol=1e-3)
    # +y is up: the object is in the top half, away from the bottom row.
    assert torch.allclose(image[:, -1, :], torch.tensor([0.3, 0.3, 0.3])[:, None], atol=1e-3)


@pytest.mark.parametrize("shape", ["triangle", "square"])
def test_shapes_have_the_area_of_the_circle_of_the_same_size(shape: str) -> None:
    space = ConceptSpace(resolution=127, noise_level=0.0, blur_px_at_32=0.1)  # fine enough for 1 %

    def area(name: str) -> float:
        coverage = single(space, shape=name, size=0.4, color=(1.0, 1.0, 1.0), bg=(0.0, 0.0, 0.0))[0]
        pixel_area = (2 / (space.resolution - 1)) ** 2
        return coverage.sum().item() * pixel_area

    assert area("circle") == pytest.approx(math.pi * 0.4**2, rel=0.01)
    assert area(shape) == pytest.approx(area("circle"), rel=0.01)


def test_resolution_scales_the_image_but_not_the_object() -> None:
    areas = []
    for resolution in (16, 64):
        space = ConceptSpace(resolution=resolution, noise_level=0.0)
        image = single(space, size=0.5, color=(1.0, 1.0, 1.0), bg=(0.0, 0.0, 0.0))
        assert image.shape == (3, resolution, resolution)
        areas.append(image[0].sum().item() * (2 / (resolution - 1)) ** 2)  # in squared half-widths
    assert areas == pytest.approx([math.pi * 0.5**2] * 2, rel=0.03)
    assert ConceptSpace(resolution=64).blur_px == pytest.approx(2.0)
