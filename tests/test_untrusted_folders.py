"""Run folders are untrusted input: a generator of corruptions of a tiny trained, evaluated and elicited run, each
checked against every command that reads the damaged file and against the app's catalog.

For every corruption: `evaluate`, `elicit` and `report` (those that read what was damaged) exit 2 with one
`concept-explorer: error:` line and no traceback; nothing outside the folder is written (a sibling folder that a
forged step entry points at stays untouched); and a RunCatalog over the bad folder and a good one lists the good run
and records one sentence, without a server path, for the bad one.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import shutil
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import TINY_OVERRIDES
from safetensors.torch import load_file, save_file

from concept_explorer.analysis.capability import ElicitConfig, elicit_run
from concept_explorer.analysis.evaluate import EvalConfig, evaluate_run
from concept_explorer.analysis.probes import probe_config_for, train_probe
from concept_explorer.cli import main
from concept_explorer.core import limits
from concept_explorer.core.config import cpu_preset, with_overrides
from concept_explorer.core.run import RunLayout
from concept_explorer.core.training import train
from concept_explorer.views.catalog import RunCatalog

EVAL = EvalConfig(samples_per_class=4, seed=3)
ELICIT = ElicitConfig(samples=3, overprompt_strengths=(1.0,), intervention_strengths=(1.0,),
                      intervention_directions=("pairs",), guidance_weights=())
COMMANDS = {
    # The settings the folder was made with, so a pass reads its stored summary instead of starting over.
    "evaluate": ["evaluate", "--samples", "4", "--seed", "3", "--precision", "fp32", "--threads", "1"],
    "elicit": ["elicit", "--samples", "3", "--seed", "0", "--precision", "fp32", "--concepts", "color",
               "--overprompt", "1", "--intervention", "1", "--directions", "pairs", "--guidance", "", "--threads", "1"],
    "report": ["report"],
    "resume": ["train", "--resume", "--threads", "1", "--out"],  # the one command that reads metrics.jsonl
}
ALL = ("evaluate", "elicit", "report")
STEP = 4  # the checkpoint whose files are damaged (the run has 2, 4 and 6)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny run (4 sampling steps), a barely trained probe, its evaluation and elicitation: made in seconds."""
    config = with_overrides(cpu_preset(), TINY_OVERRIDES | {"train.sample_steps": 4})
    run = train(config, tmp_path_factory.mktemp("pristine") / "run", device="cpu", progress=False)
    probe = train_probe(dataclasses.replace(probe_config_for(config.concept_space), steps=3, batch_size=16, width=8),
                        progress=False)
    probe.save(run.layout.probe)
    evaluate_run(run, EVAL, progress=False)
    elicit_run(run, ELICIT, progress=False)
    return run.path


# -- the corruptions ---------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Corruption:
    name: str
    apply: Callable[[Path, Path], None]  # (the run folder, a folder outside it) → damage done
    readers: tuple[str, ...] = ALL  # the commands that read what was damaged
    no_patch: bool = False  # also run `elicit --no-patch` (the command a forged step entry once misled)
    mentions: str = ""  # what the refusal must name (where several checks could refuse first)
    viewable: bool = False  # the app never reads what was damaged, so it still shows the run


def edit_json(path: Path, change: Callable[[Any], Any]) -> None:
    data = json.loads(path.read_text())
    changed = change(data)
    path.write_text(json.dumps(data if changed is None else changed))


def set_key(keys: list[Any], value: Any) -> Callable[[Any], None]:
    def change(data: Any) -> None:
        for key in keys[:-1]:
            data = data[key]
        data[keys[-1]] = value
    return change


def both(*changes: Callable[[Any], None]) -> Callable[[Any], None]:
    def change(data: Any) -> None:
        for each in changes:
            each(data)
    return change


def drop_key(keys: list[Any]) -> Callable[[Any], None]:
    def change(data: Any) -> None:
        for key in keys[:-1]:
            data = data[key]
        del data[keys[-1]]
    return change


