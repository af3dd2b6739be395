"""Probe, evaluation and elicitation on a tiny trained run."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import TINY_OVERRIDES
from safetensors.torch import save_file

from concept_explorer.analysis.capability import (
    ElicitConfig,
    capability_curves,
    elicit_run,
    load_elicitation,
    read_elicited_samples,
)
from concept_explorer.analysis.definitions import summarize_class
from concept_explorer.analysis.elicit import (
    check_guidance,
    concept_direction,
    intervention,
    overprompt,
    patch_embedding,
)
from concept_explorer.analysis.evaluate import EvalConfig, Evaluation, class_prompts, evaluate_run
from concept_explorer.analysis.probes import (
    OutdatedProbe,
    Probe,
    ProbeNet,
    class_mean_accuracy,
    probe_config_for,
    train_probe,
)
from concept_explorer.analysis.run_probe import ensure_probe
from concept_explorer.core.config import cpu_preset, with_overrides
from concept_explorer.core.run import Run, RunFolderError, file_digest
from concept_explorer.core.sampling import generate
from concept_explorer.core.training import train

EVAL = EvalConfig(samples_per_class=4, seed=3)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """A trained tiny run with a (barely trained) probe of its geometry, so evaluation runs in seconds."""
    config = with_overrides(cpu_preset(), TINY_OVERRIDES)
    run = train(config, tmp_path_factory.mktemp("runs") / "tiny", device="cpu", progress=False)
    probe = train_probe(dataclasses.replace(probe_config_for(config.concept_space), steps=3, batch_size=16,
                                            width=8), progress=False)
    probe.save(run.layout.probe)
    return Run.open(run.path)


@pytest.fixture
def run_copy(tiny_run: Run, tmp_path: Path) -> Run:
    shutil.copytree(tiny_run.path, tmp_path / "copy")
    return Run.open(tmp_path / "copy")


@pytest.mark.slow
def test_probe_reads_class_means_and_empty_images() -> None:
    """A probe of the cpu-preset geometry is ≥ 99 % right on every class mean and calls empty images empty."""
    space = cpu_preset().concept_space
    probe = train_probe(dataclasses.replace(probe_config_for(space), steps=400, batch_size=64), progress=False)
    accuracy = class_mean_accuracy(probe, space, per_class=64)
    assert set(accuracy) == {"strict", "lenient"} and set(accuracy["strict"]) == {"00", "01", "10", "11"}
    for label, per_concept in accuracy["strict"].items():
        assert min(per_concept) >= 0.99, (label, per_concept)
    background_only = torch.full((4, 3, 16, 16), 0.9)
    assert (probe.score(background_only, space).p_present < 0.5).all()
    # Untrained models emit static; a probe that calls it an object fakes an early "learned" held-out class.
    static = (0.5 + 0.5 * torch.randn(8, 3, 16, 16, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    assert (probe.score(static, space).p_present < 0.5).all()


def test_probe_round_trip_and_resolution_check(tmp_path: Path, tiny_run: Run) -> None:
    space = tiny_run.config.concept_space
    probe = Probe.load(tiny_run.layout.probe)
    probe.save(tmp_path / "p.safetensors")
    again = Probe.load(tmp_path / "p.safetensors")
    images = torch.rand(3, 3, 8, 8)
    assert torch.equal(probe.score(images, space).position, again.score(images, space).position)
    with pytest.raises(ValueError, match="8 px"):
        probe.score(torch.rand(1, 3, 16, 16), space)
    with pytest.raises(ValueError, match="concepts"):
        probe.score(images, dataclasses.replace(space, concepts=("color", "bg")))
    (tmp_path / "bad.safetensors").write_bytes(b"garbage")
    with pytest.raises(RunFolderError, match="retrain"):
        Probe.load(tmp_path / "bad.safetensors")


def _old_format_probe(path: Path, space) -> None:
    """A probe file as the earlier version wrote it: one P(level 1) logit per concept and presence in one head."""
    width = 8
    old = torch.nn.Sequential(torch.nn.Linear(4 * width, 2 * width), torch.nn.GELU(),
                              torch.nn.Linear(2 * width, space.num_concepts + 1))
    state = {k: v for k, v in ProbeNet(space.num_concepts, width).state_dict().items() if k.startswith("features")}
    state |= {f"head.{k}": v for k, v in old.state_dict().items()}
    config = dataclasses.replace(probe_config_for(space), width=width).to_dict()
    save_file(state, str(path), metadata={"probe_config": json.dumps(config)})


def test_a_probe_of_the_earlier_format_is_named_and_retrained(run_copy: Run, monkeypatch) -> None:
    import concept_explorer.analysis.run_probe as run_probe

    space = run_copy.config.concept_space
    _old_format_probe(run_copy.layout.probe, space)
    with pytest.raises(OutdatedProbe, match="earlier version.*retrain"):
        Probe.load(run_copy.layout.probe)
    quick = run_probe.train_probe
    monkeypatch.setattr(run_probe, "train_probe", lambda config, progress=True: quick(
        dataclasses.replace(config, steps=2, batch_size=16, width=8), progress))
    assert ensure_probe(run_copy, progress=False).score(torch.rand(2, 3, 8, 8), space).position.shape == (2, 2)
    assert Probe.load(run_copy.layout.probe).config.width == 8  # the new one was stored


def test_evaluate_is_incremental_and_reproducible(run_copy: Run, tiny_run: Run, tmp_path: Path) -> None:
    first = evaluate_run(run_copy, EVAL, steps=[2, 4], progress=False)
    assert first == [2, 4]
    assert evaluate_run(run_copy, EVAL, progress=False) == [6]  # only the new checkpoint
    assert evaluate_run(run_copy, EVAL, progress=False) == []
    evaluation = Evaluation(run_copy)
    assert evaluation.steps == [2, 4, 6]
    assert evaluation.coordinates.shape == (3, 4, 2) and evaluation.joint_accuracy.shape == (3, 4)
    # A second copy evaluated from scratch produces the same images.
    shutil.copytree(tiny_run.path, tmp_path / "again")
    other = Run.open(tmp_path / "again")
    evaluate_run(other, EVAL, progress=False)
    for step in (2, 6):
        assert torch.equal(evaluation.samples(step)["images"], Evaluation(other).samples(step)["images"])
    assert Evaluation(other).summary["per_step"] == evaluation.summary["per_step"]


def test_stored_summary_matches_recomputation(run_copy: Run) -> None:
    evaluate_run(run_copy, EVAL, progress=False)
    evaluation = Evaluation(run_copy)
    stored = evaluation.samples(4)
    h, labels = class_prompts(run_copy.config.concept_space, EVAL.samples_per_class, EVAL.seed)
    assert torch.equal(stored["labels"], labels)
    images = generate(run_copy.load_model(4), h, run_copy.config.train.sample_steps, EVAL.seed)
    assert torch.equal(images, stored["images"])
    space = run_copy.config.concept_space
    scores = Probe.load(run_copy.layout.probe).score(images, space)
    for index, code in enumerate(evaluation.classes):
        fresh = summarize_class(scores.position[labels == index].numpy(), scores.p_present[labels == index].numpy(),
                                code, space).to_dict()
        assert fresh == evaluation.summary["per_step"]["4"][evaluation.labels[index]]


def test_new_probe_rescores_without_sampling(run_copy: Run) -> None:
    evaluate_run(run_copy, EVAL, progress=False)
    before = Evaluation(run_copy).samples(2)["images"]
    space = run_copy.config.concept_space
    other = train_probe(dataclasses.replace(probe_config_for(space), steps=2, batch_size=16, width=8, seed=9),
                        progress=False)
    other.save(run_copy.layout.probe)
    assert evaluate_run(run_copy, EVAL, progress=False) == []  # nothing re-sampled...
    after = Evaluation(run_copy)
    assert torch.equal(after.samples(2)["images"], before)
    assert torch.equal(after.samples(2)["position"], other.score(before, space).position)  # ...but re-scored
    assert after.summary["probe"]["digest"] == file_digest(run_copy.layout.probe)
    assert set(after.summary["probe"]["calibration"]) == {"color", "size"}


def test_evaluation_starts_over_when_its_settings_change(run_copy: Run) -> None:
    """Rows made with other settings mean something else: another seed or sample count re-samples everything."""
    evaluate_run(run_copy, EVAL, progress=False)
    before = Evaluation(run_copy).samples(4)["images"]
    other = dataclasses.replace(EVAL, seed=EVAL.seed + 1)
    assert evaluate_run(run_copy, other, progress=False) == [2, 4, 6]
    after = Evaluation(run_copy)
    assert after.summary["settings"]["seed"] == EVAL.seed + 1
    assert not torch.equal(after.samples(4)["images"], before)
    more = dataclasses.replace(other, samples_per_class=EVAL.samples_per_class + 2)
    assert evaluate_run(run_copy, more, steps=[4], progress=False) == [4]
    restarted = Evaluation(run_copy)
    assert restarted.steps == [4]  # the old rows were dropped, not mixed with the new ones
    assert restarted.samples(4)["images"].shape[0] == 4 * more.samples_per_class


def test_an_interrupted_evaluation_keeps_its_finished_checkpoints(run_copy: Run, monkeypatch) -> None:
    import concept_explorer.analysis.evaluate as evaluate_module

    calls = []
    real = evaluate_module.generate

    def fail_on_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(evaluate_module, "generate", fail_on_second)
    with pytest.raises(KeyboardInterrupt):
        evaluate_run(run_copy, EVAL, progress=False)
    assert Evaluation(run_copy).steps == [2]
    monkeypatch.setattr(evaluate_module, "generate", real)
    assert evaluate_run(run_copy, EVAL, progress=False) == [4, 6]


def _plain(model, space, code, n: int = 3, **kwargs) -> torch.Tensor:
    return generate(model, space.class_prompt(code)[None].repeat(n, 1), 5, seed=11, **kwargs)


def test_zero_strengths_and_self_patch_equal_plain_sampling(tiny_run: Run) -> None:
    space = tiny_run.config.concept_space
    model = tiny_run.load_model(4)
    code = (1, 1)
    plain = _plain(model, space, code)
    pushed = overprompt(space, code, {"color": 0.0, "size": 0.0})
    assert torch.equal(pushed.h, space.class_prompt(code)) and pushed.clipped == ()
    assert torch.equal(generate(model, pushed.h[None].repeat(3, 1), 5, seed=11), plain)
    assert intervention(model, space, code, {"color": 0.0}) is None
    zero_edit = intervention(model, space, code, {"color": 0.0, "size": 0.0})
    assert torch.equal(_plain(model, space, code, edit=zero_edit), plain)
    assert torch.equal(_plain(patch_embedding(model, tiny_run.load_state(4)), space, code), plain)
    patched = patch_embedding(model, tiny_run.load_state(6))
    h = space.class_prompt(code)[None]
    assert not torch.equal(patched.denoiser.embedding(h), model.denoiser.embedding(h))
    assert torch.equal(patched.denoiser.backbone.conv_in.weight, model.denoiser.backbone.conv_in.weight)
    assert torch.equal(model.denoiser.embedding(h), tiny_run.load_model(4).denoiser.embedding(h))  # no side effect


def test_overprompt_moves_along_the_axis_and_reports_clipping(tiny_run: Run) -> None:
    space = tiny_run.config.concept_space  # Δc = 0.4: blue mean (0.3, 0.3, 0.7)
    pushed = overprompt(space, (1, 1), {"color": 1.0})
    assert pushed.h[4:7].tolist() == pytest.approx([0.1, 0.3, 0.9])  # Δ-equivalent 0.8
    assert pushed.h[7] == space.class_prompt((1, 1))[7]  # size untouched
    far = overprompt(space, (1, 1), {"color": 3.0})
    assert far.clipped == ("color",) and far.h[4:7].tolist() == pytest.approx([0.0, 0.3, 1.0])
    toward_red = overprompt(space, (0, 1), {"color": 1.0})
    assert toward_red.h[4:7].tolist() == pytest.approx([0.9, 0.3, 0.1])


def test_intervention_direction_comes_from_the_model_it_edits(tiny_run: Run) -> None:
    space = tiny_run.config.concept_space
    early, late = tiny_run.load_model(2), tiny_run.load_model(6)
    d_early, d_late = concept_direction(early, space, "color", "pairs"), concept_direction(late, space, "color", "pairs")
    assert not torch.allclose(d_early, d_late)
    e = torch.zeros(2, d_early.shape[0])
    assert torch.allclose(intervention(early, space, (1, 1), {"color": 2.0}, direction="pairs")(e), 2 * d_early.expand(2, -1))
    assert torch.allclose(intervention(late, space, (1, 1), {"color": 2.0}, direction="pairs")(e), 2 * d_late.expand(2, -1))
    assert torch.allclose(intervention(late, space, (0, 1), {"color": 1.0}, direction="pairs")(e), -d_late.expand(2, -1))
    projected = intervention(late, space, (1, 1), {"color": 1.0}, projection=True, direction="pairs")
    unit = d_late / d_late.norm()
    assert torch.allclose(projected(unit[None]), 2 * unit[None], atol=1e-6)
    assert not torch.equal(_plain(late, space, (1, 1), edit=intervention(late, space, (1, 1), {"color": 3.0})),
                           _plain(late, space, (1, 1)))


@pytest.mark.parametrize("call, message", [
    (lambda m, s: overprompt(s, (1, 1), {"texture": 1.0}), "Unknown concept"),
    (lambda m, s: overprompt(s, (1, 1), {"color": float("nan")}), "finite"),
    (lambda m, s: intervention(m, s, (1, 1), {"color": float("inf")}), "finite"),
    (lambda m, s: intervention(m, s, (1, 1), {"shape": 1.0}), "Unknown concept"),
    (lambda m, s: check_guidance(3.0, trained_with_null=False), "null token"),
    (lambda m, s: check_guidance(float("nan"), trained_with_null=True), "finite"),
])
def test_invalid_elicitation_inputs_have_clear_errors(tiny_run: Run, call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call(tiny_run.load_model(2), tiny_run.config.concept_space)


def test_unknown_checkpoint_is_a_clear_error(tiny_run: Run) -> None:
    with pytest.raises(RunFolderError, match="not a checkpoint"):
        tiny_run.load_model(5)


def test_capability_curves_are_incremental(run_copy: Run) -> None:
    config = ElicitConfig(samples=3, overprompt_strengths=(1.0,), intervention_strengths=(1.0, 2.0),
                          intervention_directions=("pairs", "orthogonal"))
    assert elicit_run(run_copy, config, steps=[2], progress=False) == [2]
    assert elicit_run(run_copy, config, progress=False) == [4, 6]
    assert elicit_run(run_copy, config, progress=False) == []
    summary = load_elicitation(run_copy)
    assert set(summary["per_step"]["2"]) == {"plain", "overprompt@1", "intervention-pairs@1", "intervention-pairs@2",
                                             "intervention-orthogonal@1", "intervention-orthogonal@2", "patch@final"}
    curves = capability_curves(summary, "11")
    assert curves.steps == [2, 4, 6]
    for family in ("plain", "overprompt", "intervention-pairs", "intervention-orthogonal", "patch"):
        assert curves.joint[family].shape == (3,)
        assert np.all((curves.joint[family] >= 0) & (curves.joint[family] <= 1))
    # At the final checkpoint the patched embedding is the model's own: patch equals plain.
    final = json.loads(run_copy.layout.elicitation_summary.read_text())["per_step"]["6"]
    assert final["patch@final"] == final["plain"]
    with pytest.raises(ValueError, match="Unknown concept"):
        elicit_run(run_copy, ElicitConfig(concepts=("texture",)), progress=False)


def test_elicitation_draws_every_method_in_one_call_as_separate_calls_would(tmp_path: Path, tiny_run: Run) -> None:
    """The batched pass stores, for each method, the images one `generate` call of that method makes with the
    pass's seed (rounding of a batch's kernels aside: within one uint8 level)."""
    run_copy = train(with_overrides(tiny_run.config, {"train.p_uncond": 0.5}), tmp_path / "cfg", progress=False)
    run_copy.layout.probe.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(tiny_run.layout.probe, run_copy.layout.probe)
    config = ElicitConfig(samples=3, seed=5, overprompt_strengths=(1.0,), intervention_strengths=(2.0,),
                          intervention_directions=("target",), guidance_weights=(3.0,))
    elicit_run(run_copy, config, steps=[4], progress=False)
    stored = read_elicited_samples(run_copy, 4)
    space, model, code = run_copy.config.concept_space, run_copy.load_model(4), (1, 1)
    plain_h = space.class_prompt(code)[None].repeat(3, 1)
    steps = run_copy.config.train.sample_steps
    expected = {
        "plain": generate(model, plain_h, steps, 5),
        "overprompt@1": generate(model, overprompt(space, code, {"color": 1.0}).h[None].repeat(3, 1), steps, 5),
        "intervention-target@2": generate(model, plain_h, steps, 5,
                                          edit=intervention(model, space, code, {"color": 2.0}, direction="target")),
        "patch@final": generate(patch_embedding(model, run_copy.load_state(6)), plain_h, steps, 5),
        "guidance@3": generate(model, plain_h, steps, 5, guidance=3.0),
    }
    for key, images in expected.items():
        difference = (stored[f"{key}/11/images"].int() - images.int()).abs()
        assert difference.max() <= 1, key
    assert not torch.equal(stored["guidance@3/11/images"], stored["plain/11/images"])


def test_methods_that_make_the_same_prompt_are_sampled_once(run_copy: Run, monkeypatch) -> None:
    """Overprompting at 3 and at 4 both clip colour to [0, 1] (Δc 0.4): one prompt, one block of samples."""
    import concept_explorer.analysis.capability as capability

    rows: list[int] = []
    real = capability.generate_embedded
    monkeypatch.setattr(capability, "generate_embedded", lambda model, e, *a, **k: rows.append(len(e)) or real(
        model, e, *a, **k))
    config = ElicitConfig(samples=3, overprompt_strengths=(3.0, 4.0), intervention_strengths=(), patch=False)
    elicit_run(run_copy, config, steps=[4], progress=False)
    assert rows == [2 * 3]  # plain and one overprompt block, not three blocks
    stored = read_elicited_samples(run_copy, 4)
    assert torch.equal(stored["overprompt@3/11/images"], stored["overprompt@4/11/images"])


def test_a_summary_written_before_precision_was_recorded_is_read_as_fp32(run_copy: Run) -> None:
    evaluate_run(run_copy, EVAL, progress=False)
    path = run_copy.layout.evaluation_summary
    older = json.loads(path.read_text())
    del older["settings"]["precision"]  # as the bundled run's summary was written
    path.write_text(json.dumps(older))
    assert evaluate_run(run_copy, EVAL, progress=False) == []  # fp32 settings: nothing to redo
    assert evaluate_run(run_copy, dataclasses.replace(EVAL, precision="bf16"), progress=False) == [2, 4, 6]


def test_a_new_probe_or_an_earlier_format_rescores_elicitation_without_sampling(run_copy: Run) -> None:
    """Like evaluation: the probe is not a setting of the samples, so a new one re-scores the stored images."""
    space = run_copy.config.concept_space
    config = ElicitConfig(samples=3, overprompt_strengths=(1.0,), intervention_strengths=(1.0,),
                          intervention_directions=("pairs",), patch=False, guidance_weights=())
    assert elicit_run(run_copy, config, progress=False) == [2, 4, 6]
    before = read_elicited_samples(run_copy, 4)
    other = train_probe(dataclasses.replace(probe_config_for(space), steps=2, batch_size=16, width=8, seed=9),
                        progress=False)
    other.save(run_copy.layout.probe)
    assert elicit_run(run_copy, config, progress=False) == []  # nothing re-sampled...
    after = read_elicited_samples(run_copy, 4)
    assert set(after) == set(before)
    assert torch.equal(after["plain/11/images"], before["plain/11/images"])
    assert torch.equal(after["plain/11/position"], other.score(before["plain/11/images"], space).position)
    assert load_elicitation(run_copy)["probe"]["digest"] == file_digest(run_copy.layout.probe)
    # A summary of the earlier format (probe digest among its settings, P(level 1) rows) is named, then re-scored.
    path = run_copy.layout.elicitation_summary
    older = json.loads(path.read_text())
    del older["format"], older["probe"]
    older["settings"]["probe"] = "0123abcd"
    path.write_text(json.dumps(older))
    with pytest.raises(RunFolderError, match="re-run `concept-explorer elicit`"):
        load_elicitation(run_copy)
    assert elicit_run(run_copy, config, progress=False) == []
    assert load_elicitation(run_copy)["steps"] == [2, 4, 6]
    assert torch.equal(read_elicited_samples(run_copy, 4)["plain/11/images"], before["plain/11/images"])


def test_an_evaluation_of_the_earlier_format_is_rescored_without_sampling(run_copy: Run) -> None:
    evaluate_run(run_copy, EVAL, progress=False)
    path = run_copy.layout.evaluation_summary
    older = json.loads(path.read_text())
    del older["format"]
    path.write_text(json.dumps(older))
    with pytest.raises(RunFolderError, match="re-run `concept-explorer evaluate`"):
        Evaluation(run_copy)
    assert evaluate_run(run_copy, EVAL, progress=False) == []
    assert Evaluation(run_copy).steps == [2, 4, 6]
