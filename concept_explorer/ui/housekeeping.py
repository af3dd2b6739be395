"""Deleting what the server made for visitors once it is old or too big: export files and trained runs.

`collect` is called when something new is written (an export, a training start), so a looping client's files
cannot pile up between two visits of a timer; it never deletes what `keep` names (the run training now).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path


def size_of(path: Path) -> int:
    """Bytes a file or folder holds (links are not followed)."""
    if path.is_symlink() or path.is_file():
        return path.lstat().st_size
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_symlink() or p.is_file())


def collect(folder: Path, max_age_s: float | None, budget_bytes: int | None, keep: Iterable[Path] = (),
            include: Callable[[Path], bool] = lambda path: True) -> list[Path]:
    """Delete the entries of `folder` (files or folders, those `include` accepts) older than `max_age_s`, then the
    oldest until the rest fits `budget_bytes`; returns what was deleted. None for either means no such limit."""
    if not folder.is_dir():
        return []
    kept = {Path(p).resolve() for p in keep}
    entries, total = [], 0
    for entry in folder.iterdir():
        if not include(entry):
            continue
        try:
            size = size_of(entry)
            total += size  # what is kept counts against the budget too
            if entry.resolve() not in kept:
                entries.append((entry.lstat().st_mtime, entry, size))
        except OSError:  # deleted meanwhile
            continue
    entries.sort()  # oldest first
    now, deleted = time.time(), []
    for mtime, entry, size in entries:
        too_old = max_age_s is not None and now - mtime > max_age_s
        too_big = budget_bytes is not None and total > budget_bytes
        if not (too_old or too_big):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        total -= size
        deleted.append(entry)
    return deleted


EXPORT_PREFIX = "concept-explorer-exports-"
"""Export folders are named EXPORT_PREFIX<pid>-<random> in the system's temp folder, so a server can tell its own
from those of processes that are gone (killed, or stopped before Python could clean up)."""


def export_folder() -> Path:
    """A fresh export folder for this process, after deleting those of processes no longer running."""
    for stale in Path(tempfile.gettempdir()).glob(f"{EXPORT_PREFIX}*"):
        pid = stale.name[len(EXPORT_PREFIX):].partition("-")[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _running(int(pid)) and stale.is_dir() \
                and not stale.is_symlink():
            shutil.rmtree(stale, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=f"{EXPORT_PREFIX}{os.getpid()}-"))


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: running
        return True
    return True
