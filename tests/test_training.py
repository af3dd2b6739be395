"""Integration: train a tiny model, stop it, resume it to the same bits, and load what it saved."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from concept_explorer.core.config import RunConfig
from concept_explorer.core.run import Run, RunFolderError
from concept_explorer.core.training import train

pytestmark = pytest.mark.slow


def stop_after(steps: int) -> Callable[[], bool]:
    """A should_stop callback that lets `steps` training steps run, then asks to stop."""
    calls = iter(range(steps + 1))
    return lambda: next(calls, steps) == steps


def assert_same_weights(first: Run, second: Run) -> None:
    assert first.steps == second.steps
    for step in first.steps:
        a, b = first.load_state(step), second.load_state(step)
        assert a.keys() == b.keys()
        for key in a:
            assert torch.equal(a[key], b[key]), f"step {step}: {key}"


def test_uninterrupted_run_saves_every_checkpoint(tmp_path: Path, tiny: RunConfig) -> None:
    run = train(tiny, tmp_path / "run", device="cpu", progress=False)
    reopened = Run.open(run.path)
    assert reopened.status == "complete" and reopened.steps == [2, 4, 6]
    assert not reopened.layout.resume.exists()
    metrics = reopened.metrics()
    assert [m["step"] for m in metrics] == [2, 4, 6]
    for row in metrics:
        for key in ("train_loss", "val_loss", "heldout_loss", "seconds_per_step"):
            assert row[key] > 0, key
        assert row["gamma_0"] < row["gamma_1"]
    files = {p.suffix for p in run.path.rglob("*") if p.is_file()}
    assert files == {".json", ".jsonl", ".safetensors"}  # nothing pickled


def test_training_moves_the_weights_away_from_initialisation(tmp_path: Path, tiny: RunConfig) -> None:
    run = train(tiny, tmp_path / "run", device="cpu", progress=False)
    first, last = run.load_state(2), run.load_state(6)
    assert not torch.equal(first["denoiser.backbone.conv_out.weight"], last["denoiser.backbone.conv_out.weight"])
    assert last["denoiser.backbone.conv_out.weight"].abs().sum() > 0


@pytest.mark.parametrize(
    "overrides",
    [{"train__ema_decay": 0.0, "train__p_uncond": 0.0}, {"train__ema_decay": 0.9, "train__p_uncond": 0.5}],
    ids=["plain", "ema-and-null-token"],
)
def test_stopped_and_resumed_run_matches_the_uninterrupted_one_bit_for_bit(
    tmp_path: Path, tiny_config: Callable[..., RunConfig], overrides: dict
) -> None:
    config = tiny_config(**overrides)
    whole = train(config, tmp_path / "whole", device="cpu", progress=False)

    stopped = train(config, tmp_path / "split", device="cpu", progress=False, should_stop=stop_after(3))
    assert stopped.status == "interrupted" and stopped.steps == [2]
    assert stopped.layout.resume.is_file()
    resumed = train(None, tmp_path / "split", device="cpu", resume=True, progress=False)

    assert resumed.status == "complete" and not resumed.layout.resume.exists()
    assert_same_weights(whole, resumed)
    assert [m["step"] for m in resumed.metrics()] == [2, 4, 6]


def test_ema_weights_are_what_the_checkpoints_hold(tmp_path: Path, tiny_config: Callable[..., RunConfig]) -> None:
    plain = train(tiny_config(train__ema_decay=0.0), tmp_path / "plain", device="cpu", progress=False)
    ema = train(tiny_config(train__ema_decay=0.9), tmp_path / "ema", device="cpu", progress=False)
    key = "denoiser.backbone.conv_out.weight"
    # Same seed, so the raw weights agree; the average lags behind them as the output conv grows from zero.
    assert not torch.equal(plain.load_state(6)[key], ema.load_state(6)[key])
    assert ema.load_state(6)[key].abs().sum() < plain.load_state(6)[key].abs().sum()


def test_trained_model_loads_and_samples_with_and_without_guidance(
    tmp_path: Path, tiny_config: Callable[..., RunConfig]
) -> None:
    config = tiny_config(train__p_uncond=0.5)
    run = Run.open(train(config, tmp_path / "run", device="cpu", progress=False).path)
    model = run.load_model(run.final_step)
    prompt = config.concept_space.class_prompt((1, 1)).expand(2, -1)
    for guidance in (1.0, 2.0):
        images = model.sample(prompt, 3, torch.Generator().manual_seed(0), guidance=guidance)
        assert images.shape == (2, 3, 8, 8)
        assert images.min() >= 0 and images.max() <= 1


def test_stop_before_the_first_step_then_resume(tmp_path: Path, tiny: RunConfig) -> None:
    stopped = train(tiny, tmp_path / "run", device="cpu", progress=False, should_stop=stop_after(0))
    assert stopped.status == "interrupted" and stopped.steps == []
    resumed = train(None, stopped.path, device="cpu", resume=True, progress=False)
    assert resumed.steps == [2, 4, 6]


def test_resuming_a_complete_run_is_refused(tmp_path: Path, tiny: RunConfig) -> None:
    run = train(tiny, tmp_path / "run", device="cpu", progress=False)
    with pytest.raises(RunFolderError, match=r"is already complete \(6 steps\); nothing to resume"):
        train(None, run.path, device="cpu", resume=True, progress=False)


def test_resuming_with_another_config_is_refused(tmp_path: Path, tiny_config: Callable[..., RunConfig]) -> None:
    path = tmp_path / "run"
    train(tiny_config(), path, device="cpu", progress=False, should_stop=stop_after(1))
    with pytest.raises(RunFolderError, match=r"--resume keeps the stored config; these sections differ: \['train'\]"):
        train(tiny_config(train__lr=0.5), path, device="cpu", resume=True, progress=False)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_unavailable_device_leaves_no_run_folder_behind(tmp_path: Path, tiny: RunConfig) -> None:
    with pytest.raises(ValueError, match="no CUDA GPU is available"):
        train(tiny, tmp_path / "run", device="cuda", progress=False)
    assert not (tmp_path / "run").exists()
