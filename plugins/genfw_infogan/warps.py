"""Random per-image warps of a batch, drawn from a given generator: InfoGAN's DiffAugment
translation (``random_translate``) and the second view of the IIC loss (``random_affine``)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def random_translate(x: torch.Tensor, max_px: int, rng: torch.Generator) -> torch.Tensor:
    """Each image shifted by its own whole number of pixels in [-max_px, max_px] per axis, the
    uncovered border filled with zeros. Differentiable in ``x`` (DiffAugment's translation)."""
    n, _, h, w = x.shape
    shift = torch.randint(-max_px, max_px + 1, (n, 2), generator=rng, device=x.device).to(x.dtype)
    theta = torch.zeros(n, 2, 3, dtype=x.dtype, device=x.device)
    theta[:, 0, 0] = 1
    theta[:, 1, 1] = 1
    # affine_grid works in [-1, 1] coordinates: one pixel is 2 / size. Sampling at (p - shift)
    # moves the content by +shift.
    theta[:, 0, 2] = -2 * shift[:, 0] / w
    theta[:, 1, 2] = -2 * shift[:, 1] / h
    return _resample(x, theta, "nearest")


def random_affine(x: torch.Tensor, rng: torch.Generator, degrees: float, scale: float, shift_px: float) -> torch.Tensor:
    """Each image rotated, scaled and shifted by its own random amount (bilinear, zero fill)."""
    n, _, h, w = x.shape
    u = torch.rand(n, 4, generator=rng, device=x.device).mul_(2).sub_(1)
    angle = u[:, 0] * math.radians(degrees)
    zoom = 1 + u[:, 1] * scale
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack([
        torch.stack([cos, -sin, u[:, 2] * 2 * shift_px / w], 1),
        torch.stack([sin, cos, u[:, 3] * 2 * shift_px / h], 1),
    ], 1).to(x.dtype)
    return _resample(x, theta, "bilinear")


def _resample(x: torch.Tensor, theta: torch.Tensor, mode: str) -> torch.Tensor:
    """``x`` sampled through the affine maps ``theta [n, 2, 3]`` (zero fill); differentiable in ``x``."""
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode=mode, padding_mode="zeros", align_corners=False)
