"""Atomic writes: every file of a run folder is written to a temporary file beside it, synced, then renamed over
its target, so a process killed at any moment leaves either the old file or the new one, never half of one. What a
kill can leave is the temporary file itself (`.NAME.XXXXXXXX.tmp`); `temporaries` finds those for cleaning up."""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save

WRITE_PAUSE = "CONCEPT_EXPLORER_TEST_WRITE_PAUSE"
"""Test hook (tests/test_kill_resume.py): seconds every write waits between writing its temporary file and renaming
it, so a test can kill a process inside that window."""


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if WRITE_PAUSE in os.environ:
            time.sleep(float(os.environ[WRITE_PAUSE]))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_bytes(path, (json.dumps(data, indent=2) + "\n").encode())


def atomic_save_tensors(path: Path, tensors: dict[str, torch.Tensor], meta: dict[str, str] | None = None) -> None:
    atomic_write_bytes(path, save({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, metadata=meta))


def temporaries(root: Path) -> list[Path]:
    """The temporary files interrupted writes left anywhere under `root` (links are not followed nor returned)."""
    found = []
    for folder, _, files in os.walk(root):
        found += [Path(folder) / f for f in files if f.startswith(".") and f.endswith(".tmp")]
    return [p for p in found if not p.is_symlink() and p.is_file()]
