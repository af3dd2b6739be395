"""`concept-explorer train`: a run folder from a preset plus overrides, with a clean stop on Ctrl-C and
bit-exact `--resume`."""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch

from ..core.config import PRESETS, RunConfig, preset, with_overrides
from ..core.precision import resolve_precision
from ..core.run import Run
from ..core.training import resolve_device, train
from .common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    PROG,
    UsageError,
    add_precision_option,
    check_writable,
    path_option,
    set_threads,
)
from .overrides import add_config_overrides, config_overrides


class StopRequest:
    """A flag set by the first Ctrl-C; calling it asks "should training stop?" between steps."""

    def __init__(self) -> None:
        self.requested = False

    def __call__(self) -> bool:
        return self.requested

    def handle(self, signum: int, frame: object) -> None:
        self.requested = True
        signal.signal(signal.SIGINT, signal.default_int_handler)  # a second Ctrl-C aborts at once
        print("\nStopping after this step and saving the state (Ctrl-C again to abort)…", file=sys.stderr)


@contextmanager
def stop_on_sigint() -> Iterator[StopRequest]:
    """While inside, Ctrl-C requests a clean stop instead of raising KeyboardInterrupt."""
    request = StopRequest()
    previous = signal.signal(signal.SIGINT, request.handle)
    try:
        yield request
    finally:
        signal.signal(signal.SIGINT, previous)


def add_train(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train", allow_abbrev=False,
        usage=f"%(prog)s [--preset {{{','.join(sorted(PRESETS))}}}] --out RUN_FOLDER [--device DEVICE] [--resume]"
        " [--threads N] [--precision auto|fp32|bf16] [--SECTION.FIELD VALUE ...]",
        help="train a model, saving a trajectory of checkpoints into a run folder",
        description="Train a conditional VDM on the synthetic concept images (or on a local CelebA copy: --preset "
        "celeba), saving checkpoints into --out. "
        "Ctrl-C stops cleanly after the current step; --resume continues to the bit.",
    )
    parser.add_argument("--preset", choices=sorted(PRESETS),
                        help="starting configuration (default: cpu for a new run, the stored one with --resume)")
    parser.add_argument("--out", required=True, type=path_option, metavar="RUN_FOLDER",
                        help="run folder to create (or to continue with --resume), e.g. runs/demo")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda (default: auto)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the interrupted run in --out with its stored config")
    parser.add_argument("--threads", type=int, metavar="N",
                        help="CPU threads for torch (default: one per core; use 1 when other jobs share the cores)")
    add_precision_option(parser, default=None)
    parser.add_argument("--evaluate", action="store_true",
                        help="evaluate each checkpoint as it is saved (as `evaluate` would, 64 samples per class)")
    add_config_overrides(parser)
    parser.set_defaults(handler=run_train)


def train_config(args: argparse.Namespace, device: torch.device) -> RunConfig | None:
    """Preset plus overrides for a new run (precision `auto` unless given). With --resume: None (the stored
    config), or, when options are given, the stored config with them applied, which `train` then refuses if they
    change anything."""
    overrides = config_overrides(args)
    if args.precision is not None or not args.resume:
        overrides["train.precision"] = resolve_precision(args.precision or "auto", device)
    if args.resume:
        if not overrides and args.preset is None:
            return None
        base = Run.open(args.out).config
        if args.preset not in (None, base.preset):
            raise UsageError(f"{args.out} was trained from the {base.preset} preset; drop --preset to resume it.")
    else:
        base = preset(args.preset or "cpu")
    try:
        return with_overrides(base, overrides)
    except ValueError as error:
        raise UsageError(str(error)) from None


def _evaluate_checkpoint(device: torch.device) -> Callable[[Run, int], None]:
    from ..analysis.evaluate import EvalConfig, evaluate_run

    def evaluate(run: Run, step: int) -> None:
        config = EvalConfig(precision=run.config.train.precision)
        evaluate_run(run, config, device=device, progress=False, steps=[step])

    return evaluate


def run_train(args: argparse.Namespace) -> int:
    set_threads(args.threads)
    try:
        device = resolve_device(args.device)
    except ValueError as error:
        raise UsageError(str(error)) from None
    config = train_config(args, device)  # every value checked before anything is created
    if not args.resume:
        check_writable(args.out, "--out")
    resume_command = f"{PROG} train --out {shlex.quote(str(args.out))} --resume"
    try:
        with stop_on_sigint() as stop_request:
            run = train(config, args.out, device=args.device, resume=args.resume, should_stop=stop_request,
                        after_checkpoint=_evaluate_checkpoint(device) if args.evaluate else None)
    except KeyboardInterrupt:
        print(f"Aborted; `{resume_command}` continues from the last checkpoint.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except FloatingPointError as error:
        print(f"{PROG}: training failed: {error}", file=sys.stderr)
        return EXIT_FAILED
    if run.status != "complete":
        print(f"To continue: {resume_command}", file=sys.stderr)
        return EXIT_INTERRUPTED
    count = len(run.steps)
    print(f"Done: {run.path} holds {count} checkpoint{'s' if count != 1 else ''}, the last at step {run.final_step}.")
    return 0
