"""Raster figures: image grids of generations, thumbnails as data URIs, and the concept-space animation (GIF).

Grids for the page carry no text (`LabelledGrid`: pixels plus labels as data); `draw_labels` puts the text in for
the GIF and the report, which have no other place for it.

Pure functions of uint8 arrays (no files, no torch): the UI serves their output, the exporter writes it.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

TRAINING_COLORS = ("#d62728", "#ff7f0e", "#1f77b4", "#17becf", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22")
HELDOUT_COLORS = ("#6a1b9a", "#2e7d32", "#ad1457", "#00695c")


def class_colors(heldout: Sequence[bool]) -> list[str]:
    """One colour per class, used by every panel: training classes from one palette, held-out from another."""
    colors, trained, held = [], 0, 0
    for is_heldout in heldout:
        if is_heldout:
            colors.append(HELDOUT_COLORS[held % len(HELDOUT_COLORS)])
            held += 1
        else:
            colors.append(TRAINING_COLORS[trained % len(TRAINING_COLORS)])
            trained += 1
    return colors


def _hwc(image: np.ndarray) -> np.ndarray:
    """(3, R, R) or (R, R, 3) → (R, R, 3)."""
    image = np.asarray(image)
    return np.transpose(image, (1, 2, 0)) if image.ndim == 3 and image.shape[0] == 3 else image


def png_bytes(image: np.ndarray | Image.Image) -> bytes:
    picture = image if isinstance(image, Image.Image) else Image.fromarray(_hwc(image).astype(np.uint8))
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def png_data_uri(image: np.ndarray, scale: int = 4) -> str:
    """A small PNG as a data URI, upscaled without smoothing so the pixels stay crisp."""
    picture = Image.fromarray(_hwc(image).astype(np.uint8))
    picture = picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST)
    return "data:image/png;base64," + base64.b64encode(png_bytes(picture)).decode()


def image_grid(images: np.ndarray, columns: int = 8, scale: int = 4, pad: int = 2, background: int = 255) -> np.ndarray:
    """Tile uint8 images (N, 3, R, R) into one (H, W, 3) array, row-major, each upscaled by `scale`."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[1] != 3 or images.shape[0] == 0:
        raise ValueError(f"image_grid expects a non-empty (N, 3, R, R) array, got shape {images.shape}.")
    count, _, size, _ = images.shape
    columns = max(1, min(columns, count))
    rows = -(-count // columns)
    cell = size * scale
    grid = np.full((pad + rows * (cell + pad), pad + columns * (cell + pad), 3), background, dtype=np.uint8)
    tiles = images.transpose(0, 2, 3, 1).repeat(scale, axis=1).repeat(scale, axis=2)  # (N, cell, cell, 3)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, columns)
        top, left = pad + r * (cell + pad), pad + c * (cell + pad)
        grid[top:top + cell, left:left + cell] = tile
    return grid


def _font(size: int) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=size)  # Pillow's bundled font: no system fonts, no downloads


@dataclass(frozen=True)
class LabelledGrid:
    """Rows of generations as pixels only, and what each row is as data.

    Shown at its own size (or an integer multiple of it), with the labels set as real text beside `row_tops`:
    text drawn into the pixels turns to mush as soon as a browser resamples the picture by a non-integer factor.
    """

    image: np.ndarray  # (H, W, 3) uint8, every sample upscaled `scale`× by nearest neighbour, no text
    labels: list[str]  # per row
    colors: list[str]  # per row, the colour the row's class or method has in every panel
    heldout: list[bool]  # per row
    row_tops: list[int]  # per row, the first pixel row of its samples in `image`
    row_height: int  # pixels of one row of samples
    scale: int
    caption: str | None = None


def class_rows(
    images: np.ndarray, class_index: np.ndarray, names: Sequence[str], heldout: Sequence[bool], per_class: int = 8,
    scale: int = 4, caption: str | None = None, colors: Sequence[str] | None = None, pad: int = 2,
) -> LabelledGrid:
    """One row per class that has samples (at most `per_class` of them), without text. images: (N, 3, R, R)
    uint8; class_index: (N,) index into names; colors: row colours by class (default: the class colours)."""
    images, class_index = np.asarray(images), np.asarray(class_index)
    colors = list(colors) if colors is not None else class_colors(heldout)
    rows = [c for c in range(len(names)) if (class_index == c).any()]
    if not rows:
        raise ValueError("There are no generations to show.")
    chosen = [images[class_index == c][:per_class] for c in rows]
    columns = max(len(samples) for samples in chosen)
    blank = np.full(images.shape[1:], 255, dtype=np.uint8)  # the background colour, so a short row just ends
    tiles = np.stack([tile for samples in chosen for tile in [*samples, *[blank] * (columns - len(samples))]])
    cell = images.shape[2] * scale
    return LabelledGrid(
        image=image_grid(tiles, columns=columns, scale=scale, pad=pad), labels=[names[c] for c in rows],
        colors=[colors[c] for c in rows], heldout=[bool(heldout[c]) for c in rows],
        row_tops=[pad + r * (cell + pad) for r in range(len(rows))], row_height=cell, scale=scale, caption=caption,
    )


