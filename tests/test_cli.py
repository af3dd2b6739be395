"""The command line: every config field is an option, user errors are one line with exit code 2, Ctrl-C stops
cleanly and --resume finishes the run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from concept_explorer.cli import main
from concept_explorer.cli.common import EXIT_INTERRUPTED, EXIT_USAGE
from concept_explorer.cli.overrides import override_fields
from concept_explorer.cli.train import stop_on_sigint
from concept_explorer.core.config import RunConfig
from concept_explorer.core.run import Run
from concept_explorer.core.training import train

SCRIPT = Path(sys.executable).with_name("concept-explorer")


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout)


def assert_one_line_error(stderr: str, fragment: str) -> None:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("concept-explorer: error: ") and fragment in lines[0]
    assert "Traceback" not in stderr


# -- in process ---------------------------------------------------------------------------------------------------
def test_train_writes_a_complete_run(tmp_path: Path, tiny_cli_args: list[str], capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), *tiny_cli_args, "--train.seed", "3"]) == 0
    run = Run.open(out)
    assert run.status == "complete" and run.steps == [2, 4, 6]
    assert run.config.preset == "cpu" and run.config.model.channels == (8, 16) and run.config.train.seed == 3
    assert f"Done: {out} holds 3 checkpoints, the last at step 6." in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--preset", "gpu"], "invalid choice: 'gpu'"),
        (["--train.num_steps", "ten"], "Cannot read train.num_steps='ten' as int."),
        (["--model.channels", "8,12"], "must be positive multiples of norm_groups=8"),
        (["--concept_space.delta_color", "2"], "delta_color must be in (0, 0.8], got 2.0."),
        (["--train.num_stepz", "5"], "Unrecognized arguments: --train.num_stepz 5"),
        (["--train.num"], "Unrecognized arguments: --train.num"),  # no abbreviations of the many similar names
        (["--threads", "0"], "--threads must be a whole number from 1 to 1,024, got 0."),
        (["--device", "tpu"], "Unknown device 'tpu'"),
        (["--resume"], "No run folder at"),
    ],
)
def test_bad_arguments_give_one_line_and_exit_code_2(
    tmp_path: Path, args: list[str], fragment: str, capsys: pytest.CaptureFixture
) -> None:
    assert main(["train", "--out", str(tmp_path / "run"), *args]) == EXIT_USAGE
    assert_one_line_error(capsys.readouterr().err, fragment)
    assert not (tmp_path / "run").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_cuda_without_a_gpu_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["train", "--out", str(tmp_path / "run"), "--device", "cuda"]) == EXIT_USAGE
    assert_one_line_error(capsys.readouterr().err, "no CUDA GPU is available; use --device cpu or auto.")
    assert not (tmp_path / "run").exists()


def test_missing_out_and_missing_command_are_usage_errors(capsys: pytest.CaptureFixture) -> None:
    assert main(["train"]) == EXIT_USAGE
    assert_one_line_error(capsys.readouterr().err, "The following arguments are required: --out")
    assert main([]) == EXIT_USAGE
    assert_one_line_error(capsys.readouterr().err, "required: COMMAND")


@pytest.mark.slow
def test_existing_run_without_resume_and_complete_run_with_resume_are_refused(
    tmp_path: Path, tiny_cli_args: list[str], capsys: pytest.CaptureFixture
) -> None:
    out = str(tmp_path / "run")
    assert main(["train", "--out", out, *tiny_cli_args]) == 0
    capsys.readouterr()
    assert main(["train", "--out", out, *tiny_cli_args]) == EXIT_USAGE
    assert_one_line_error(capsys.readouterr().err, "already holds a complete run; choose another --out")
    assert main(["train", "--out", out, "--resume"]) == EXIT_USAGE
    assert_one_line_error(capsys.readouterr().err, "is already complete (6 steps); nothing to resume.")


@pytest.mark.slow
def test_resume_checks_given_options_against_the_stored_config(
    tmp_path: Path, tiny: RunConfig, tiny_cli_args: list[str], capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "run"
    calls = iter(range(10))
    train(tiny, out, device="cpu", progress=False, should_stop=lambda: next(calls) == 3)
    base = ["train", "--out", str(out), "--resume"]
    assert main([*base, "--preset", "paper"]) == EXIT_USAGE
    assert_one_line_error(capsys.readouterr().err, "was trained from the cpu preset; drop --preset to resume it.")
    assert main([*base, "--train.lr", "0.5"]) == EXIT_USAGE
    assert_one_line_error(capsys.readouterr().err, "--resume keeps the stored config; these sections differ: ['train']")
    assert main([*base, "--preset", "cpu", *tiny_cli_args]) == 0  # repeating the original options is fine
    assert Run.open(out).status == "complete"


def test_precision_is_resolved_per_machine_recorded_and_kept_on_resume(
    tmp_path: Path, tiny: RunConfig, tiny_cli_args: list[str], capsys: pytest.CaptureFixture
) -> None:
    from concept_explorer.core.precision import resolve_precision

    assert main(["train", "--out", str(tmp_path / "auto"), *tiny_cli_args]) == 0
    capsys.readouterr()
    assert Run.open(tmp_path / "auto").config.train.precision == resolve_precision("auto", torch.device("cpu"))
    out = tmp_path / "run"
    calls = iter(range(10))
    train(tiny, out, device="cpu", progress=False, should_stop=lambda: next(calls) == 3)  # fp32
    assert main(["train", "--out", str(out), "--resume", "--precision", "bf16"]) == EXIT_USAGE
    assert_one_line_error(capsys.readouterr().err, "these sections differ: ['train']")
    assert main(["train", "--out", str(out), "--resume", "--precision", "fp32"]) == 0
    assert Run.open(out).config.train.precision == "fp32"
    assert main(["train", "--out", str(tmp_path / "x"), "--train.precision", "bf16"]) == EXIT_USAGE


def test_first_ctrl_c_requests_a_stop_and_the_second_aborts() -> None:
    before = signal.getsignal(signal.SIGINT)
    with stop_on_sigint() as stop_requested:
        assert not stop_requested()
        signal.raise_signal(signal.SIGINT)
        assert stop_requested()
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is before


# -- as a separate process ----------------------------------------------------------------------------------------
@pytest.mark.slow
def test_help_lists_every_config_field_with_its_default() -> None:
    result = run_cli(sys.executable, "-m", "concept_explorer", "train", "--help")  # also checks __main__.py
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: concept-explorer train ")
    text = " ".join(result.stdout.split())  # undo argparse's line wrapping
    for key, (_, help_text, _) in override_fields().items():
        assert f"--{key} " in text, key
        assert " ".join(help_text.split()) in text, key
    channels = text.split("--model.channels INT,... widths per resolution level (", 1)[1].split(")", 1)[0]
    assert "cpu: 16,32,64;" in channels and channels.endswith("paper: 64,128,256")  # a default per preset
    assert "--train.seed INT seed of data, initialisation and training noise (default: 0)" in text


@pytest.mark.slow
def test_console_script_rejects_a_bad_value_with_one_line(tmp_path: Path) -> None:
    assert os.access(SCRIPT, os.X_OK), "the console script is not installed next to this Python"
    result = run_cli(str(SCRIPT), "train", "--out", str(tmp_path / "run"), "--train.lr", "fast")
    assert result.returncode == EXIT_USAGE
    assert_one_line_error(result.stderr, "Cannot read train.lr='fast' as float.")
    assert result.stdout == ""


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_and_resume_completes(tmp_path: Path, tiny_cli_args: list[str]) -> None:
    out = tmp_path / "run"
    args = [str(SCRIPT), "train", "--out", str(out), *tiny_cli_args, "--threads", "1",
            "--train.num_steps", "150", "--train.checkpoint_steps", "5,150"]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240
        while not (out / "steps" / "5.safetensors").exists():
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "training never reached its first checkpoint"
            time.sleep(0.01)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == EXIT_INTERRUPTED, stderr
    assert "Traceback" not in stderr
    assert f"To continue: concept-explorer train --out {out} --resume" in stderr
    assert "resume with --resume" in stdout
    info = json.loads((out / "run.json").read_text())
    assert info["status"] == "interrupted" and info["completed_steps"] == [5]
    assert (out / "resume.safetensors").is_file()

    resumed = run_cli(str(SCRIPT), "train", "--out", str(out), "--resume", "--threads", "1")
    assert resumed.returncode == 0, resumed.stderr
    run = Run.open(out)
    assert run.status == "complete" and run.steps == [5, 150]
    assert not run.layout.resume.exists()
