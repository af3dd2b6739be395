"""The `concept-explorer` command line.

Each subcommand is one `add_<name>(subparsers)` function that registers its parser and sets `handler`, a function
of the parsed arguments that returns the exit code; `SUBCOMMANDS` lists them (train.py, measure.py, show.py, sweep.py).
Errors a user can cause surface as `UsageError`, `RunFolderError` or `CelebaError` (a missing or malformed local
CelebA copy, which any pass may read), and `main` prints them as one sentence on
stderr with exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from ..core.celeba import CelebaError
from ..core.run import RunFolderError
from .common import EXIT_INTERRUPTED, EXIT_USAGE, PROG, Parser, UsageError
from .measure import add_elicit, add_evaluate, add_probe
from .show import add_report, add_serve
from .sweep import add_sweep
from .train import add_train

SUBCOMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    add_train, add_probe, add_evaluate, add_elicit, add_report, add_serve, add_sweep,
]


def build_parser() -> Parser:
    parser = Parser(
        prog=PROG, allow_abbrev=False,
        description="Train conditional diffusion models on synthetic concepts and explore how they learn them.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)
    for add_subcommand in SUBCOMMANDS:
        add_subcommand(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return args.handler(args)
    except (UsageError, RunFolderError, CelebaError) as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted.", file=sys.stderr)
        return EXIT_INTERRUPTED
