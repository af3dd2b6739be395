"""The analysis subcommands end to end, in process, on a tiny run: train --evaluate, probe, evaluate, elicit,
report, and their one-line errors."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from conftest import TINY_OVERRIDES

from concept_explorer.analysis.evaluate import Evaluation
from concept_explorer.analysis.probes import probe_config_for, train_probe
from concept_explorer.cli import main
from concept_explorer.core.config import cpu_preset, with_overrides
from concept_explorer.core.run import Run, RunLayout


def _tiny_probe(run_folder: Path) -> None:
    """A barely trained probe in place, so the commands do not spend a minute training the real one (a run
    folder may hold its probe before training starts)."""
    space = with_overrides(cpu_preset(), TINY_OVERRIDES).concept_space
    probe = train_probe(dataclasses.replace(probe_config_for(space), steps=2, batch_size=16, width=8), progress=False)
    probe.save(RunLayout(run_folder).probe)


@pytest.mark.slow
def test_train_evaluate_elicit_report(tmp_path: Path, tiny_cli_args: list[str], capsys: pytest.CaptureFixture) -> None:
    folder = tmp_path / "run"
    assert main(["train", "--out", str(folder), *tiny_cli_args, "--train.num_steps", "2",
                 "--train.checkpoint_steps", "2"]) == 0
    _tiny_probe(folder)
    _tiny_probe(tmp_path / "with_eval")
    assert main(["train", "--out", str(tmp_path / "with_eval"), *tiny_cli_args, "--train.num_steps", "4",
                 "--train.checkpoint_steps", "2,4", "--evaluate"]) == 0
    assert Evaluation(Run.open(tmp_path / "with_eval")).steps == [2, 4]
    assert main(["evaluate", str(folder), "--samples", "2", "--device", "cpu"]) == 0
    assert "Evaluated 1 new checkpoint" in capsys.readouterr().out
    assert main(["elicit", str(folder), "--samples", "2", "--overprompt", "1", "--intervention", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "blue-small" in out and "overprompt" in out and "patch" in out
    assert main(["report", str(folder), "--out", str(tmp_path / "report")]) == 0
    assert (tmp_path / "report" / "report.html").stat().st_size > 100_000  # plotly.js inlined
    assert (tmp_path / "report" / "trajectory.gif").is_file()
    capsys.readouterr()
    # A step that is no checkpoint is shown as the nearest one, and said so (issue 22, item 12: it was silent).
    assert main(["report", str(folder), "--out", str(tmp_path / "report"), "--step", "-100000000"]) == 0
    assert "step -100,000,000 is not a checkpoint of this run (they run from 2 to 2); showing the nearest, 2." in \
        capsys.readouterr().err
    assert main(["train", "--out", str(tmp_path / "one"), *tiny_cli_args, "--train.num_steps", "2",
                 "--train.checkpoint_steps", "2"]) == 0
    assert "holds 1 checkpoint, the last at step 2." in capsys.readouterr().out


@pytest.mark.parametrize("args, fragment", [
    (["evaluate", "/no/such/run"], "No run folder"),
    (["elicit", "/no/such/run"], "No run folder"),
    (["report", "/no/such/run"], "No run folder"),
    (["probe"], "RUN_FOLDER or --out"),
])
def test_analysis_commands_fail_with_one_line(args: list[str], fragment: str, capsys: pytest.CaptureFixture) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert fragment in err and "\n" not in err and "Traceback" not in err


def test_bad_elicitation_options_are_usage_errors(tmp_path: Path, tiny_cli_args: list[str],
                                                  capsys: pytest.CaptureFixture) -> None:
    folder = tmp_path / "run"
    assert main(["train", "--out", str(folder), *tiny_cli_args, "--train.num_steps", "2",
                 "--train.checkpoint_steps", "2"]) == 0
    _tiny_probe(folder)
    capsys.readouterr()
    assert main(["elicit", str(folder), "--concepts", "texture"]) == 2
    assert "Unknown concept" in capsys.readouterr().err
    assert main(["elicit", str(folder), "--overprompt", "strong"]) == 2
    assert "Cannot read" in capsys.readouterr().err
    assert main(["evaluate", str(folder), "--samples", "0"]) == 2
    assert "samples per class" in capsys.readouterr().err


def test_probe_command_saves_and_flags_a_weak_probe(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "probe.safetensors"
    assert main(["probe", "--preset", "cpu", "--out", str(out), "--steps", "1"]) == 1  # one step: far below 99 %
    captured = capsys.readouterr()
    assert out.is_file()
    assert "blue-small" in captured.out and "present" in captured.out
    assert "below 99 %" in captured.err
