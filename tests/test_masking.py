"""Underspecified prompts (issue 14, part 1): the masked-prompt training option, its learned mask token, and the
"masked" generation of the elicitation pass."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch

from concept_explorer.analysis.capability import FAMILIES, MASKED, ElicitConfig, method_embeddings
from concept_explorer.core.concepts import H_SLOTS, mask_concept
from concept_explorer.core.config import RunConfig, preset, vdm_for, with_overrides
from concept_explorer.core.model import MASK_TOKEN_INIT
from concept_explorer.core.run import Run
from concept_explorer.core.training import Trainer, build_data

MASK = {"concept_space.concepts": ("shape", "color"), "train.mask_concept": "color", "train.mask_class": "10"}


@pytest.fixture
def masked_config(tiny_config: Callable[..., RunConfig]) -> Callable[[float], RunConfig]:
    return lambda fraction: tiny_config(**MASK, **{"train.mask_fraction": fraction, "train.train_per_class": 40})


@pytest.mark.parametrize(("overrides", "message"), [
    ({"train.mask_class": "11"}, "must be a training class of this run (00, 01, 10), got '11'"),
    ({"train.mask_class": "red-triangle"}, "must be a training class"),
    ({"train.mask_concept": "size"}, "'size' is not a concept of this run (shape,color)"),
    ({"train.mask_concept": ""}, "mask_concept and mask_class go together"),
    ({"train.mask_fraction": 1.5}, "train.mask_fraction must be between 0 and 1, got 1.5"),
    ({"train.mask_fraction": -0.1}, "train.mask_fraction must be between 0 and 1"),
])
def test_a_bad_masking_config_is_refused_in_one_sentence(overrides: dict, message: str) -> None:
    with pytest.raises(ValueError) as error:
        with_overrides(preset("mask"), overrides)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_a_fraction_without_a_masked_concept_is_refused() -> None:
    with pytest.raises(ValueError, match="mask_fraction needs mask_concept"):
        with_overrides(preset("cpu"), {"train.mask_fraction": 0.5})


def test_the_mask_preset_masks_half_of_the_red_triangles_colour() -> None:
    config = preset("mask")
    assert config.concept_space.concepts == ("shape", "color")
    assert config.concept_space.class_name(config.concept_space.parse_class(config.train.mask_class)) == "triangle-red"
    assert config.train.mask_fraction == 0.5
    assert RunConfig.from_dict(config.to_dict()) == config  # recorded in run.json, read back the same


@pytest.mark.parametrize("fraction", [0.0, 0.25, 1.0])
def test_masking_leaves_out_exactly_that_fraction_of_the_masked_class_and_only_its_colour(
    masked_config: Callable[[float], RunConfig], fraction: float
) -> None:
    config = masked_config(fraction)
    plain = build_data(with_overrides(config, {"train.mask_fraction": 0.0}))
    data = build_data(config)
    h = torch.cat([data.train_h, data.val_h])
    before = torch.cat([plain.train_h, plain.val_h])
    masked_rows = h.isnan().any(dim=1)
    assert masked_rows.sum() == round(fraction * config.train.train_per_class)
    assert torch.equal(data.train_images, plain.train_images)  # the images and the split are those of the plain run
    triangles_red = (before[:, H_SLOTS["shape"]].argmax(1) == 1) & (before[:, 4] > before[:, 6])
    assert not (masked_rows & ~triangles_red).any()  # only red triangles lose their colour
    assert h[masked_rows][:, H_SLOTS["color"]].isnan().all()
    kept = [i for i in range(h.shape[1]) if i not in range(4, 7)]
    assert torch.equal(h[:, kept], before[:, kept])  # shape, position and the rest untouched
    assert torch.equal(h[~masked_rows], before[~masked_rows])


def test_the_mask_token_stands_in_for_a_masked_concept_and_learns(masked_config: Callable[[float], RunConfig]) -> None:
    model = vdm_for(masked_config(0.5))
    embedding = model.denoiser.embedding
    assert torch.equal(embedding.mask_token.detach(), torch.full((11,), MASK_TOKEN_INIT))
    h = torch.rand(4, 11)
    masked = mask_concept(h, "color")
    assert h[:, 4:7].isfinite().all()  # mask_concept copies
    by_hand = h.clone()
    by_hand[:, 4:7] = MASK_TOKEN_INIT
    assert torch.allclose(embedding(masked), embedding(by_hand))
    embedding(masked).sum().backward()
    assert embedding.mask_token.grad[4:7].abs().sum() > 0 and embedding.mask_token.grad[:4].abs().sum() == 0


def test_a_run_without_masking_has_no_token_and_refuses_a_masked_prompt(tiny: RunConfig) -> None:
    model = vdm_for(tiny)
    assert not any("mask_token" in name for name in model.state_dict())
    with pytest.raises(ValueError, match="not trained with masked prompts"):
        model.denoiser.embedding(mask_concept(torch.rand(2, 11), "color"))


def test_fraction_zero_trains_like_the_run_without_masking(
    tmp_path, masked_config: Callable[[float], RunConfig]
) -> None:
    """The token is initialised without the RNG and the masked set has its own generator, so f = 0 differs from
    no masking only by an unused parameter: a fair baseline for an f sweep."""
    with_mask = masked_config(0.0)
    without = with_overrides(with_mask, {"train.mask_concept": "", "train.mask_class": ""})
    losses = []
    for name, config in (("with", with_mask), ("without", without)):
        trainer = Trainer(Run.create(tmp_path / name, config), torch.device("cpu"))
        losses.append([trainer.train_step() for _ in range(3)])
    assert losses[0] == pytest.approx(losses[1], rel=1e-6)


def test_a_masked_run_trains_saves_and_reloads_its_token(tmp_path, masked_config: Callable[[float], RunConfig]) -> None:
    run = Run.create(tmp_path / "m", masked_config(1.0))
    trainer = Trainer(run, torch.device("cpu"))
    assert trainer.run_until(progress=False)
    run = Run.open(run.path)
    token = run.load_model(run.final_step).denoiser.embedding.mask_token.detach()
    assert not torch.equal(token, torch.full((11,), MASK_TOKEN_INIT))  # its colour slots moved in training
    assert math.isfinite(float(token.sum()))


def test_the_elicitation_pass_adds_a_masked_generation_that_is_not_a_family(
    masked_config: Callable[[float], RunConfig]
) -> None:
    config = ElicitConfig(samples=2, patch=False)
    methods = config.methods(guidance=False, masked=True)
    assert (MASKED, MASKED, 0.0) in methods and MASKED not in FAMILIES  # never a capability curve
    assert all(key != MASKED for key, _, _ in config.methods(guidance=False))
    run_config = masked_config(0.5)
    model, space = vdm_for(run_config).eval(), run_config.concept_space
    layout = [(key, family, strength, (1, 1)) for key, family, strength in methods]
    e, _ = method_embeddings(model, space, layout, config, None, "cpu", "color")
    blocks = dict(zip([key for key, _, _ in methods], e.split(config.samples)))
    expected = model.denoiser.embedding(mask_concept(space.class_prompt((1, 1)), "color")[None].repeat(2, 1))
    assert torch.allclose(blocks[MASKED], expected)
    assert not torch.allclose(blocks[MASKED], blocks["plain"])
