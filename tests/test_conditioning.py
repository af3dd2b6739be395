"""The two conditioning designs (shared embedding vs the authors' per-block sep_mlp) and the intervention
directions that can be taken through either embedding."""

from __future__ import annotations

import pytest
import torch

from concept_explorer.analysis.elicit import DIRECTIONS, concept_direction, intervention, patch_embedding
from concept_explorer.core.config import preset, with_overrides
from concept_explorer.core.model import ModelConfig
from concept_explorer.core.vdm import VDM


def model(conditioning: str, seed: int = 0, name: str = "cpu") -> VDM:
    torch.manual_seed(seed)
    config = with_overrides(preset(name), {"model.conditioning": conditioning})
    return VDM(config.model, config.vdm, config.concept_space.resolution)


def test_per_block_embedding_matches_the_authors_sep_mlp_size() -> None:
    # reference-spec §2.2: 14 h-MLPs (Linear(11, C) → GELU → Linear(C, C) → GELU), 505,088 parameters in all.
    embedding = model("per_block", name="paper").denoiser.embedding
    assert len(embedding.blocks) == 14
    assert sum(p.numel() for p in embedding.parameters()) - embedding.null_token.numel() == 505_088


def test_each_block_reads_its_own_slice_of_e() -> None:
    vdm = model("per_block")
    backbone = vdm.denoiser.backbone
    assert backbone.bias_widths == list(preset("cpu").model.block_widths)
    for conv in [block.conv2 for block in backbone.blocks_in_order()] + [backbone.conv_out]:
        torch.nn.init.normal_(conv.weight, std=0.1)  # zero-initialised output convs would hide every bias
    z, t = torch.randn(2, 3, 16, 16), torch.full((2,), 500.0)
    e = torch.zeros(2, sum(backbone.bias_widths))
    base = backbone(z, t, class_labels=e)
    changed = []
    start = 0
    for width in backbone.bias_widths:
        nudged = e.clone()
        nudged[:, start:start + width] = 1.0
        changed.append(not torch.allclose(backbone(z, t, class_labels=nudged), base))
        start += width
    assert all(changed)


def test_patching_a_per_block_model_swaps_every_block_mlp_and_nothing_else() -> None:
    early, late = model("per_block", seed=0), model("per_block", seed=1)
    patched = patch_embedding(early, late.state_dict())
    for name, value in patched.state_dict().items():
        source = late if name.startswith("denoiser.embedding.") else early
        assert torch.equal(value, source.state_dict()[name]), name
    last = len(preset("cpu").model.block_widths) - 1
    assert any(n.startswith(f"denoiser.embedding.blocks.{last}.") for n in patched.state_dict())


@pytest.mark.parametrize("conditioning", ["shared", "per_block"])
def test_directions(conditioning: str) -> None:
    vdm = model(conditioning)
    space = preset("cpu").concept_space
    embed = vdm.denoiser.embedding
    with torch.no_grad():
        e = {code: embed(space.class_prompt(code)[None])[0] for code in space.all_classes()}
    pairs = concept_direction(vdm, space, "color", "pairs")
    assert torch.allclose(pairs, e[1, 0] - e[0, 0], atol=1e-6)  # the only colour pair: red-large → blue-large
    size = concept_direction(vdm, space, "size", "pairs")
    orthogonal = concept_direction(vdm, space, "color", "orthogonal")
    assert abs(float(orthogonal @ size)) < 1e-4 * float(size.norm() * pairs.norm())
    assert torch.allclose(orthogonal + (pairs @ size) / (size @ size) * size, pairs, atol=1e-5)
    target = concept_direction(vdm, space, "color", "target", target=(1, 1))
    assert torch.allclose(target, e[1, 1] - e[0, 1], atol=1e-6)  # at the held-out class's own size: small
    edit = intervention(vdm, space, (1, 1), {"color": 0.5}, direction="target")
    assert torch.allclose(edit(e[1, 1][None])[0], e[1, 1] + 0.5 * target, atol=1e-6)
    with pytest.raises(ValueError, match="Unknown intervention direction"):
        concept_direction(vdm, space, "color", "sideways")
    assert set(DIRECTIONS) == {"pairs", "orthogonal", "target"}


def test_conditioning_config_errors_are_clear() -> None:
    with pytest.raises(ValueError, match="conditioning must be one of"):
        ModelConfig(conditioning="film")
    with pytest.raises(ValueError, match="needs the lean backbone"):
        ModelConfig(conditioning="per_block", backbone="diffusers")


@pytest.mark.parametrize("conditioning", ["shared", "per_block"])
def test_the_authors_null_token_is_the_prompt_minus_one_through_the_same_mlp(conditioning: str) -> None:
    torch.manual_seed(0)
    config = with_overrides(preset("cpu"), {"model.conditioning": conditioning, "model.null_token": "h_minus_one"})
    embedding = VDM(config.model, config.vdm, config.concept_space.resolution).denoiser.embedding
    assert not hasattr(embedding, "null_token") and "null_token" not in embedding.state_dict()
    minus_one = embedding(torch.full((2, 11), -1.0))
    assert torch.equal(embedding.null(2), minus_one)
    h = torch.rand(3, 11)
    dropped = embedding(h, drop=torch.tensor([True, False, True]))
    # (close, not equal: a matmul's rounding depends on the batch it runs in)
    assert torch.allclose(dropped[0], minus_one[0], atol=1e-6) and torch.allclose(dropped[2], minus_one[0], atol=1e-6)
    assert torch.allclose(dropped[1], embedding(h)[1], atol=1e-6)
    assert not torch.allclose(dropped[1], minus_one[0], atol=1e-3)
    # The learned form keeps its own vector, which is not what the MLP makes of −1.
    learned = model(conditioning).denoiser.embedding
    assert torch.equal(learned(h, drop=torch.tensor([True, False, False]))[0], learned.null_token)


def test_a_run_with_the_authors_null_token_trains_and_guides(tiny_config, tmp_path) -> None:
    from concept_explorer.core.sampling import generate
    from concept_explorer.core.training import train

    run = train(tiny_config(train__p_uncond=0.5, model__null_token="h_minus_one"), tmp_path / "run", device="cpu",
                progress=False)
    assert run.config.model.null_token == "h_minus_one"
    vdm = run.load_model(run.steps[-1])
    h = run.config.concept_space.class_prompt((1, 1))[None].repeat(2, 1)
    guided, plain = generate(vdm, h, 2, seed=0, guidance=4.0), generate(vdm, h, 2, seed=0)
    assert guided.shape == plain.shape == (2, 3, 8, 8)
    with pytest.raises(ValueError, match="null_token must be one of"):
        with_overrides(preset("cpu"), {"model.null_token": "zero"})