def info_corruptions() -> list[Corruption]:
    found = [Corruption(f"run.json without {key}", lambda run, _, k=key: edit_json(RunLayout(run).info, drop_key([k])))
             for key in ("config", "completed_steps", "status", "format")]
    bad_values = {
        "completed_steps": [5, None, "2,4,6", {"2": 1}, [2, "4", 6], [2, 4.0, 6], [2, True, 6], [4, 2, 6],
                            [2, 2, 4, 6], [2, 4, 6, 8], [2, 3], [-2, 4]],
        "status": [7, None, "bogus", ["complete"]], "format": [2, "1"], "config": [[], "cpu"],
        "checkpoint_steps": ["x"], "seed": ["0"],
    }
    found += [Corruption(f"run.json {key}={value!r}", lambda run, _, k=key, v=value: edit_json(
        RunLayout(run).info, set_key([k], v))) for key, values in bad_values.items() for value in values]
    found.append(Corruption("run.json lists an absolute path as a step", lambda run, outside: edit_json(
        RunLayout(run).info, set_key(["completed_steps"], [2, 4, 6, str(outside / "victim")])), no_patch=True))
    found.append(Corruption("run.json is not JSON", lambda run, _: RunLayout(run).info.write_text('{"format": 1,')))
    found.append(Corruption("run.json is a JSON list", lambda run, _: RunLayout(run).info.write_text("[1, 2]")))
    return found


def config_corruptions() -> list[Corruption]:
    """Every numeric config field out of its range and of the wrong type, plus what a trial found crashing torch."""
    found = []
    for key, value_range in limits.CONFIG_FIELDS.items():
        section, name = key.split(".")
        listed = key in limits.CONFIG_LENGTHS
        for label, value in (("out of range", value_range.high * 10 + 1), ("of the wrong type", "x")):
            value = [value] if listed else value
            found.append(Corruption(f"config {key} {label}", lambda run, _, s=section, n=name, v=value: edit_json(
                RunLayout(run).info, set_key(["config", s, n], v))))
    specific = {
        ("model", "norm_groups"): [0, -8], ("model", "embedding_hidden"): [0, -1],
        ("model", "channels"): [[16, 32, 64, 128, 256, 512], [8, "16"], 8],
        ("concept_space", "resolution"): [4096, 10, 8.5], ("train", "lr"): [float("nan"), float("inf")],
        ("concept_space", "size_center"): [float("nan")], ("vdm", "gamma_max"): [float("inf")],
        ("train", "seed"): [2**64, -1], ("train", "nonsense"): [1],
        ("train", "weights_dtype"): ["int8"],
    }
    found += [Corruption(f"config {s}.{n}={v!r}", lambda run, _, s=s, n=n, v=v: edit_json(
        RunLayout(run).info, set_key(["config", s, n], v))) for (s, n), values in specific.items() for v in values]
    found.append(Corruption("config train is a list", lambda run, _: edit_json(
        RunLayout(run).info, set_key(["config", "train"], [1]))))
    found.append(Corruption("config without model", lambda run, _: edit_json(
        RunLayout(run).info, drop_key(["config", "model"]))))
    found.append(Corruption("config that would need hundreds of GiB to train", lambda run, _: edit_json(
        RunLayout(run).info, both(set_key(["config", "train", "batch_size"], 4096),
                                  set_key(["config", "concept_space", "resolution"], 128)))))
    return found


def header_of(data: bytes) -> tuple[dict[str, Any], bytes]:
    (length,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8:8 + length]), data[8 + length:]


def with_header(header: Any, body: bytes) -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + body


def without_offsets(data: bytes) -> bytes:
    header, body = header_of(data)
    key = next(k for k in header if k != "__metadata__")
    del header[key]["data_offsets"]
    return with_header(header, body)


def overlapping(data: bytes) -> bytes:
    header, body = header_of(data)
    keys = [k for k in header if k != "__metadata__"]
    header[keys[1]]["data_offsets"] = header[keys[0]]["data_offsets"]
    return with_header(header, body)


