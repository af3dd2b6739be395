"""A local copy of CelebA as a concept space of two binary attributes (reference-spec §6).

The authors repeat the concept-space analysis on real faces: two of CelebA's 40 binary attributes are the concepts,
one of their four combinations is held out of training (Male × Smiling with female-smiling held out). This module
reads a copy in the standard layout and never downloads anything (CelebA's licence asks users to fetch it
themselves, and a run must not depend on the network):

    DATA_ROOT/img_align_celeba/000001.jpg …    the aligned and cropped 178 × 218 faces
    DATA_ROOT/list_attr_celeba.txt             line 1 the image count, line 2 the 40 attribute names, then
                                               `000001.jpg  -1  1 …` (one ±1 per attribute)
    DATA_ROOT/list_eval_partition.txt          `000001.jpg 0` (0 train, 1 validation, 2 test)

Levels are chosen so that the held-out combination is class 11 of the project's scheme: attribute k's level 1 is
"has attribute k" when the held-out combination has it, else "has it not" (`ConceptSpace.flips`). Training
classes, the held-out class, learning steps, elicitation and the views then work as on synthetic runs. Images are
centre-cropped to a square (the face) and resized with PIL; which images a class gets is drawn from a seed.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError


class AttributeSpace(Protocol):
    """What this module reads of a CelebA ConceptSpace (concepts.py, which imports this module for its attribute
    names; a protocol instead of that class keeps the two modules free of an import circle)."""

    concepts: tuple[str, ...]
    data_root: str
    resolution: int

    @property
    def flips(self) -> tuple[bool, ...]: ...
    def class_label(self, code: tuple[int, ...]) -> str: ...
    def class_name(self, code: tuple[int, ...]) -> str: ...

ATTRIBUTES = (
    "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs", "Big_Lips", "Big_Nose",
    "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair", "Bushy_Eyebrows", "Chubby", "Double_Chin", "Eyeglasses",
    "Goatee", "Gray_Hair", "Heavy_Makeup", "High_Cheekbones", "Male", "Mouth_Slightly_Open", "Mustache",
    "Narrow_Eyes", "No_Beard", "Oval_Face", "Pale_Skin", "Pointy_Nose", "Receding_Hairline", "Rosy_Cheeks",
    "Sideburns", "Smiling", "Straight_Hair", "Wavy_Hair", "Wearing_Earrings", "Wearing_Hat", "Wearing_Lipstick",
    "Wearing_Necklace", "Wearing_Necktie", "Young",
)
"""CelebA's 40 attributes in the order of list_attr_celeba.txt."""

IMAGES, ATTRIBUTE_FILE, PARTITION_FILE = "img_align_celeba", "list_attr_celeba.txt", "list_eval_partition.txt"
PARTITIONS = {"train": 0, "val": 1, "test": 2}


class CelebaError(ValueError):
    """The local CelebA copy is missing, incomplete or malformed (one sentence that says what to fix)."""


@dataclass(frozen=True)
class CelebaIndex:
    """The two list files of a copy, parsed."""

    files: tuple[str, ...]  # image file names, in file order
    attributes: np.ndarray  # (N, 40) bool: attribute present (+1 in the file)
    partition: np.ndarray  # (N,) int8: 0 train, 1 validation, 2 test


def missing_copy(root: Path) -> str | None:
    """The one sentence saying what of the standard layout is missing at `root`, or None when all is there."""
    absent = [name for name in (IMAGES, ATTRIBUTE_FILE, PARTITION_FILE) if not (root / name).exists()]
    if not absent:
        return None
    return (f"No CelebA copy at {root} ({', '.join(absent)} missing): put img_align_celeba/, list_attr_celeba.txt and "
            "list_eval_partition.txt there and pass that folder as --concept_space.data_root (nothing is downloaded).")


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="ascii").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise CelebaError(f"Cannot read {path} as CelebA's text list ({type(error).__name__}).") from None


def _parse_attributes(path: Path) -> tuple[tuple[str, ...], np.ndarray]:
    lines = _lines(path)
    if len(lines) < 2 or not lines[0].strip().isdigit():
        raise CelebaError(f"{path} does not start with the image count and the attribute names, as CelebA's does.")
    if tuple(lines[1].split()) != ATTRIBUTES:
        raise CelebaError(f"Line 2 of {path} is not CelebA's 40 attribute names in their standard order.")
    rows = [line.split() for line in lines[2:] if line.strip()]
    if len(rows) != int(lines[0]):
        raise CelebaError(f"{path} lists {len(rows)} images but its first line says {int(lines[0])}.")
    for number, row in enumerate(rows, start=3):
        if len(row) != 41 or any(value not in ("1", "-1") for value in row[1:]):
            raise CelebaError(f"Line {number} of {path} is not an image name followed by 40 values of 1 or -1.")
    files = tuple(row[0] for row in rows)
    values = np.array([row[1:] for row in rows], dtype=np.int8).reshape(len(rows), len(ATTRIBUTES))
    return files, values > 0


