"""The figures a run draws: sample grids, InfoGAN traversals and a loss curve (PNG, via PIL).

All of them are drawn from fixed latents so figures of different epochs compare like with like.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from genfw.atomic import atomic_write_bytes
from genfw.latent import LatentSpec


def image_grid(images: torch.Tensor, nrow: int, pad: int = 2) -> np.ndarray:
    """``[n, C, H, W]`` floats in [0, 1] -> one uint8 HxWxC (or HxW) array, ``nrow`` images a row."""
    images = images.detach().float().clamp(0, 1).cpu()
    n, c, h, w = images.shape
    rows = math.ceil(n / nrow)
    grid = torch.ones(c, rows * (h + pad) + pad, nrow * (w + pad) + pad)
    for i in range(n):
        r, col = divmod(i, nrow)
        grid[:, pad + r * (h + pad): pad + r * (h + pad) + h, pad + col * (w + pad): pad + col * (w + pad) + w] = images[i]
    arr = (grid * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    return arr[:, :, 0] if c == 1 else arr


def save_png(array: np.ndarray, path: str | Path, scale: int = 1) -> None:
    from PIL import Image

    img = Image.fromarray(array)
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())


def fixed_codes(latent: LatentSpec, columns: int, seed: int) -> dict[str, torch.Tensor]:
    """The fixed draws figures reuse: one per column, from a generator of their own."""
    return latent.sample(columns, torch.Generator().manual_seed(seed))


def first_categorical(latent: LatentSpec):
    return next((c for c in latent if c.one_hot), None)


def sample_grid_codes(latent: LatentSpec, columns: int, seed: int) -> tuple[dict[str, torch.Tensor], int]:
    """Codes for a grid whose rows are the values of the first discrete code (if any)."""
    base = fixed_codes(latent, columns, seed)
    cat = first_categorical(latent)
    if cat is None:
        return base, columns
    rows = cat.dim
    codes = {name: v.repeat(rows, 1) for name, v in base.items()}
    codes[cat.name] = torch.eye(rows).repeat_interleave(columns, dim=0)
    return codes, columns


def traversal_codes(latent: LatentSpec, code_name: str, steps: int, seed: int) -> tuple[dict[str, torch.Tensor], int]:
    """The InfoGAN figure for one continuous code: a row per category value of the first discrete
    code, columns sweeping ``code_name`` over its traversal range, every other code fixed
    (continuous codes at 0, noise at one fixed draw)."""
    code = latent[code_name]
    sweep = code.traverse(steps)  # [steps, dim]
    cat = first_categorical(latent)
    rows = cat.dim if cat is not None else 1
    base = fixed_codes(latent, 1, seed)
    codes = {}
    for c in latent:
        if c.name == code_name:
            codes[c.name] = sweep.repeat(rows, 1)
        elif cat is not None and c.name == cat.name:
            codes[c.name] = torch.eye(rows).repeat_interleave(steps, dim=0)
        elif c.continuous:
            codes[c.name] = torch.zeros(rows * steps, c.dim)
        else:
            codes[c.name] = base[c.name].expand(rows * steps, c.dim).clone()
    return codes, steps


def loss_curve(records: Sequence[dict], path: str | Path, keys: Sequence[str], width: int = 640, height: int = 360) -> None:
    """A plain line plot of ``keys`` over ``step`` (no plotting library needed)."""
    from PIL import Image, ImageDraw

    colors = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75)]
    series = {k: [(r["step"], r[k]) for r in records if isinstance(r.get(k), (int, float)) and math.isfinite(r[k])] for k in keys}
    series = {k: v for k, v in series.items() if v}
    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)
    left, right, top, bottom = 50, width - 150, 20, height - 30
    draw.rectangle([left, top, right, bottom], outline=(0, 0, 0))
    if series:
        xs = [x for v in series.values() for x, _ in v]
        ys = [y for v in series.values() for _, y in v]
        x0, x1 = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
        y0, y1 = min(ys), max(ys) if max(ys) > min(ys) else min(ys) + 1
        def px(x, y):
            return left + (x - x0) / (x1 - x0) * (right - left), bottom - (y - y0) / (y1 - y0) * (bottom - top)
        for i, (k, v) in enumerate(series.items()):
            color = colors[i % len(colors)]
            if len(v) > 1:
                draw.line([px(x, y) for x, y in v], fill=color, width=2)
            else:  # a single record (a very short run): a dot, so the figure is not empty
                cx, cy = px(*v[0])
                draw.ellipse([cx - 3, cy - 3, cx + 3, cy + 3], fill=color)
            draw.text((right + 10, top + 16 * i), k, fill=color)
        draw.text((5, top), f"{y1:.3g}", fill=(0, 0, 0))
        draw.text((5, bottom - 10), f"{y0:.3g}", fill=(0, 0, 0))
        draw.text((left, bottom + 8), f"step {x0}", fill=(0, 0, 0))
        draw.text((right - 70, bottom + 8), f"step {x1}", fill=(0, 0, 0))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())
