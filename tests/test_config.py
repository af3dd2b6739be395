"""Run configuration: JSON round trip, overrides, validation messages, the checkpoint schedule."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

from concept_explorer.core.concepts import ConceptSpace
from concept_explorer.core.config import (
    PRESETS,
    RunConfig,
    TrainConfig,
    field_docs,
    paper_preset,
    parse_value,
    preset,
    with_overrides,
)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_json_round_trip_restores_an_equal_config(name: str) -> None:
    base = preset(name)
    concepts = base.concept_space.concepts if base.train.mask_concept else ("size", "bg")  # the mask needs colour
    if base.concept_space.dataset == "celeba":
        concepts = ("Black_Hair", "Eyeglasses")  # the authors' run1 pair (reference-spec §6)
    config = with_overrides(base, {"train.checkpoint_steps": (3, 7), "concept_space.concepts": concepts})
    restored = RunConfig.from_dict(json.loads(config.to_json()))
    assert restored == config
    assert isinstance(restored.model.channels, tuple) and restored.train.checkpoint_steps == (3, 7)


def test_from_dict_rejects_unknown_fields() -> None:
    data = paper_preset().to_dict()
    data["train"]["num_stepz"] = 5
    with pytest.raises(ValueError, match=r"Unknown field\(s\) \['num_stepz'\] in TrainConfig"):
        RunConfig.from_dict(data)


def test_with_overrides_replaces_only_the_given_fields() -> None:
    base = preset("cpu")
    changed = with_overrides(base, {"train.num_steps": 100, "model.channels": (8, 16), "preset": "mine"})
    assert (changed.train.num_steps, changed.model.channels, changed.preset) == (100, (8, 16), "mine")
    assert changed.concept_space == base.concept_space and changed.vdm == base.vdm
    assert dataclasses.replace(changed.train, num_steps=base.train.num_steps) == base.train
    assert base == preset("cpu")  # the original is untouched


@pytest.mark.parametrize("key", ["train.num_stepz", "nosection.num_steps", "bogus"])
def test_with_overrides_names_an_unknown_field(key: str) -> None:
    with pytest.raises(ValueError, match=f"Unknown config field '{key}'"):
        with_overrides(preset("cpu"), {key: 1})


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"concept_space.delta_color": 0.9}, r"delta_color must be in \(0, 0.8\], got 0.9"),
        ({"concept_space.delta_size": 0.0}, r"delta_size must be in \(0, 0.4\]"),
        ({"concept_space.concepts": ("color", "texture")}, r"Unknown concept\(s\) \['texture'\]"),
        ({"concept_space.concepts": ("size", "color")}, "must be listed in the order"),
        ({"concept_space.concepts": ("color",)}, "at least two distinct concepts"),
        ({"concept_space.resolution": 4}, "Resolution must be at least 8 px"),
        ({"concept_space.shape": "star"}, "Unknown shape 'star'"),
        ({"model.channels": (8, 12)}, "must be positive multiples of norm_groups=8"),
        ({"model.backbone": "transformer"}, "backbone must be 'lean' or 'diffusers'"),
        ({"vdm.gamma_min": 10.0}, r"gamma_min \(10.0\) must be below gamma_max"),
        ({"train.num_steps": 0}, "num_steps must be >= 1"),
        ({"train.ema_decay": 1.0}, r"ema_decay must be in \[0, 1\)"),
        ({"train.checkpoint_steps": (5, 90_000)}, r"checkpoint_steps must lie in 1..num_steps"),
        ({"train.weights_dtype": "int8"}, "weights_dtype must be float32 or float16"),
    ],
)
def test_invalid_values_raise_a_clear_value_error(overrides: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        with_overrides(preset("cpu"), overrides)


@pytest.mark.parametrize(
    ("hint", "text", "value"),
    [(int, "12", 12), (float, "0.25", 0.25), (bool, "false", False), (bool, "yes", True), (str, "lean", "lean"),
     (tuple[int, ...], "16,32,64", (16, 32, 64)), (tuple[int, ...], "", ()),
     (tuple[str, ...], "color,size", ("color", "size"))],
)
def test_parse_value_reads_each_field_type(hint: type, text: str, value: object) -> None:
    assert parse_value(hint, text, "key") == value


@pytest.mark.parametrize(("hint", "text"), [(int, "1.5"), (float, "x"), (bool, "maybe"), (tuple[int, ...], "8,a")])
def test_parse_value_names_the_field_it_cannot_read(hint: type, text: str) -> None:
    with pytest.raises(ValueError, match=f"Cannot read train.thing={text!r} as"):
        parse_value(hint, text, "train.thing")


def test_field_docs_lists_every_leaf_field_with_help_and_default() -> None:
    docs = field_docs()
    assert {"preset", "concept_space.delta_color", "model.channels", "vdm.gamma_min", "train.seed"} <= set(docs)
    sections = {"concept_space": ConceptSpace, "train": TrainConfig}
    for section, cls in sections.items():
        assert {f"{section}.{f.name}" for f in dataclasses.fields(cls)} <= set(docs)
    assert all(help_text for _, help_text, _ in docs.values())
    assert docs["train.num_steps"] == (int, "optimisation steps", 20_000)


def test_paper_schedule_has_60_quadratically_spaced_checkpoints_from_500() -> None:
    schedule = paper_preset().train.checkpoint_schedule()
    assert len(schedule) == 60
    assert schedule[:7] == [500, 594, 696, 807, 926, 1053, 1188]
    assert schedule[-2:] == [19433, 20000]
    roots = [math.sqrt(s) for s in schedule]
    gaps = [b - a for a, b in zip(roots, roots[1:])]
    assert max(gaps) - min(gaps) < 0.05  # equal steps in √step: quadratic spacing


@pytest.mark.parametrize(
    "train",
    [TrainConfig(num_steps=6000, checkpoint_count=32, checkpoint_start=100),
     TrainConfig(num_steps=50, checkpoint_count=60, checkpoint_start=500),
     TrainConfig(num_steps=10, checkpoint_steps=(7, 3, 3))],
)
def test_schedule_is_sorted_unique_and_ends_at_num_steps(train: TrainConfig) -> None:
    schedule = train.checkpoint_schedule()
    assert schedule == sorted(set(schedule))
    assert schedule[-1] == train.num_steps and schedule[0] >= 1
    if train.checkpoint_steps:
        assert schedule == [3, 7, 10]


def test_bounds_are_printed_as_people_read_them() -> None:
    """Issue 22, item 12: a seed's bound was printed 2.14748e+09."""
    from concept_explorer.core import limits

    with pytest.raises(ValueError, match=r"from 0 to 2,147,483,647, got -1\."):
        limits.Range(0, 2**31 - 1, whole=True).check("seed", -1)
    assert limits.bound(0.5) == "0.5" and limits.bound(1e30) == "1e+30" and limits.bound(-3.0) == "-3"
