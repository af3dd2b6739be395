"""Malformed command lines, generated: every config field with values outside its type and range (non-finite,
negative, zero, huge, of the wrong type, read off `limits.CONFIG_FIELDS` and the field's annotation), bad ports,
thread counts, seeds, sample counts and output paths of every command, and the app's own options. Each must exit 2
with one `error:` line and no traceback, before anything is created: no folder is left behind."""

from __future__ import annotations

import importlib.util
import math
import os
import typing
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import TINY_OVERRIDES

from concept_explorer.cli import main
from concept_explorer.cli.overrides import override_fields
from concept_explorer.core import limits

ROOT = Path(__file__).resolve().parents[1]
TINY = [arg for key, value in TINY_OVERRIDES.items()
        for arg in (f"--{key}", ",".join(map(str, value)) if isinstance(value, tuple) else str(value))]
"""The tiny run's options: a case that wrongly passes validation trains for a second instead of an hour."""


def outside(value_range: limits.Range, value: float) -> bool:
    return value not in value_range


def malformed_values(key: str, hint: typing.Any) -> Iterator[tuple[str, str]]:
    """(what, text) for values of this field that must be refused: generated from its type and its range."""
    listed = typing.get_origin(hint) is tuple
    item = typing.get_args(hint)[0] if listed else hint
    if item is bool:
        yield "not a boolean", "maybe"
        return
    if item is str:
        yield "an unknown name", "nonsense"
        if listed:
            yield "empty", ""
        return
    value_range = limits.CONFIG_FIELDS[key]
    yield "nan", "nan"
    yield "inf", "inf"
    yield "-inf", "-inf"
    yield "text", "abc"
    candidates = {"negative": -1, "zero": 0, "below its range": value_range.low - 1,
                  "huge": value_range.high * 10 + 1, "enormous": 10**30}
    for what, value in candidates.items():
        if outside(value_range, value):
            yield what, str(int(value)) if item is int and math.isfinite(value) else repr(float(value))
    if item is int:
        yield "a fraction", "1.5"
    if listed:
        yield "a list with a bad entry", f"{int(value_range.low)},abc"


FIELD_CASES = [
    pytest.param(["train", "--out", "{out}", *TINY, f"--{key}={text}"], id=f"{key} {what}")
    for key, (hint, _, _) in override_fields().items() for what, text in malformed_values(key, hint)
]
CONSISTENCY_CASES = [
    pytest.param(["train", "--out", "{out}", *TINY, *extra], id=name) for name, extra in {
        "six U-Net levels at 8 px": ["--model.channels", "16,32,64,128,256,512"],
        "10 px for three levels": ["--model.channels", "8,16,32", "--concept_space.resolution", "10"],
        "norm_groups -8": ["--model.norm_groups=-8"],
        "channels not divisible by norm_groups": ["--model.channels", "8,12"],
        "no channels": ["--model.channels", ""],
        "a 128 px batch of 4096 (hundreds of GiB)": ["--concept_space.resolution", "128", "--train.batch_size", "4096"],
        "gamma_min above gamma_max": ["--vdm.gamma_min", "5", "--vdm.gamma_max", "1"],
        "sizes below zero": ["--concept_space.size_center", "0.1"],
        "concepts out of order": ["--concept_space.concepts", "size,color"],
        "a checkpoint after the last step": ["--train.checkpoint_steps", "2,99"],
        "per-block conditioning on diffusers": ["--model.backbone", "diffusers", "--model.conditioning", "per_block"],
    }.items()
]


def bad_paths(tmp: str) -> dict[str, str]:
    return {"empty": "", "under /proc": "/proc/nope/x", "a file": f"{tmp}/a-file", "under a file": f"{tmp}/a-file/x"}