def _parse_partition(path: Path, files: tuple[str, ...]) -> np.ndarray:
    given: dict[str, int] = {}
    for number, line in enumerate(_lines(path), start=1):
        row = line.split()
        if not row:
            continue
        if len(row) != 2 or row[1] not in ("0", "1", "2"):
            raise CelebaError(f"Line {number} of {path} is not an image name followed by 0, 1 or 2.")
        given[row[0]] = int(row[1])
    unlisted = [name for name in files if name not in given]
    if unlisted:
        raise CelebaError(f"{path} gives no partition for {unlisted[0]} (and {len(unlisted) - 1} more images).")
    return np.array([given[name] for name in files], dtype=np.int8)


@functools.lru_cache(maxsize=2)
def _read_index(root: str, stamp: tuple[int, ...]) -> CelebaIndex:
    files, attributes = _parse_attributes(Path(root) / ATTRIBUTE_FILE)
    return CelebaIndex(files, attributes, _parse_partition(Path(root) / PARTITION_FILE, files))


def read_index(root: str | Path) -> CelebaIndex:
    """The copy's lists, parsed once per version of the files (a run's data, its probe and its report read them)."""
    root = Path(root)
    problem = missing_copy(root)
    if problem:
        raise CelebaError(problem)
    stamp = tuple(s for name in (ATTRIBUTE_FILE, PARTITION_FILE) for s in (
        (root / name).stat().st_mtime_ns, (root / name).stat().st_size))
    return _read_index(str(root.resolve()), stamp)


def class_levels(space: AttributeSpace, index: CelebaIndex) -> np.ndarray:
    """(N, 2) the level bits of every image in `space`: attribute present XOR the concept's flip."""
    columns = [ATTRIBUTES.index(concept) for concept in space.concepts]
    return index.attributes[:, columns] ^ np.array(space.flips)[None, :]


def select(
    space: AttributeSpace, index: CelebaIndex, codes: list[tuple[int, ...]], per_class: int, seed: int,
    partitions: tuple[str, ...] = ("train",),
) -> list[np.ndarray]:
    """Per class code, the row numbers of up to `per_class` images of that class in the given partitions, drawn
    without replacement from a generator seeded with `seed` (the same copy and seed give the same images)."""
    levels = class_levels(space, index)
    allowed = np.isin(index.partition, [PARTITIONS[p] for p in partitions])
    generator = torch.Generator().manual_seed(seed)
    chosen = []
    for code in codes:
        rows = np.flatnonzero(allowed & (levels == np.array(code)[None, :]).all(1))
        if len(rows) == 0:
            raise CelebaError(f"The CelebA copy at {space.data_root} has no {'/'.join(partitions)} images of class "
                              f"{space.class_name(code)} ({space.class_label(code)}).")
        order = torch.randperm(len(rows), generator=generator)[:per_class].numpy()
        chosen.append(rows[np.sort(order)])
    return chosen


def load_image(path: Path, resolution: int) -> torch.Tensor:
    """One face as (3, R, R) float in [0, 1]: the centre square of the aligned image (the face; 178 × 178 of
    178 × 218), resized with PIL's Lanczos filter. JPEG decoding is asked for the smallest scale that still covers
    R (`draft`), which makes small CPU resolutions several times faster to load."""
    try:
        with Image.open(path) as image:
            image.draft("RGB", (resolution, resolution))
            image = image.convert("RGB")
            width, height = image.size
            side = min(width, height)
            left, top = (width - side) // 2, (height - side) // 2
            square = image.crop((left, top, left + side, top + side))
            pixels = np.asarray(square.resize((resolution, resolution), Image.Resampling.LANCZOS))
    except FileNotFoundError:
        raise CelebaError(f"{path} is missing, though {ATTRIBUTE_FILE} lists it; restore the image or the copy.") from None
    except (OSError, UnidentifiedImageError):
        raise CelebaError(f"{path} cannot be read as an image; restore it from your CelebA copy.") from None
    return torch.from_numpy(pixels.copy()).permute(2, 0, 1).float() / 255


def load_classes(
    space: AttributeSpace, codes: list[tuple[int, ...]], per_class: int, seed: int, partitions: tuple[str, ...] = ("train",)
) -> tuple[torch.Tensor, torch.Tensor]:
    """Up to `per_class` faces of each class (`select`): images (N, 3, R, R) in [0, 1] and the class index (N,)
    into `codes`."""
    index = read_index(space.data_root)
    rows = select(space, index, codes, per_class, seed, partitions)
    folder = Path(space.data_root) / IMAGES
    images = [load_image(folder / index.files[row], space.resolution) for chosen in rows for row in chosen]
    labels = torch.cat([torch.full((len(chosen),), k) for k, chosen in enumerate(rows)])
    return torch.stack(images), labels
