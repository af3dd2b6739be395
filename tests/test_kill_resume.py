"""Crash safety from the first second: a tiny run trained in a subprocess is killed (SIGKILL, no chance to clean
up) at seeded random moments — while it renders its data or takes its first step, inside the very first write,
inside the first checkpoint's writes before any resume file exists, inside the first resume write, inside a later
write, and at a random offset — then `train --resume` (or, when not even run.json was written, the same `train`
again) must finish, leave no temporary file, and end with checkpoints bit-equal to an uninterrupted run's.

Every atomic write of the subprocess pauses between writing its temporary file and renaming it
(`atomic.WRITE_PAUSE`), so "inside a write" is a window the test can aim at: the k-th temporary file to appear."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch
from conftest import TINY_OVERRIDES
from safetensors.torch import load_file

from concept_explorer.cli import main
from concept_explorer.core.atomic import WRITE_PAUSE, temporaries
from concept_explorer.core.config import cpu_preset, with_overrides
from concept_explorer.core.run import Run, RunLayout
from concept_explorer.core.training import train

TINY = [arg for key, value in TINY_OVERRIDES.items()
        for arg in (f"--{key}", ",".join(map(str, value)) if isinstance(value, tuple) else str(value))]
PAUSE = 0.15
"""Seconds each write of the killed process holds its temporary file."""
WRITES = 15
"""Atomic writes of the tiny run: run.json twice, 4 per checkpoint (weights, metrics, run.json, resume) × 3, run.json
at the end."""


@dataclass
class Victim:
    """One training process and the moment it is to be killed."""

    name: str
    trigger: Callable[[Victim], bool]
    out: Path = Path()
    process: subprocess.Popen | None = None
    seen: set[str] = field(default_factory=set)  # temporary files seen so far: each write makes a new one
    at_kill: list[str] = field(default_factory=list)  # the temporary files and run files there when it was killed

    def look(self) -> None:
        if self.out.is_dir():
            self.seen |= {p.name for p in temporaries(self.out)}


def nth_write(n: int) -> Callable[[Victim], bool]:
    """Kill while the n-th write (1-based) holds its temporary file."""
    return lambda victim: len(victim.seen) >= n and any(p.name for p in temporaries(victim.out))


def after_run_json(delay: float) -> Callable[[Victim], bool]:
    """Kill `delay` seconds after run.json first exists (rendering data, building the model, the first steps)."""
    def trigger(victim: Victim) -> bool:
        if not hasattr(victim, "since") and RunLayout(victim.out).is_run():
            victim.since = time.perf_counter()  # type: ignore[attr-defined]
        return hasattr(victim, "since") and time.perf_counter() - victim.since >= delay  # type: ignore[attr-defined]
    return trigger


def scenarios(seed: int = 13) -> list[Victim]:
    rng = random.Random(seed)
    return [
        Victim("rendering data or in the first step", after_run_json(rng.uniform(0.0, PAUSE))),
        Victim("inside the very first write", nth_write(1)),
        Victim("inside the first checkpoint's writes, before a resume file", nth_write(rng.randint(3, 5))),
        Victim("inside the first resume write", nth_write(6)),
        Victim("inside a later write", nth_write(rng.randint(7, WRITES))),
        Victim("at a random moment", after_run_json(rng.uniform(0.0, (WRITES - 1) * PAUSE))),
    ]


def weights(out: Path) -> dict[int, dict[str, torch.Tensor]]:
    run = Run.open(out)
    return {step: load_file(run.layout.checkpoint(step)) for step in run.steps}


def test_a_run_killed_at_any_moment_resumes_to_the_same_weights(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    reference = weights(train(with_overrides(cpu_preset(), TINY_OVERRIDES), tmp_path / "reference", device="cpu",
                              progress=False).path)
    victims = scenarios()
    env = os.environ | {WRITE_PAUSE: str(PAUSE), "OMP_NUM_THREADS": "1"}
    for index, victim in enumerate(victims):
        victim.out = tmp_path / f"killed-{index}"
        victim.process = subprocess.Popen(
            [sys.executable, "-m", "concept_explorer", "train", "--out", str(victim.out), *TINY, "--threads", "1",
             "--precision", "fp32"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.perf_counter() + 120
    alive = list(victims)
    while alive and time.perf_counter() < deadline:
        for victim in list(alive):
            victim.look()
            if victim.trigger(victim):
                victim.process.send_signal(signal.SIGKILL)
                victim.process.wait()
                layout = RunLayout(victim.out)
                victim.at_kill = [p.name for p in temporaries(victim.out)] + [
                    p.name for p in (layout.info, layout.resume) if p.is_file()]
                alive.remove(victim)
            elif victim.process.poll() is not None:
                pytest.fail(f"{victim.name}: the process ended (code {victim.process.returncode}) before its kill")
        time.sleep(0.003)
    assert not alive, [v.name for v in alive]
    # The kills hit the windows aimed at.
    first, checkpoint, resume_write = (victims[1].at_kill, victims[2].at_kill, victims[3].at_kill)
    assert len(first) == 1 and first[0].startswith(".run.json."), first
    assert any(n.endswith(".tmp") for n in checkpoint) and "resume.safetensors" not in checkpoint, checkpoint
    assert any(n.startswith(".resume.safetensors.") for n in resume_write), resume_write
    assert "resume.safetensors" not in resume_write, resume_write
    assert any(n.endswith(".tmp") for n in victims[4].at_kill), victims[4].at_kill

    for victim in victims:
        if RunLayout(victim.out).is_run():
            code = main(["train", "--out", str(victim.out), "--resume", "--threads", "1"])
        else:  # killed before run.json existed: the same command again starts it cleanly
            code = main(["train", "--out", str(victim.out), *TINY, "--threads", "1", "--precision", "fp32"])
        assert code == 0, (victim.name, capsys.readouterr().err)
        assert temporaries(victim.out) == [], victim.name
        assert Run.open(victim.out).status == "complete"
        resumed = weights(victim.out)
        assert resumed.keys() == reference.keys(), victim.name
        for step, state in reference.items():
            for key, value in state.items():
                assert torch.equal(resumed[step][key], value), (victim.name, step, key)


def test_a_resume_file_that_does_not_fit_the_run_is_one_sentence_and_deleting_it_restarts(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from safetensors.torch import save_file

    config = with_overrides(cpu_preset(), TINY_OVERRIDES)
    calls = iter(range(100))
    run = train(config, tmp_path / "run", device="cpu", progress=False, should_stop=lambda: next(calls) == 3)
    assert run.status == "interrupted"
    forgeries = [({"model.nope": torch.zeros(2)}, {"step": "3"}), (load_file(run.layout.resume), {"step": "99"})]
    for forged, metadata in forgeries:
        save_file(forged, run.layout.resume, metadata=metadata)
        assert main(["train", "--out", str(run.path), "--resume", "--threads", "1"]) == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err and err.count("\n") == 1 and "delete it to train the run again" in err, err
    run.layout.resume.unlink()
    assert main(["train", "--out", str(run.path), "--resume", "--threads", "1"]) == 0
    assert Run.open(run.path).status == "complete"
