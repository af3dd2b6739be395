"""What every subcommand shares: exit codes, the one-sentence error type, the parser that raises it, and the
options for a run folder, device, threads and sampling."""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from typing import Any, NoReturn

import torch

from ..core import limits
from ..core.precision import PRECISIONS, resolve_precision
from ..core.run import RunLayout
from ..core.training import resolve_device

PROG = "concept-explorer"
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # the shell's code for "stopped by Ctrl-C", so `train && next` does not run `next`
RUN = RunLayout(Path("RUN"))
"""The run-folder layout with the placeholder name RUN, for help texts that say where a command writes."""


class UsageError(Exception):
    """A command line that cannot be carried out; the message says what was wrong and what to do."""


class Parser(argparse.ArgumentParser):
    """argparse with its errors raised as one-line `UsageError`s instead of a usage dump."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message[:1].upper()}{message[1:]} (see `{self.prog} --help`).")


def checked(value_range: limits.Range, option: str, value: Any) -> Any:
    """`value` if it lies in `value_range` (core/limits.py), else a UsageError naming the option."""
    try:
        return value_range.check(option, value)
    except ValueError as error:
        raise UsageError(str(error)) from None


def set_threads(threads: int | None) -> None:
    if threads is not None:
        torch.set_num_threads(checked(limits.THREADS, "--threads", threads))


def device_from(args: argparse.Namespace) -> torch.device:
    set_threads(getattr(args, "threads", None))
    try:
        return resolve_device(args.device)
    except ValueError as error:
        raise UsageError(str(error)) from None


def path_option(text: str) -> Path:
    """argparse type of a path to write: an empty one would mean the current folder."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path is not a place to write; name a folder or file")
    return Path(text)


def check_writable(path: Path, option: str, folder: bool = True) -> None:
    """Before anything is computed or created: `path` can become a folder (or, with folder False, a file) — it is
    not the other kind already, no part of the way to it is a file, and the nearest existing folder on the way takes
    a new entry (tried by making and removing one, which also catches /proc and read-only mounts)."""
    kind = "folder" if folder else "file"
    if path.exists() and path.is_dir() != folder:
        raise UsageError(f"{option} {path} is {'a file' if folder else 'a folder'}, not a {kind} to write; choose "
                         "another path.")
    nearest = path if folder and path.is_dir() else path.parent
    while not nearest.exists() and nearest != nearest.parent:
        nearest = nearest.parent
    if not nearest.is_dir():
        raise UsageError(f"{option} {path} lies under {nearest}, which is a file; choose another path.")
    try:
        os.rmdir(tempfile.mkdtemp(dir=nearest, prefix=".concept-explorer-check-"))
    except OSError as error:
        raise UsageError(f"{option} {path} cannot be written ({error.strerror or error}); choose another path.") \
            from None


def add_run_options(parser: argparse.ArgumentParser, run: bool = True) -> None:
    if run:
        parser.add_argument("run", type=Path, metavar="RUN_FOLDER", help="a run folder made by `train`")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda (default: auto)")
    parser.add_argument("--threads", type=int, metavar="N", help="CPU threads for torch (default: torch's choice)")


def add_precision_option(parser: argparse.ArgumentParser, default: str | None = "auto") -> None:
    shown = default or "the run's own"
    parser.add_argument("--precision", choices=PRECISIONS, default=default,
                        help=f"network arithmetic: bf16 autocast where the CPU or GPU has native bf16 units (auto), "
                        f"or fp32/bf16 everywhere (default: {shown})")


def precision_from(args: argparse.Namespace, device: torch.device) -> str:
    """The resolved precision ('fp32' or 'bf16') the options ask for on this device."""
    return resolve_precision(args.precision, device)


def add_pass_options(parser: argparse.ArgumentParser, per: str) -> None:
    """The options of a pass that samples every checkpoint of a run (`per` says what the sample count is per)."""
    add_run_options(parser)
    add_precision_option(parser)
    parser.add_argument("--samples", type=int, default=64, help=f"samples per {per} (default: 64)")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed (default: 0)")