BYTE_DAMAGE: dict[str, Callable[[bytes], bytes]] = {
    "cut in half": lambda data: data[: len(data) // 2],
    "cut to 4 bytes": lambda data: data[:4],
    "empty": lambda data: b"",
    "random bytes": lambda data: random.Random(len(data)).randbytes(len(data)),
    "a header that is a JSON list": lambda data: with_header([1, 2, 3], header_of(data)[1]),
    "a header without data_offsets": without_offsets,
    "a header length of 2^63": lambda data: struct.pack("<Q", 2**63) + data[8:],
    "a header that is not JSON": lambda data: struct.pack("<Q", 6) + b"{nope!" + data[14:],
    "overlapping tensors": overlapping,
    "bytes appended": lambda data: data + b"\0" * 16,
}
STORED_FILES: dict[str, tuple[Callable[[RunLayout], Path], tuple[str, ...]]] = {
    "checkpoint": (lambda layout: layout.checkpoint(STEP), ALL),
    "evaluation samples": (lambda layout: layout.evaluation_samples(STEP), ALL),
    "elicitation samples": (lambda layout: layout.elicitation_samples(STEP), ALL),
    "probe": (lambda layout: layout.probe, ALL),
}
"""Damaged bytes of any stored safetensors file make the folder unusable for every command (Run.open checks them)."""


def byte_corruptions() -> list[Corruption]:
    def damage(run: Path, where: Callable[[RunLayout], Path], how: Callable[[bytes], bytes]) -> None:
        path = where(RunLayout(run))
        path.write_bytes(how(path.read_bytes()))
    return [Corruption(f"{kind} with {label}", lambda run, _, w=where, h=how: damage(run, w, h), readers)
            for kind, (where, readers) in STORED_FILES.items() for label, how in BYTE_DAMAGE.items()]


def tensor_corruptions() -> list[Corruption]:
    def rewrite(run: Path, path_of: Callable[[RunLayout], Path], change: Callable[[dict], None]) -> None:
        path = path_of(RunLayout(run))
        tensors = load_file(path)
        change(tensors)
        save_file(tensors, path)

    def first(tensors: dict) -> str:
        return sorted(tensors)[0]

    def garbage_data(run: Path, _: Path) -> None:
        path = RunLayout(run).checkpoint(STEP)
        data = path.read_bytes()
        (length,) = struct.unpack("<Q", data[:8])
        path.write_bytes(data[:8 + length] + random.Random(0).randbytes(len(data) - 8 - length))

    checkpoint = lambda layout: layout.checkpoint(STEP)  # noqa: E731
    changes: dict[str, Callable[[dict], None]] = {
        "a tensor of another shape": lambda t: t.update({first(t): torch.zeros(3)}),
        "float16 weights": lambda t: t.update({k: v.half() for k, v in t.items()}),
        "a tensor missing": lambda t: t.pop(first(t)),
        "an extra tensor": lambda t: t.update({"extra": torch.zeros(2)}),
        "NaN weights": lambda t: t.update({k: torch.full_like(v, float("nan")) for k, v in t.items()}),
        "an inf weight": lambda t: t[first(t)].view(-1).__setitem__(0, float("inf")),
        "a weight of 1e9": lambda t: t[first(t)].view(-1).__setitem__(0, 1e9),
    }
    found = [Corruption(f"checkpoint with {label}", lambda run, _, c=change: rewrite(run, checkpoint, c))
             for label, change in changes.items()]
    found.append(Corruption("checkpoint with garbage tensor bytes", garbage_data))
    evaluation = lambda layout: layout.evaluation_samples(STEP)  # noqa: E731
    elicitation = lambda layout: layout.elicitation_samples(STEP)  # noqa: E731
    samples: list[tuple[str, Callable, Callable[[dict], None], tuple[str, ...]]] = [
        ("evaluation samples of another resolution", evaluation,
         lambda t: t.update(images=torch.zeros(16, 3, 4, 4, dtype=torch.uint8)), ("evaluate", "report")),
        ("evaluation samples without labels", evaluation, lambda t: t.pop("labels"), ("evaluate", "report")),
        ("evaluation samples with labels past the classes", evaluation, lambda t: t["labels"].fill_(9),
         ("evaluate", "report")),
        ("elicitation samples without plain prompting", elicitation,
         lambda t: [t.pop(k) for k in list(t) if k.startswith("plain/")], ("elicit", "report")),
        ("elicitation samples of another count", elicitation,
         lambda t: t.update({k: v[:1] for k, v in t.items()}), ("elicit", "report")),
    ]
    found += [Corruption(label, lambda run, _, w=where, c=change: rewrite(run, w, c), readers)
              for label, where, change, readers in samples]
    return found


def link_corruptions() -> list[Corruption]:
    def link(run: Path, outside: Path, path_of: Callable[[RunLayout], Path]) -> None:
        path = path_of(RunLayout(run))
        copy = outside / f"copy-of-{path.name}"
        shutil.copy(path, copy)  # the same, valid content: only where it lives is wrong
        path.unlink()
        path.symlink_to(copy)

    def steps_folder(run: Path, outside: Path) -> None:
        folder = RunLayout(run).checkpoint(STEP).parent
        shutil.copytree(folder, outside / "steps-copy")
        shutil.rmtree(folder)
        folder.symlink_to(outside / "steps-copy", target_is_directory=True)

    found = [Corruption(f"{label} is a link to outside", lambda run, outside, p=path_of: link(run, outside, p))
             for label, path_of in {"checkpoint": lambda layout: layout.checkpoint(STEP),
                                    "run.json": lambda layout: layout.info,
                                    "evaluation summary": lambda layout: layout.evaluation_summary,
                                    "probe": lambda layout: layout.probe}.items()]
    found.append(Corruption("steps folder is a link to outside", steps_folder))
    def to_dev_zero(run: Path, _: Path) -> None:
        RunLayout(run).evaluation_samples(STEP).unlink()
        RunLayout(run).evaluation_samples(STEP).symlink_to("/dev/zero")
    found.append(Corruption("evaluation samples link to /dev/zero", to_dev_zero))

    def special(run: Path, make: Callable[[Path], None]) -> None:
        path = RunLayout(run).checkpoint(STEP)
        path.unlink()
        make(path)
    found.append(Corruption("checkpoint is a folder", lambda run, _: special(run, Path.mkdir)))
    found.append(Corruption("checkpoint is a FIFO", lambda run, _: special(run, os.mkfifo)))
    found.append(Corruption("checkpoint is missing", lambda run, _: RunLayout(run).checkpoint(STEP).unlink()))
    return found


def summary_corruptions() -> list[Corruption]:
    def entry(path: list[Any]) -> Callable[[Any], None]:
        return lambda data: set_key(path, "x")(data)

    evaluation: dict[str, Callable[[Any], Any]] = {
        "per_step a list": set_key(["per_step"], []),
        "a row that is a string": set_key(["per_step", str(STEP)], "row"),
        "a class entry without criteria": drop_key(["per_step", str(STEP), "11", "criteria"]),
        "a joint accuracy that is text": entry(["per_step", str(STEP), "11", "criteria", "strict", "joint_accuracy"]),
        "a concept accuracy list too short": set_key(
            ["per_step", str(STEP), "00", "criteria", "lenient", "concept_accuracy"], [0.5]),
        "a presence of 2": set_key(["per_step", str(STEP), "01", "presence"], 2.0),
        "a NaN coordinate": set_key(["per_step", str(STEP), "01", "coordinates"], [float("nan"), 0.0]),
        "steps as text": set_key(["steps"], ["2", "4", "6"]),
        "an absolute path among the steps": set_key(["steps"], [2, 4, 6, "/etc/passwd"]),
        "a step outside the schedule": lambda data: both(set_key(["steps"], [2, 3, 4, 6]),
                                                         set_key(["per_step", "3"], data["per_step"]["2"]))(data),
        "a row without a step": set_key(["per_step", "5"], {}),
        "a malformed probe calibration": set_key(["probe", "calibration"], {"color": {"mean_abs_error": "x"}}),
        "no probe section": drop_key(["probe"]),
    }
    elicitation: dict[str, Callable[[Any], Any]] = {
        "per_step a list": set_key(["per_step"], []),
        "no plain-prompting row": drop_key(["per_step", str(STEP), "plain"]),
        "a method without the held-out class": set_key(["per_step", str(STEP), "overprompt@1"], {}),
        "an absolute path among the steps": set_key(["steps"], [2, 4, 6, "/etc/passwd"]),
        "a class entry that is a list": set_key(["per_step", str(STEP), "plain", "11"], [1, 2]),
    }
    found = []
    for kind, changes, readers in (("evaluation", evaluation, ("evaluate", "report")),
                                   ("elicitation", elicitation, ("elicit", "report"))):
        def path_of(run: Path, kind: str = kind) -> Path:
            layout = RunLayout(run)
            return layout.evaluation_summary if kind == "evaluation" else layout.elicitation_summary
        found += [Corruption(f"{kind} summary with {label}", lambda run, _, c=change, p=path_of: edit_json(p(run), c),
                             readers) for label, change in changes.items()]
        found.append(Corruption(f"{kind} summary that is not JSON", lambda run, _, p=path_of: p(run).write_text(
            '{"format": 2, "per_step": {'), readers))
        found.append(Corruption(f"{kind} summary that is a JSON list", lambda run, _, p=path_of: p(run).write_text(
            "[]"), readers))
    return found


def metrics_corruptions() -> list[Corruption]:
    """metrics.jsonl of a run stopped at step 4 (what `train --resume` reads): issue 22 found a deep line giving a
    RecursionError traceback and a FIFO hanging the command."""
    def interrupted(run: Path, damage: Callable[[Path], None]) -> None:
        layout = RunLayout(run)
        edit_json(layout.info, both(set_key(["status"], "interrupted"), set_key(["completed_steps"], [2, STEP])))
        layout.checkpoint(6).unlink()
        layout.metrics.unlink()
        damage(layout.metrics)
    damages: dict[str, Callable[[Path], None]] = {
        "a 100,000-deep line": lambda f: f.write_text('{"step": 2, "x": ' + "[" * 100_000 + "]" * 100_000 + "}\n"),
        "a line that is not JSON": lambda f: f.write_text('{"step": 2}\nnot json\n'),
        "bytes that are not UTF-8": lambda f: f.write_bytes(b'{"step": 2}\n\xff\xfe\n'),
        "a row that is a list": lambda f: f.write_text("[1, 2]\n"),
        "a row without a step": lambda f: f.write_text('{"loss": 1.0}\n'),
        "a FIFO": lambda f: os.mkfifo(f),
        "a folder": lambda f: f.mkdir(),
    }
    return [Corruption(f"metrics.jsonl is {label}", lambda run, _, d=damage: interrupted(run, d), ("resume",),
                       mentions="metrics.jsonl", viewable=True) for label, damage in damages.items()]


CORRUPTIONS = (info_corruptions() + config_corruptions() + byte_corruptions() + tensor_corruptions()
               + link_corruptions() + summary_corruptions() + metrics_corruptions())


def test_the_generator_makes_every_kind_of_damage() -> None:
    names = [c.name for c in CORRUPTIONS]
    assert len(names) == len(set(names)) and len(names) >= 40


# -- the checks --------------------------------------------------------------------------------------------------
def snapshot(root: Path, skip: Path) -> dict[str, tuple[int, int]]:
    """Every file under `root` but inside `skip`, with its size and modification time."""
    found = {}
    for folder, folders, files in os.walk(root):
        if Path(folder) == skip:
            folders.clear()
            continue
        for name in files:
            stat = (Path(folder) / name).lstat()
            found[str(Path(folder) / name)] = (stat.st_size, stat.st_mtime_ns)
    return found


def one_error_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("concept-explorer: error: ")]
    assert len(errors) == 1, stderr
    return errors[0]


