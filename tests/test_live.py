"""Live generation: every bad setting is one clear ValueError, cache hits return the identical result, seeds
reproduce, and the settings map onto the core's elicitation conventions."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from ui_runs import tiny_mask_run, tiny_runs

from concept_explorer.analysis.elicit import DEFAULT_DIRECTION
from concept_explorer.analysis.live import LiveGenerator, LiveResult, LiveSettings
from concept_explorer.core.concepts import H_SLOTS, ConceptSpace
from concept_explorer.core.run import Run

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    return {name: Run.open(path) for name, path in tiny_runs(tmp_path_factory.mktemp("ui-runs")).items()}


@pytest.fixture(scope="module")
def mask_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return Run.open(tiny_mask_run(tmp_path_factory.mktemp("mask-run")))


@pytest.fixture(scope="module")
def bundled() -> Run:
    """The bundled seed 0, whose last checkpoint draws what it is prompted with on any CPU and in either precision:
    where a test needs the conditioning to change the pixels, the tiny runs (6 steps) cannot carry it, since their
    images differ by less than one grey level, which only bf16 rounding happens to make visible."""
    return Run.open(Path(__file__).resolve().parents[1] / "checkpoints" / "cpu-default")


@pytest.fixture(scope="module")
def generator() -> LiveGenerator:
    return LiveGenerator()


def settings(**changes: object) -> LiveSettings:
    base = LiveSettings(step=6, concept_vector=(1.0, 1.0), samples=3, sample_steps=2)
    return replace(base, **changes)


@pytest.mark.parametrize("changes, message", [
    ({"concept_vector": (math.nan, 1.0)}, "color position must be a finite number"),
    ({"concept_vector": (1.0, 9.0)}, "size position must be between -0.5 and 1.5"),
    ({"concept_vector": (1.0,)}, "one position per concept"),
    ({"overprompt": -1.0}, "overprompt strength must be between 0 and 4"),
    ({"overprompt_concepts": ("shape",)}, "Unknown concept"),
    ({"intervention": (2.0, 0.0)}, "color intervention weight must be between -1 and 1"),
    ({"intervention": (0.5,)}, "one weight per concept"),
    ({"intervention_strength": math.inf}, "intervention strength must be a finite number"),
    ({"step": 5}, "step 5 is not a checkpoint of plain; the nearest checkpoint is 4"),
    ({"step": 2.5}, "step must be a whole number"),
    ({"patch_step": 7}, "patch source step 7 is not a checkpoint"),
    ({"guidance": 3.0}, "trained without a null token"),
    ({"guidance": math.nan}, "guidance weight must be a finite number"),
    ({"samples": 0}, "sample count must be a whole number from 1 to 64"),
    ({"samples": 65}, "sample count must be a whole number from 1 to 64"),
    ({"seed": -1}, "seed must be a whole number from 0 to"),
    ({"seed": 1.5}, "seed must be a whole number"),
    ({"sample_steps": 0}, "sampling steps must be a whole number from 1 to 100"),
    ({"sample_steps": 101}, "sampling steps must be a whole number from 1 to 100"),
    ({"projection": "yes"}, "projection must be true or false"),
    ({"masked": "yes"}, r"^masked must be true or false, got 'yes'\.$"),
    ({"masked": True}, r"^plain was not trained with masked prompts, so no concept can be left unspecified\.$"),
    ({"direction": "sideways"}, r"^Unknown direction 'sideways' for the intervention; choose pairs, orthogonal or "
                                r"target\.$"),
])
def test_bad_settings_are_one_clear_sentence(runs, generator, changes, message):
    with pytest.raises(ValueError, match=message):
        generator.generate(runs["plain"], settings(**changes))


def test_guidance_is_accepted_for_a_run_with_a_null_token(runs, generator):
    result = generator.generate(runs["cfg"], settings(guidance=3.0))
    assert result.images.shape == (3, 3, 8, 8) and result.images.dtype == np.uint8


def test_a_masked_prompt_leaves_the_runs_masked_concept_to_its_mask_token(mask_run, generator):
    full = generator.generate(mask_run, settings(seed=3))
    masked = generator.generate(mask_run, settings(seed=3, masked=True))
    assert not np.array_equal(masked.images, full.images)  # the same seed: only the prompt differs
    assert np.isnan(masked.h[H_SLOTS["color"]]).all() and np.isfinite(masked.h[H_SLOTS["shape"]]).all()
    assert masked.notes == ("The prompt leaves color unspecified (the run's learned mask token).",) and not full.notes
    assert generator.generate(mask_run, settings(seed=3, masked=True)) is masked  # cached apart from the full prompt


def test_result_carries_images_and_per_sample_concept_coordinates(runs, generator):
    result = generator.generate(runs["plain"], settings())
    assert result.images.shape == (3, 3, 8, 8)
    assert result.coordinates.shape == (3, 2) and np.isfinite(result.coordinates).all()  # positions, may leave [0, 1]
    assert result.presence.shape == (3,)
    assert result.target == "11" and result.target_name == "blue-small"
    # The 6-step model draws a faint object that the barely trained probe places on the red side (colour position
    # ≈ -0.06): every sample shows an object and none is blue-small.
    assert (result.presence >= 0.5).all() and (result.coordinates[:, 0] < 0.5).all()
    assert result.summary() == "0% of 3 samples are blue-small; 100% show an object."


def _result(coordinates: list[list[float]] | None, presence: list[float] | None) -> LiveResult:
    return LiveResult(
        settings=settings(), images=np.zeros((len(presence or [0, 0]), 3, 8, 8), np.uint8),
        coordinates=None if coordinates is None else np.array(coordinates),
        presence=None if presence is None else np.array(presence),
        h=np.zeros(11), target="11", target_name="blue-small", clipped=(), seconds=0.0, space=ConceptSpace(),
    )


def test_summary_counts_hits_among_samples_with_an_object():
    # 4 samples: 3 show an object, 2 of those at the target (1, 1), one red-small; the empty one would be a hit.
    result = _result([[0.9, 0.8], [0.95, 1.1], [0.0, 0.9], [0.9, 0.9]], [0.9, 0.6, 0.8, 0.1])
    assert result.summary() == "50% of 4 samples are blue-small; 75% show an object."
    # A colour at 0.7 is blue by the midpoint, in between under the strict criterion (the default).
    result = _result([[0.9, 0.8], [0.7, 0.9]], [0.9, 0.9])
    assert result.summary() == "50% of 2 samples are blue-small, 50% in between classes; 100% show an object."
    assert result.summary("lenient") == "100% of 2 samples are blue-small; 100% show an object."
    assert _result([[0.9, 0.8], [0.7, 0.6]], [0.4, 0.1]).summary() == "No object in any of the 2 samples."
    assert _result(None, None).summary() == (
        "2 samples; this run has no probe, so they are not placed in concept space.")


def test_cache_hit_returns_the_identical_result(runs, generator):
    first = generator.generate(runs["plain"], settings(seed=11))
    hits = generator.hits
    again = generator.generate(runs["plain"], settings(seed=11.0, samples=3.0))  # the same settings, as floats
    assert again is first and generator.hits == hits + 1


def test_seed_reproduces_and_another_seed_differs(runs):
    a = LiveGenerator().generate(runs["plain"], settings(seed=5))
    b = LiveGenerator().generate(runs["plain"], settings(seed=5))
    c = LiveGenerator().generate(runs["plain"], settings(seed=6))
    assert np.array_equal(a.images, b.images)
    assert not np.array_equal(a.images, c.images)


def test_zero_strengths_are_the_plain_prompt_bit_for_bit(runs, generator):
    plain = generator.generate(runs["plain"], settings(seed=3))
    zero = generator.generate(runs["plain"], settings(seed=3, overprompt_concepts=("color",),
                                                      intervention=(1.0, 0.0), intervention_strength=0.0))
    assert zero is not plain and np.array_equal(zero.images, plain.images)


def test_elicitation_settings_change_the_samples(runs, generator):
    plain = generator.generate(runs["plain"], settings(seed=3))
    pushed = generator.generate(runs["plain"], settings(seed=3, intervention=(1.0, 0.0), intervention_strength=3.0))
    assert not np.array_equal(pushed.images, plain.images)
    # A 6-step model barely uses its embedding, so check the patch itself: step 6 with step 2's embedding.
    patched = generator.model(runs["plain"], 6, patch_step=2)
    donor = runs["plain"].load_state(2)
    for key, value in patched.denoiser.embedding.state_dict().items():
        assert torch.equal(value, donor[f"denoiser.embedding.{key}"])
    own = runs["plain"].load_state(6)
    assert torch.equal(patched.denoiser.backbone.conv_in.weight, own["denoiser.backbone.conv_in.weight"])
    assert generator.generate(runs["plain"], settings(seed=3, patch_step=2)).settings.patch_step == 2


def test_the_intervention_takes_its_direction_as_chosen(runs, bundled, generator, monkeypatch):
    from concept_explorer.analysis import live

    asked = []
    real = live.intervention
    monkeypatch.setattr(live, "intervention", lambda *args, **kwargs: asked.append(kwargs["direction"])
                        or real(*args, **kwargs))
    last = bundled.steps[-1]
    pushed = {direction: generator.generate(bundled, settings(step=last, seed=4, intervention=(1.0, 0.0),
                                                              intervention_strength=3.0, direction=direction))
              for direction in ("pairs", "orthogonal", "target")}
    assert asked == ["pairs", "orthogonal", "target"]
    # Different directions draw visibly different images: more than rounding (a few grey levels) apart.
    difference = np.abs(pushed["pairs"].images.astype(int) - pushed["orthogonal"].images.astype(int))
    assert difference.max() > 32, difference.max()
    # Without an intervention the direction changes nothing, so it is not a new generation either.
    plain = generator.generate(runs["plain"], settings(seed=4))
    assert generator.generate(runs["plain"], settings(seed=4, direction="pairs")) is plain
    assert plain.settings.direction == DEFAULT_DIRECTION


def test_the_prompt_follows_the_semantic_axes_and_reports_clipping(runs, generator):
    run = runs["plain"]
    space = run.config.concept_space
    plain = generator.generate(run, settings())
    assert np.allclose(plain.h, space.class_prompt((1, 1)).numpy()) and plain.clipped == () and not plain.notes
    # Overprompting colour by s moves the position by s/2 past the class mean, exactly as elicit.overprompt does.
    from concept_explorer.analysis.elicit import overprompt

    pushed = generator.generate(run, settings(overprompt=1.0, overprompt_concepts=("color",)))
    assert np.allclose(pushed.h, overprompt(space, (1, 1), {"color": 1.0}).h.numpy())
    assert not np.allclose(pushed.h, plain.h)
    far = generator.generate(run, settings(concept_vector=(1.5, 1.5), overprompt=4.0,
                                           overprompt_concepts=("color", "size")))
    assert set(far.clipped) == {"color", "size"} and far.h.min() >= 0 and far.h.max() <= 1
    assert "clipped to [0, 1]" in far.notes[0]


def test_models_are_loaded_once_per_checkpoint(runs):
    generator = LiveGenerator(max_models=2)
    first = generator.model(runs["plain"], 6)
    assert generator.model(runs["plain"], 6) is first
    generator.model(runs["plain"], 4)
    generator.model(runs["plain"], 2)
    assert generator.model(runs["plain"], 6) is not first  # evicted: the cache is bounded


def test_a_run_without_a_probe_still_generates(tmp_path: Path, runs):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(runs["plain"].path, copy)
    shutil.rmtree(copy / "probe")
    result = LiveGenerator().generate(Run.open(copy), settings())
    assert result.coordinates is None and "no probe" in result.summary()
