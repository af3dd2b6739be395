"""Raster figures: image grids of generations, thumbnails as data URIs, and the concept-space animation (GIF).

Pure functions of uint8 arrays (no files, no torch): the UI serves their output, the exporter writes it.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

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


def class_grid(
    images: np.ndarray, class_index: np.ndarray, names: Sequence[str], heldout: Sequence[bool], per_class: int = 8,
    scale: int = 4, caption: str | None = None, large: bool = False, colors: Sequence[str] | None = None,
) -> Image.Image:
    """One row per class of a checkpoint's generations with the class name on the left; held-out rows are
    framed in their class colour. images: (N, 3, R, R) uint8; class_index: (N,) index into names; colors: row
    colours (default: the class colours)."""
    images, class_index = np.asarray(images), np.asarray(class_index)
    colors = list(colors) if colors is not None else class_colors(heldout)
    font = _font(22 if large else 15)
    label_width = 250 if large else 170
    rows = [(c, name, image_grid(images[class_index == c][:per_class], columns=per_class, scale=scale))
            for c, name in enumerate(names) if (class_index == c).any()]
    if not rows:
        raise ValueError("There are no generations to show.")
    width = label_width + max(grid.shape[1] for *_, grid in rows) + 6
    header = 36 if caption else 4
    labels = [f"{name}\n(held out)" if heldout[c] else name for c, name, _ in rows]
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    heights = [max(grid.shape[0], measure.multiline_textbbox((0, 0), text, font=font)[3] + 8)
               for (_, _, grid), text in zip(rows, labels)]  # a row is as tall as its images or its label
    canvas = Image.new("RGB", (width, header + sum(h + 6 for h in heights)), "white")
    draw = ImageDraw.Draw(canvas)
    if caption:
        draw.text((8, 8), caption, fill="#222", font=font)
    top = header
    for (c, name, grid), text, height in zip(rows, labels, heights):
        image_top = top + (height - grid.shape[0]) // 2
        canvas.paste(Image.fromarray(grid), (label_width, image_top))
        draw.rectangle((4, top + 4, 12, top + height - 4), fill=colors[c])
        draw.multiline_text((20, top + height // 2), text, fill="#222", font=font, anchor="lm")
        if heldout[c]:
            draw.rectangle((label_width - 3, image_top - 2, label_width + grid.shape[1] + 1,
                            image_top + grid.shape[0] + 1), outline=colors[c], width=3)
        top += height + 6
    return canvas


# -- animation -----------------------------------------------------------------------------------------------------
def concept_space_frames(
    steps: Sequence[int], names: Sequence[str], coordinates: np.ndarray, heldout: Sequence[bool],
    axis_titles: Sequence[str], grids: Sequence[Image.Image] | None = None, size: int = 420, title: str = "",
) -> list[Image.Image]:
    """One frame per checkpoint: the trajectories so far in concept space (training classes dashed, held-out
    solid, a dot at the current step), with that checkpoint's generations on the right when `grids` is given.
    coordinates: (T, C, 2) in concept space; NaN where a class drew nothing."""
    coordinates = np.asarray(coordinates, dtype=float)
    colors = class_colors(heldout)
    font, small = _font(18), _font(14)
    margin, low, high = 56, -0.1, 1.1

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
