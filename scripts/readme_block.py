"""What the README's number scripts share: replacing their generated block between its two markers, and the
command line of a script that makes one block from one bundled folder."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path


def write_block(readme: Path, start: str, end: str, text: str) -> None:
    """Put `text` (which begins with `start` and ends with `end`) in place of the block between those markers."""
    current = readme.read_text()
    if start not in current or end not in current:
        raise SystemExit(f"{readme.name} has no such block; add the markers {start} … {end} where it belongs.")
    head, _, rest = current.partition(start)
    readme.write_text(head + text + rest.partition(end)[2])


def megabytes(folder: Path) -> float:
    """Bytes of every file below `folder`, in MiB: what a bundle costs a clone."""
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 2**20


def folder_block_cli(doc: str, generate: Callable[[Path], str], option: str, default: Path, readme: Path,
                     start: str, end: str) -> None:
    """`script [--OPTION FOLDER] [--write]`: print the block made from FOLDER (default: the bundled one), or put it
    into the README in place of the block between `start` and `end`."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument(f"--{option}", type=Path, default=default, dest="folder")
    parser.add_argument("--write", action="store_true", help=f"replace the block in {readme.name}")
    args = parser.parse_args()
    text = generate(args.folder.resolve())
    if args.write:
        write_block(readme, start, end, text)
    else:
        print(text)
