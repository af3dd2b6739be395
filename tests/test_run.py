"""The run folder: round trip of weights and metrics, and one clear error for each way a folder can break."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from concept_explorer.core.config import RunConfig
from concept_explorer.core.run import Run, RunFolderError
from concept_explorer.core.vdm import VDM


def random_state(config: RunConfig, seed: int) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    model = VDM(config.model, config.vdm, config.concept_space.resolution)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_()
    return model.state_dict()


@pytest.fixture
def run_folder(tmp_path: Path, tiny: RunConfig) -> Path:
    """A run folder with checkpoints at steps 2 and 4 of random weights."""
    run = Run.create(tmp_path / "run", tiny)
    for step in (2, 4):
        run.add_checkpoint(step, random_state(tiny, step), {"train_loss": float(step)})
    return run.path


def test_create_add_open_load_round_trip(run_folder: Path, tiny: RunConfig) -> None:
    run = Run.open(run_folder)
    assert run.config == tiny and run.steps == [2, 4] and run.final_step == 4
    assert run.info["seed"] == tiny.train.seed and run.info["checkpoint_steps"] == [2, 4, 6]
    assert {"torch", "diffusers", "safetensors"} <= set(run.info["versions"])
    assert [m["step"] for m in run.metrics()] == [2, 4] and run.metrics()[1]["train_loss"] == 4.0
    model = run.load_model(4)
    assert isinstance(model, VDM) and not model.training
    expected = random_state(tiny, 4)
    for key, value in model.state_dict().items():
        assert torch.equal(value, expected[key]), key
    assert sorted(p.name for p in run_folder.rglob("*") if p.is_file()) == [
        "2.safetensors", "4.safetensors", "metrics.jsonl", "run.json"
    ]


def test_float16_weights_load_back_as_float32(tmp_path: Path, tiny_config) -> None:
    config = tiny_config(train__weights_dtype="float16")
    run = Run.create(tmp_path / "half", config)
    state = random_state(config, 0)
    run.add_checkpoint(6, state, {})
    loaded = Run.open(run.path).load_state(6)
    for key, value in state.items():
        assert loaded[key].dtype == torch.float32
        assert torch.equal(loaded[key], value.half().float()), key


def test_rewriting_a_checkpoint_drops_later_metrics(run_folder: Path, tiny: RunConfig) -> None:
    run = Run.open(run_folder)
    run.add_checkpoint(2, random_state(tiny, 9), {"train_loss": -1.0})
    assert run.metrics() == [{"step": 2, "train_loss": -1.0}]


def test_creating_over_an_existing_run_is_refused(run_folder: Path, tiny: RunConfig) -> None:
    with pytest.raises(RunFolderError, match="already holds a run that stopped at step 4 of 6; pass --resume"):
        Run.create(run_folder, tiny)


def test_missing_folder_and_missing_run_json(tmp_path: Path) -> None:
    with pytest.raises(RunFolderError, match="No run folder at"):
        Run.open(tmp_path / "nowhere")
    with pytest.raises(RunFolderError, match="run.json is missing"):
        Run.open(tmp_path)


def test_missing_step_file_is_named(run_folder: Path) -> None:
    (run_folder / "steps" / "4.safetensors").unlink()
    with pytest.raises(RunFolderError, match=r"Checkpoint 4 is listed in .*run.json but .*4.safetensors is missing"):
        Run.open(run_folder)


@pytest.mark.parametrize("keep_bytes", [4, 100, -10])
def test_truncated_step_file_is_named(run_folder: Path, keep_bytes: int) -> None:
    path = run_folder / "steps" / "2.safetensors"
    data = path.read_bytes()
    path.write_bytes(data[:keep_bytes])
    with pytest.raises(RunFolderError, match=r"2.safetensors is truncated"):
        Run.open(run_folder)


def test_corrupt_run_json_is_named(run_folder: Path) -> None:
    (run_folder / "run.json").write_text('{"format": 1, "config": ')
    with pytest.raises(RunFolderError, match="run.json is not valid JSON"):
        Run.open(run_folder)


def test_run_json_with_an_invalid_config_is_named(run_folder: Path) -> None:
    info = json.loads((run_folder / "run.json").read_text())
    info["config"]["train"]["num_steps"] = 0
    (run_folder / "run.json").write_text(json.dumps(info))
    with pytest.raises(RunFolderError, match="holds an invalid config: .*num_steps must be >= 1"):
        Run.open(run_folder)


def test_shapes_that_do_not_match_run_json_are_named(run_folder: Path) -> None:
    info = json.loads((run_folder / "run.json").read_text())
    info["config"]["model"]["channels"] = [16, 32]
    (run_folder / "run.json").write_text(json.dumps(info))
    with pytest.raises(RunFolderError, match=r"2.safetensors does not match the model in run.json"):
        Run.open(run_folder)


def test_unknown_step_lists_the_available_ones(run_folder: Path) -> None:
    with pytest.raises(RunFolderError, match=r"Step 3 is not a checkpoint of run; available: 2…4 \(2 checkpoints\)"):
        Run.open(run_folder).load_model(3)


@pytest.mark.parametrize("craft, message", [
    (lambda f: f.write_text('{"step": 2, "x": ' + "[" * 100_000 + "]" * 100_000 + "}\n"), "is not valid JSON"),
    (lambda f: f.write_text('{"step": 2}\nnot json\n'), "is not valid JSON"),
    (lambda f: f.write_bytes(b'{"step": 2}\n\xff\xfe\n'), "is corrupt"),
    (lambda f: f.write_text('[1, 2]\n'), "is corrupt"),
    (lambda f: __import__("os").mkfifo(f), "is not a regular file"),
    (lambda f: f.symlink_to("/etc/passwd"), "is a link to outside the run folder"),  # refused by Run.open
    (lambda f: f.write_bytes(b" " * (64_000_000 + 1)), "is implausibly large"),
])
def test_a_crafted_metrics_file_is_one_sentence_and_never_hangs(run_folder: Path, craft, message: str) -> None:
    """Issue 22, item 10: a 100,000-deep line gave a RecursionError traceback and a FIFO hung `train --resume`."""
    from concept_explorer.cli import main

    metrics = run_folder / "metrics.jsonl"
    metrics.unlink()
    craft(metrics)
    with pytest.raises(RunFolderError, match=f"run/metrics.jsonl {message}.*delete it"):
        Run.open(run_folder).metrics()
    assert main(["train", "--resume", "--out", str(run_folder)]) == 2
