"""What the README's number scripts share: replacing their generated block between its two markers."""

from __future__ import annotations

from pathlib import Path


def write_block(readme: Path, start: str, end: str, text: str) -> None:
    """Put `text` (which begins with `start` and ends with `end`) in place of the block between those markers."""
    current = readme.read_text()
    if start not in current or end not in current:
        raise SystemExit(f"{readme.name} has no such block; add the markers {start} … {end} where it belongs.")
    head, _, rest = current.partition(start)
    readme.write_text(head + text + rest.partition(end)[2])
