"""Drawing a run's figures: labelled image grids and loss curves (matplotlib, Agg backend).

Figures are rendered to RGB arrays first, so the same pixels go to a PNG file and to loggers
(TensorBoard); files are written atomically. matplotlib is imported only when a figure is drawn.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from genfw.atomic import atomic_write_bytes

#: Pixels of the rendered figure per pixel of the images (small images are hard to see at 1x).
SCALE = 3
#: Keys of a metrics record that are bookkeeping, not curves.
NOT_CURVES = ("step", "epoch", "event", "train_s", "images_per_s")


@dataclass(frozen=True)
class ImageGrid:
    """Images ``[rows * columns, C, H, W]`` in [0, 1], row by row, with optional labels: what a
    figure of samples, a traversal or reconstructions is. ``columns`` images per row."""

    images: torch.Tensor
    columns: int
    title: str | None = None
    row_labels: Sequence[str] | None = None
    column_labels: Sequence[str] | None = None
    xlabel: str | None = None
    ylabel: str | None = None

    @property
    def rows(self) -> int:
        return math.ceil(self.images.shape[0] / max(1, self.columns))


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)  # no display needed, and no GUI backend's side effects
    import matplotlib.pyplot as plt

    return plt


def _to_rgb(fig) -> np.ndarray:
    fig.canvas.draw()
    rgba = np.asarray(fig.canvas.buffer_rgba())
    return np.ascontiguousarray(rgba[..., :3])


def render_image_grid(grid: ImageGrid) -> np.ndarray:
    """The grid drawn with its title and labels: uint8 RGB ``[H, W, 3]``."""
    from torchvision.utils import make_grid

    plt = _pyplot()
    pad = 2
    images = grid.images.detach().float().clamp(0, 1).cpu()
    if images.shape[1] not in (1, 3):  # e.g. RGBA or more channels: show the first
        images = images[:, :1]
    tiled = make_grid(images, nrow=max(1, grid.columns), padding=pad, pad_value=1.0)  # [3, H, W]
    pixels = tiled.permute(1, 2, 0).numpy()
    h, w = pixels.shape[:2]
    longest = max((len(str(label)) for label in grid.row_labels or ()), default=0)
    # Room for the longest row label (about 0.07 inch per character at these font sizes).
    margin_left = (0.25 + 0.07 * longest + (0.25 if grid.ylabel else 0)) if grid.row_labels or grid.ylabel else 0.15
    margin_bottom = 0.5 if grid.column_labels or grid.xlabel else 0.15
    margin_top = 0.45 if grid.title else 0.15
    dpi = 100
    fig_w = w * SCALE / dpi + margin_left + 0.15
    fig_h = h * SCALE / dpi + margin_bottom + margin_top
    fig = plt.figure(figsize=(fig_w, fig_h), dpi=dpi)
    ax = fig.add_axes(
        (margin_left / fig_w, margin_bottom / fig_h, (w * SCALE / dpi) / fig_w, (h * SCALE / dpi) / fig_h)
    )
    ax.imshow(pixels, interpolation="nearest")
    cell_h, cell_w = images.shape[2] + pad, images.shape[3] + pad
    fontsize = max(5, min(9, int(cell_h * SCALE / 6)))
    if grid.column_labels:
        ax.set_xticks([pad + cell_w * i + (cell_w - pad) / 2 for i in range(len(grid.column_labels))])
        ax.set_xticklabels(list(grid.column_labels), fontsize=fontsize, rotation=0)
    else:
        ax.set_xticks([])
    if grid.row_labels:
        ax.set_yticks([pad + cell_h * i + (cell_h - pad) / 2 for i in range(len(grid.row_labels))])
        ax.set_yticklabels(list(grid.row_labels), fontsize=fontsize)
    else:
        ax.set_yticks([])
    for side in ("top", "right", "bottom", "left"):
        ax.spines[side].set_visible(False)
    ax.tick_params(length=0)
    if grid.xlabel:
        ax.set_xlabel(grid.xlabel, fontsize=fontsize + 1)
    if grid.ylabel:
        ax.set_ylabel(grid.ylabel, fontsize=fontsize + 1)
    if grid.title:
        ax.set_title(grid.title, fontsize=fontsize + 2)
    try:
        return _to_rgb(fig)
    finally:
        plt.close(fig)


def smooth(values: Sequence[float] | np.ndarray, weight: float) -> np.ndarray:
    """An exponential moving average with bias correction (TensorBoard's smoothing)."""
    out, avg = [], 0.0
    for i, v in enumerate(values, 1):
        avg = weight * avg + (1 - weight) * v
        out.append(avg / (1 - weight**i))
    return np.asarray(out)


def curve_series(records: Sequence[Mapping], key: str) -> tuple[np.ndarray, np.ndarray]:
    """(steps, values) of ``key`` over the records that hold a finite number for it."""
    pts = [
        (r["step"], r[key])
        for r in records
        if isinstance(r.get(key), (int, float))
        and not isinstance(r.get(key), bool)
        and math.isfinite(r[key])
        and isinstance(r.get("step"), (int, float))
    ]
    return np.asarray([p[0] for p in pts], float), np.asarray([p[1] for p in pts], float)


def default_curve_groups(records: Sequence[Mapping]) -> dict[str, tuple[str, ...]]:
    """A panel per logged number, in the order they first appear."""
    keys: dict[str, None] = {}
    for r in records:
        for k, v in r.items():
            if k not in NOT_CURVES and isinstance(v, (int, float)) and not isinstance(v, bool):
                keys.setdefault(k, None)
    return {k: (k,) for k in keys}


def render_loss_curves(records: Sequence[Mapping], groups: Mapping[str, Sequence[str]]) -> np.ndarray:
    """One panel per group (title -> keys): each key's raw values, faint, under a smoothed line;
    axes with values, a legend, and the step on the x axis. Empty groups say so."""
    plt = _pyplot()
    groups = {title: list(keys) for title, keys in groups.items()} or {"no scalars were logged": []}
    n = len(groups)
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.2 * rows), dpi=100, squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    for ax, (title, keys) in zip(axes.flat, groups.items()):
        drawn = False
        for i, key in enumerate(keys):
            steps, values = curve_series(records, key)
            if not len(steps):
                continue
            color = f"C{i % 10}"
            if len(steps) == 1:  # a very short run: a dot, so the panel is not empty
                ax.plot(steps, values, "o", color=color, label=key)
            else:
                ax.plot(steps, values, color=color, alpha=0.25, linewidth=1)
                weight = min(0.9, max(0.0, 1 - 8 / len(values)))  # smooth only when there are many points
                ax.plot(steps, smooth(values, weight), color=color, linewidth=1.6, label=key)
            drawn = True
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(True, alpha=0.3)
        if drawn:
            ax.legend(fontsize=7, loc="best")
        else:
            ax.text(0.5, 0.5, "no finite values logged", ha="center", va="center", transform=ax.transAxes, fontsize=8)
    fig.tight_layout()
    try:
        return _to_rgb(fig)
    finally:
        plt.close(fig)


def png_bytes(pixels: np.ndarray) -> bytes:
    """A uint8 ``[H, W]`` or ``[H, W, 3]`` array as PNG bytes."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


def save_png(pixels: np.ndarray, path: str | Path) -> None:
    """Write a rendered figure as a PNG, atomically."""
    atomic_write_bytes(path, png_bytes(pixels))