def option_cases() -> Iterator[pytest.param]:
    run = "{tmp}/no-run"
    threads = {"zero": "0", "negative": "-1", "huge": "5000", "text": "x"}
    seeds = {"negative": "-1", "2^63": str(2**63), "2^64": str(2**64), "text": "x", "a fraction": "1.5"}
    samples = {"zero": "0", "huge": "100000", "negative": "-3"}
    commands = {"train": ["train", "--out", "{out}", *TINY], "evaluate": ["evaluate", run], "elicit": ["elicit", run],
                "probe": ["probe", "--out", "{tmp}/p.safetensors"], "sweep": ["sweep", "--out", "{out}", "--grid",
                                                                        "train.lr=0.001"]}
    for command, base in commands.items():
        for what, text in threads.items():
            yield pytest.param([*base, f"--threads={text}"], id=f"{command} --threads {what}")
    for command in ("evaluate", "elicit"):
        for what, text in seeds.items():
            yield pytest.param([*commands[command], f"--seed={text}"], id=f"{command} --seed {what}")
        for what, text in samples.items():
            yield pytest.param([*commands[command], f"--samples={text}"], id=f"{command} --samples {what}")
        yield pytest.param([*commands[command], "--device", "tpu"], id=f"{command} --device tpu")
        yield pytest.param([*commands[command], "--precision", "fp8"], id=f"{command} --precision fp8")
    for what, text in bad_paths("{tmp}").items():
        yield pytest.param(["train", "--out", text, *TINY], id=f"train --out {what}")
        if what != "a file":  # a probe file may be written over
            yield pytest.param(["probe", "--out", text, "--steps", "1"], id=f"probe --out {what}")
        yield pytest.param(["report", run, "--out", text], id=f"report --out {what}")
        yield pytest.param(["sweep", "--out", text, "--grid", "train.lr=0.001", *TINY], id=f"sweep --out {what}")
    yield pytest.param(["probe", "--out", "{tmp}", "--steps", "1"], id="probe --out an existing folder")
    for what, text in {"zero": "0", "negative": "-5", "huge": str(10**9), "text": "x"}.items():
        yield pytest.param(["probe", "--out", "{tmp}/p.safetensors", f"--steps={text}"], id=f"probe --steps {what}")
    for what, text in {"negative": "-1", "zero": "0", "past 65535": "99999", "text": "x"}.items():
        yield pytest.param(["serve", f"--port={text}"], id=f"serve --port {what}")
    yield pytest.param(["serve", "{tmp}/no-run"], id="serve a missing run folder")
    elicit = commands["elicit"]
    lists = {"--concepts": ["", "nope", "color,nope"], "--overprompt": ["nan", "1,inf", "x"],
             "--intervention": ["inf", "x"], "--directions": ["nope", "pairs,x"], "--guidance": ["11", "-1", "x"]}
    for option, values in lists.items():
        for text in values:
            yield pytest.param([*elicit, f"{option}={text}"], id=f"elicit {option} {text!r}")
    for what, text in {"one seed too big": str(2**64), "text": "a", "negative": "-1", "none": ","}.items():
        yield pytest.param([*commands["sweep"], *TINY, f"--seeds={text}"], id=f"sweep --seeds {what}")
    for what, text in {"no field": "=1", "unknown field": "train.nope=1", "a bad value": "train.lr=nan"}.items():
        yield pytest.param(["sweep", "--out", "{out}", *TINY, "--grid", text], id=f"sweep --grid {what}")
    yield pytest.param(["sweep", "--out", "{out}", "--grid", "train.lr=0.001", "--workers=0"], id="sweep --workers 0")
    for command in ("evaluate", "elicit", "report"):
        yield pytest.param([command, run], id=f"{command} a missing run folder")
    yield pytest.param(["train", "--out", "{out}", "--resume"], id="train --resume a missing run folder")
    yield pytest.param(["nope"], id="an unknown command")


def test_the_generator_covers_every_config_field_and_over_a_hundred_cases() -> None:
    covered = {param.id.split(" ")[0] for param in FIELD_CASES}
    assert covered == set(override_fields())
    assert len(FIELD_CASES) + len(CONSISTENCY_CASES) + len(list(option_cases())) >= 100


def everything_under(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@pytest.mark.parametrize("argv", FIELD_CASES + CONSISTENCY_CASES + list(option_cases()))
def test_a_malformed_command_line_is_one_sentence_and_creates_nothing(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture, request: pytest.FixtureRequest
) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    before = everything_under(tmp_path)
    argv_given = argv
    argv = [arg.format(out=tmp_path / "out", tmp=tmp_path) for arg in argv]
    assert main(argv) == 2
    stderr = capsys.readouterr().err
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("concept-explorer: error: "), stderr
    if "{tmp}/no-run" in argv_given and "a missing run folder" not in request.node.callspec.id:
        assert "No run folder" not in stderr  # refused for the option itself, not for the run it names
    assert everything_under(tmp_path) == before  # no run folder, probe, report or sweep was started
    assert not Path("/proc/nope").exists()


@pytest.fixture(scope="module")
def app_main() -> typing.Callable[[list[str]], int]:
    spec = importlib.util.spec_from_file_location("app_under_test", ROOT / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


@pytest.mark.parametrize("argv", [["--port", "70000"], ["--port=-1"], ["--port", "0"], ["--threads=-1"],
                                  ["--threads", "0"], ["--threads", "100000"], ["{tmp}/no-run"]],
                         ids=lambda argv: " ".join(argv))
def test_the_app_refuses_bad_options_in_one_line(
    argv: list[str], app_main: typing.Callable[[list[str]], int], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert app_main([arg.format(tmp=tmp_path) for arg in argv]) == 2
    stderr = capsys.readouterr().err
    assert "Traceback" not in stderr and len(stderr.strip().splitlines()) == 1 and "error: " in stderr, stderr
    assert os.listdir(tmp_path) == []