def draw_labels(grid: LabelledGrid, large: bool = False) -> Image.Image:
    """The grid with its labels and caption drawn into the pixels, for a GIF or a report figure that has no text
    layer; held-out rows are framed in their colour. A row is as tall as its samples or its label."""
    font = _font(22 if large else 15)
    label_width = 250 if large else 170
    texts = [f"{label}\n(held out)" if held else label for label, held in zip(grid.labels, grid.heldout)]
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    heights = [max(grid.row_height, measure.multiline_textbbox((0, 0), text, font=font)[3] + 8) for text in texts]
    width = label_width + grid.image.shape[1] + 6
    header = 36 if grid.caption else 4
    canvas = Image.new("RGB", (width, header + sum(h + 6 for h in heights)), "white")
    draw = ImageDraw.Draw(canvas)
    if grid.caption:
        draw.text((8, 8), grid.caption, fill="#222", font=font)
    top = header
    for text, height, row_top, color, held in zip(texts, heights, grid.row_tops, grid.colors, grid.heldout):
        image_top = top + (height - grid.row_height) // 2
        canvas.paste(Image.fromarray(grid.image[row_top:row_top + grid.row_height]), (label_width, image_top))
        draw.rectangle((4, top + 4, 12, top + height - 4), fill=color)
        draw.multiline_text((20, top + height // 2), text, fill="#222", font=font, anchor="lm")
        if held:
            draw.rectangle((label_width - 3, image_top - 3, label_width + grid.image.shape[1] + 2,
                            image_top + grid.row_height + 2), outline=color, width=3)
        top += height + 6
    return canvas


def class_grid(
    images: np.ndarray, class_index: np.ndarray, names: Sequence[str], heldout: Sequence[bool], per_class: int = 8,
    scale: int = 4, caption: str | None = None, large: bool = False, colors: Sequence[str] | None = None,
) -> Image.Image:
    """`class_rows` with the labels drawn in (`draw_labels`)."""
    return draw_labels(class_rows(images, class_index, names, heldout, per_class, scale, caption, colors), large)


# -- animation -----------------------------------------------------------------------------------------------------
def concept_space_frames(
    steps: Sequence[int], names: Sequence[str], coordinates: np.ndarray, heldout: Sequence[bool],
    axis_titles: Sequence[str], grids: Sequence[Image.Image] | None = None, size: int = 420, title: str = "",
) -> list[Image.Image]:
    """One frame per checkpoint: the trajectories so far in concept space (training classes dashed, held-out
    solid, a dot at the current step), with that checkpoint's generations on the right when `grids` is given.
    coordinates: (T, C, 2) positions in concept space; NaN where a class drew nothing."""
    coordinates = np.asarray(coordinates, dtype=float)
    colors = class_colors(heldout)
    font, small = _font(18), _font(14)
    margin, low, high = 56, -0.35, 1.35  # positions overshoot class means (0, 1) by up to about 0.3

    def to_pixel(point: np.ndarray) -> tuple[float, float]:
        x = margin + (point[0] - low) / (high - low) * (size - margin - 12)
        y = size - margin - (point[1] - low) / (high - low) * (size - margin - 40)
        return x, y

    frames = []
    for t, step in enumerate(steps):
        grid = grids[t] if grids is not None else None
        width = size + (grid.width + 10 if grid is not None else 190)
        height = max(size, grid.height + 40 if grid is not None else 0)
        frame = Image.new("RGB", (width, height), "white")
        draw = ImageDraw.Draw(frame)
        x0, y0 = to_pixel(np.array([0.0, 0.0]))
        x1, y1 = to_pixel(np.array([1.0, 1.0]))
        draw.rectangle((x0, y1, x1, y0), outline="#bbbbbb")
        for value in (0.0, 0.5, 1.0):
            px, _ = to_pixel(np.array([value, low]))
            _, py = to_pixel(np.array([low, value]))
            draw.text((px, size - margin + 6), f"{value:g}", fill="#555", font=small, anchor="mt")
            draw.text((margin - 6, py), f"{value:g}", fill="#555", font=small, anchor="rm")
        draw.text(((x0 + x1) / 2, size - 22), axis_titles[0], fill="#222", font=font, anchor="mm")
        draw.text((8, 24), axis_titles[1], fill="#222", font=font, anchor="lm")
        draw.text((size - 8, 10), f"{title}  step {step}".strip(), fill="#222", font=font, anchor="ra")
        for c in range(len(names)):
            points = [to_pixel(p) for p in coordinates[:t + 1, c] if np.isfinite(p).all()]
            if len(points) > 1:
                if heldout[c]:
                    draw.line(points, fill=colors[c], width=4)
                else:
                    for a, b in zip(points[:-1], points[1:]):  # dashed: draw every other half-segment
                        mid = ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2)
                        draw.line([a, mid], fill=colors[c], width=2)
            if points:
                px, py = points[-1]
                draw.ellipse((px - 7, py - 7, px + 7, py + 7), fill=colors[c], outline="black", width=2)
        if grid is None:  # with generations beside it, their row labels (same colours) are the legend
            legend_y = 40
            for c, name in enumerate(names):
                draw.rectangle((size + 4, legend_y, size + 16, legend_y + 12), fill=colors[c])
                draw.text((size + 22, legend_y + 6), name + (" (held out)" if heldout[c] else ""), fill="#222",
                          font=small, anchor="lm")
                legend_y += 20
        if grid is not None:
            frame.paste(grid, (size + 5, 30))
        frames.append(frame)
    return frames


def gif_bytes(frames: Sequence[Image.Image], frame_ms: int = 400, final_hold_ms: int = 1500) -> bytes:
    """An animated GIF that loops, holding the last frame a little longer."""
    if not frames:
        raise ValueError("An animation needs at least one frame.")
    durations = [frame_ms] * (len(frames) - 1) + [final_hold_ms]
    buffer = io.BytesIO()
    palette = [frame.convert("P", palette=Image.ADAPTIVE, colors=128) for frame in frames]
    palette[0].save(buffer, format="GIF", save_all=True, append_images=palette[1:], duration=durations, loop=0,
                    optimize=False, disposal=1)
    return buffer.getvalue()
