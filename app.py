"""Concept Explorer web app: `python app.py [RUN_DIR ...] [--port 7860] [--share off|on] [--host 127.0.0.1]`.

Shows every run folder under checkpoints/ (the bundled runs) and runs/ (trained from the app), plus the run
folders given on the command line; the first of those is shown first. This is also the Hugging Face Space entry.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

ROOT = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Explore how a diffusion model learns concepts (Park et al. 2024).")
    parser.add_argument("runs", nargs="*", help="extra run folders to offer (the first is shown first)")
    parser.add_argument("--port", type=int, default=os.environ.get("GRADIO_SERVER_PORT", "7860"))
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
                        help="0.0.0.0 to serve the local network (a Space sets GRADIO_SERVER_NAME)")
    parser.add_argument("--share", choices=("off", "on"), default="off", help="a public gradio.live link (online)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for live sampling (default 1)")
    parser.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto",
                        help="live sampling arithmetic: bf16 where the CPU has native bf16 units (auto), or fp32/bf16")
    parser.add_argument("--space", action="store_true", default=None,
                        help="serve as a public Space (capped training, cleanup, per-client limits); on by itself "
                             "where SPACE_ID is set")
    args = parser.parse_args(argv)

    from concept_explorer.core import limits
    from concept_explorer.core.run import RunFolderError

    try:
        limits.PORT.check("--port", args.port)
        limits.THREADS.check("--threads", args.threads)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for path in args.runs:
        if not Path(path).is_dir():
            print(f"error: {path} is not a folder; pass a run folder made by `concept-explorer train`.",
                  file=sys.stderr)
            return 2
    from concept_explorer.ui import serve  # after the checks: gradio takes seconds to import
    try:
        serve(args.runs, port=args.port, share=args.share == "on", host=args.host,
              checkpoints=ROOT / "checkpoints", runs=ROOT / "runs", threads=args.threads, precision=args.precision,
              space=args.space)
    except RunFolderError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
