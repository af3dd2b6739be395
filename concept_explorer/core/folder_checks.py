"""Checks of what a run folder holds. A folder is untrusted input (copied from elsewhere, edited by hand, cut short
by a crash), so nothing in it is used before it is checked here: run.json's keys and types, the config's ranges,
step entries, every safetensors header, the shapes, dtypes and finiteness of the weights, and links leaving the
folder. Every failure is a `RunFolderError` in one sentence that names the file by its place in the run ("demo/
steps/4.safetensors", never a server's absolute path) and says what to do.

The file names themselves are `run.RunLayout`'s; this module only checks what it is handed.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .config import RunConfig, vdm_for
from .limits import shown

STATUSES = ("created", "running", "interrupted", "complete", "failed")
"""What the status in a run description can say (training.py writes them)."""
HEADER_LIMIT = 100_000_000
"""Largest safetensors header read (the safetensors library refuses larger ones too)."""
JSON_LIMIT = 64_000_000
"""Largest JSON file of a run folder read (the bundled summaries are well under 1 MB)."""
DTYPE_SIZES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1,
               "U16": 2, "U32": 4, "U64": 8, "BOOL": 1}
WEIGHT_DTYPES = {"float32": "F32", "float16": "F16"}
"""config.train.weights_dtype → its safetensors name."""
WEIGHT_LIMIT_EXPONENT = {"F32": (23, 0xFF, 127 + 16), "F16": (10, 0x1F, 15 + 16)}
"""Per dtype: (mantissa bits, exponent mask, smallest biased exponent of |w| ≥ 2¹⁶). A weight that large, inf or
NaN is never trained by these models (gradients are clipped); random bytes are full of them."""


class RunFolderError(Exception):
    """A run folder that cannot be used; the message is one sentence saying what is wrong and what to do."""


def place(path: Path, root: Path) -> str:
    """`path` as a user reads it: the run's folder name and the path inside it ("demo/steps/4.safetensors")."""
    try:
        return str(Path(root.name) / Path(path).relative_to(root))
    except ValueError:
        return Path(path).name


def read_small_file(path: Path, where: str, remedy: str) -> bytes:
    """The bytes of a file of the folder that is a regular file (a FIFO would hang the reader, a link could point
    anywhere) of at most JSON_LIMIT bytes; a RunFolderError naming `where` otherwise."""
    if path.is_symlink() or not path.is_file():
        raise RunFolderError(f"{where} is not a regular file; {remedy}")
    if path.stat().st_size > JSON_LIMIT:
        raise RunFolderError(f"{where} is implausibly large ({path.stat().st_size:,} bytes); {remedy}")
    return path.read_bytes()


def parse_json(text: bytes | str, where: str, remedy: str) -> Any:
    """JSON, with a RunFolderError naming `where` for text that is not (a deeply nested value included, which the
    parser refuses with a RecursionError)."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as error:
        raise RunFolderError(f"{where} is not valid JSON ({str(error)[:80]}); {remedy}") from None


def read_json(path: Path, where: str, remedy: str) -> Any:
    """A JSON file of the folder; a RunFolderError naming `where` when it is not a readable, parseable file."""
    return parse_json(read_small_file(path, where, remedy), where, remedy)


def read_metric_rows(path: Path, where: str) -> list[dict[str, Any]]:
    """metrics.jsonl: one JSON object with a whole "step" per line, read under read_small_file's bounds."""
    remedy = "delete it to continue without metrics."
    try:
        lines = read_small_file(path, where, remedy).decode().splitlines()
    except (UnicodeDecodeError, OSError):
        raise RunFolderError(f"{where} is corrupt; {remedy}") from None
    rows = [parse_json(line, where, remedy) for line in lines if line.strip()]
    if not all(isinstance(r, dict) and isinstance(r.get("step"), int) for r in rows):
        raise RunFolderError(f"{where} is corrupt; {remedy}")
    return rows


def expected_shapes(config: RunConfig) -> dict[str, list[int]]:
    """Parameter shapes of the model a config describes, built on the meta device (no memory, no init cost)."""
    with torch.device("meta"):
        model = vdm_for(config)
    return {k: list(v.shape) for k, v in model.state_dict().items()}