@pytest.mark.parametrize("corruption", CORRUPTIONS, ids=lambda c: c.name)
def test_a_damaged_folder_is_refused_in_one_sentence_and_spares_the_rest(
    corruption: Corruption, pristine: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    root, outside = tmp_path / "runs", tmp_path / "outside"
    outside.mkdir()
    (outside / "victim.safetensors").write_bytes(b"another run's weights")
    shutil.copytree(pristine, root / "good")
    bad = root / "bad"
    shutil.copytree(pristine, bad)
    corruption.apply(bad, outside)
    before = snapshot(tmp_path, skip=bad)

    runs = [[*COMMANDS[command], str(bad)] for command in corruption.readers]
    if corruption.no_patch:
        runs.append([*COMMANDS["elicit"], "--no-patch", str(bad)])
    for argv in runs:
        assert main(argv) == 2, argv[0]
        assert corruption.mentions in one_error_line(capsys.readouterr().err)
    assert snapshot(tmp_path, skip=bad) == before  # nothing outside the bad folder was written

    catalog = RunCatalog(roots=[root])
    if corruption.viewable:
        assert catalog.names == ["bad", "good"]
        return
    assert catalog.names == ["good"]
    problem = catalog.problems["bad"]
    assert "\n" not in problem and problem.endswith((".", ")")) and str(tmp_path) not in problem, problem


def test_the_next_pass_cleans_what_a_killed_pass_left(pristine: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(pristine, run)
    layout = RunLayout(run)
    leftovers = [layout.evaluation_samples(STEP).with_name(f".{STEP}.safetensors.k1ll3d.tmp"),
                 layout.elicitation_summary.with_name(".summary.json.k1ll3d.tmp")]
    for leftover in leftovers:
        leftover.write_bytes(b"half a file")
    assert main([*COMMANDS["evaluate"], str(run)]) == 0
    assert main([*COMMANDS["elicit"], str(run)]) == 0
    assert not any(leftover.exists() for leftover in leftovers)