def expected_checkpoint(config: RunConfig) -> dict[str, tuple[str, list[int]]]:
    """What a checkpoint file of this config holds: parameter name → (safetensors dtype, shape)."""
    dtype = WEIGHT_DTYPES[config.train.weights_dtype]
    return {name: (dtype, shape) for name, shape in expected_shapes(config).items()}


def step_name(step: object) -> str:
    """A step as it names a file: a whole number, nothing else (a step read from a file could be any JSON value, and
    a string such as an absolute path would put the file somewhere else entirely)."""
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise RunFolderError(f"{str(step)[:40]!r} is not a checkpoint step (a whole number).")
    return str(step)


# -- safetensors ------------------------------------------------------------------------------------------------
def safetensors_header(path: Path, where: str | None = None) -> dict[str, Any]:
    """Read and check a safetensors header without loading data: its length, that it is an object of tensors, each
    with a known dtype, a shape of whole numbers and data offsets of exactly its size, the offsets tiling the data
    without gaps or overlaps up to the file's end. Catches truncated, garbled and hand-made files."""
    where = where or str(path)
    remedy = "delete it and re-run the command that wrote it."
    if path.is_symlink() or not path.is_file():
        raise RunFolderError(f"{where} is not a regular file; {remedy}")
    size = path.stat().st_size
    with path.open("rb") as handle:
        raw = handle.read(8)
        if len(raw) < 8:
            raise RunFolderError(f"{where} is truncated ({size} bytes); {remedy}")
        (header_len,) = struct.unpack("<Q", raw)
        if header_len > min(size - 8, HEADER_LIMIT):
            raise RunFolderError(f"{where} is truncated or not a safetensors file; {remedy}")
        try:
            header = json.loads(handle.read(header_len))
        except (ValueError, RecursionError):
            raise RunFolderError(f"{where} has a corrupt header; {remedy}") from None
    if not isinstance(header, dict):
        raise RunFolderError(f"{where} has a header that is not an object of tensors; {remedy}")
    metadata = header.get("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise RunFolderError(f"{where} has corrupt metadata; {remedy}")
    spans = []
    for key, entry in header.items():
        if key == "__metadata__":
            continue
        if not (isinstance(entry, dict) and entry.get("dtype") in DTYPE_SIZES and _whole_list(entry.get("shape"))
                and _whole_list(entry.get("data_offsets")) and len(entry["data_offsets"]) == 2):
            raise RunFolderError(f"{where} describes tensor {shown(key)} without a valid dtype, shape and data "
                                 f"offsets; {remedy}")
        begin, end = entry["data_offsets"]
        if end - begin != int(np.prod(entry["shape"], dtype=object)) * DTYPE_SIZES[entry["dtype"]]:
            raise RunFolderError(f"{where} gives tensor {shown(key)} data offsets that do not fit its shape; {remedy}")
        spans.append((begin, end))
    position = 0
    for begin, end in sorted(spans):
        if begin != position:
            raise RunFolderError(f"{where} has overlapping or missing tensor data; {remedy}")
        position = end
    if 8 + header_len + position != size:
        raise RunFolderError(f"{where} is truncated ({size} bytes, expected {8 + header_len + position}); {remedy}")
    return header


def json_kind(value: Any) -> str:
    """What a JSON value is, in words ("text", "a negative number", …), for messages that must not quote it."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, float):
        return "a decimal number"
    if isinstance(value, int):
        return "a negative number" if value < 0 else "a number"
    return {str: "text", list: "a list", dict: "an object"}.get(type(value), type(value).__name__)


def _whole_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value)


def check_tensors(
    header: dict[str, Any], expected: dict[str, tuple[str, list[int]]], problem: str, remedy: str
) -> None:
    """The header holds exactly the `expected` tensors (name → (safetensors dtype, shape)); otherwise the sentence
    "`problem` (what differs); `remedy`"."""
    stored = {k: (v["dtype"], v["shape"]) for k, v in header.items() if k != "__metadata__"}
    if stored == expected:
        return
    missing = sorted(set(expected) - set(stored))[:3]
    extra = sorted(set(stored) - set(expected))[:3]
    wrong = sorted(k for k in set(expected) & set(stored) if expected[k] != stored[k])[:3]
    problems = [f"missing {missing}" if missing else "", f"unexpected {extra}" if extra else "",
                f"other shapes or dtypes {wrong}" if wrong else ""]
    raise RunFolderError(f"{problem} ({', '.join(p for p in problems if p)}); {remedy}")


_finite_files: dict[tuple, bool] = {}
"""Files already found finite, by (path, inode, size, mtime): the app re-opens a run whenever it changes."""


def check_finite_weights(path: Path, header: dict[str, Any], where: str) -> None:
    """No weight of a checkpoint is inf, NaN or |w| ≥ 2¹⁶, read off the exponent bits of the raw data (a few ms
    for a cpu-preset run's 32 checkpoints)."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_ino, stat.st_size, stat.st_mtime_ns)
    if key in _finite_files:
        return
    raw = np.fromfile(path, dtype=np.uint8)
    (header_len,) = struct.unpack("<Q", raw[:8].tobytes())
    for name, entry in header.items():
        if name == "__metadata__" or entry["dtype"] not in WEIGHT_LIMIT_EXPONENT:
            continue
        shift, mask, limit = WEIGHT_LIMIT_EXPONENT[entry["dtype"]]
        begin, end = (8 + header_len + offset for offset in entry["data_offsets"])
        bits = raw[begin:end].view(np.dtype(f"<u{DTYPE_SIZES[entry['dtype']]}"))
        if ((bits >> shift) & mask >= limit).any():
            raise RunFolderError(
                f"{where} holds non-finite or implausibly large weights (in {name}); the file is damaged or the run "
                "diverged: delete the run's later checkpoints and resume, or train it again.")
    _finite_files[key] = True


# -- the folder --------------------------------------------------------------------------------------------------
def check_links(root: Path) -> None:
    """No link inside the folder points outside it (a link could make a command read or overwrite another run)."""
    inside = root.resolve()
    for folder, folders, files in os.walk(root):
        for entry in folders + files:
            path = Path(folder) / entry
            if path.is_symlink() and not path.resolve().is_relative_to(inside):
                raise RunFolderError(f"{place(path, root)} is a link to outside the run folder; replace it with the "
                                     "file itself or delete it.")


def check_info(info: Any, where: str) -> tuple[RunConfig, list[int]]:
    """The run description's content (parsed, of the right format): its config, every key the code reads, and the
    completed steps, which must be whole numbers of the config's checkpoint schedule, ascending."""
    remedy = "restore it or train the run again."
    try:
        config = RunConfig.from_dict(info["config"])
    except KeyError:
        raise RunFolderError(f"{where} has no config; {remedy}") from None
    except (TypeError, ValueError, AttributeError) as error:
        raise RunFolderError(f"{where} holds an invalid config: {error}") from None
    status = info.get("status")
    if status not in STATUSES:
        raise RunFolderError(f"{where} has status {shown(status)}, not one of {', '.join(STATUSES)}; {remedy}")
    steps = info.get("completed_steps")
    if not isinstance(steps, list):
        raise RunFolderError(f"{where} holds its checkpoints (completed_steps) as {json_kind(steps)}, not as a list "
                             f"of steps; {remedy}")
    if not _whole_list(steps):  # never quoted: an entry can be any text, e.g. a path to another run
        index = next(i for i, s in enumerate(steps) if not _whole_list([s]))
        raise RunFolderError(f"{where} lists a checkpoint (completed_steps entry {index + 1}, "
                             f"{json_kind(steps[index])}) that is not a whole step number; {remedy}")
    schedule = set(config.train.checkpoint_schedule())
    if steps != sorted(set(steps)) or not set(steps) <= schedule:
        raise RunFolderError(f"{where} lists checkpoints {shown(steps)} that are not distinct, ascending steps of the "
                             f"config's checkpoint schedule; {remedy}")
    for key, valid in (("checkpoint_steps", _whole_list), ("seed", lambda v: isinstance(v, int)),
                       ("versions", lambda v: isinstance(v, dict)), ("created", lambda v: isinstance(v, str)),
                       ("updated", lambda v: isinstance(v, str))):
        if key in info and not valid(info[key]):
            raise RunFolderError(f"{where} has a malformed {shown(key)} ({shown(info[key])}); {remedy}")
    return config, steps
