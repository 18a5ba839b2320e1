"""Differentiable random image transforms, registered as augmentations (``translate``, ``affine``).

DiffAugment (Zhao et al. 2020) applies the same kind of transform to real and generated images
before the discriminator sees them, so it cannot memorise exact pixel positions and the
generator's gradient still flows through. Every draw comes from the ``rng`` passed in.
"""

from __future__ import annotations

import math
from typing import Protocol

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field

from genfw.contexts import AugmentationContext


class Augmentation(Protocol):
    """``augment(images, rng) -> images``: float ``[n, C, H, W]`` in and out, differentiable in
    ``images``, drawing every random number from ``rng``."""

    def __call__(self, images: torch.Tensor, rng: torch.Generator) -> torch.Tensor: ...


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
    theta = torch.stack(
        [
            torch.stack([cos, -sin, u[:, 2] * 2 * shift_px / w], 1),
            torch.stack([sin, cos, u[:, 3] * 2 * shift_px / h], 1),
        ],
        1,
    ).to(x.dtype)
    return _resample(x, theta, "bilinear")


def _resample(x: torch.Tensor, theta: torch.Tensor, mode: str) -> torch.Tensor:
    """``x`` sampled through the affine maps ``theta [n, 2, 3]`` (zero fill); differentiable in ``x``."""
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode=mode, padding_mode="zeros", align_corners=False)


class TranslateParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_px: int = Field(2, ge=0, le=64, description="Shift each image by up to this many whole pixels per axis")


class Translate:
    """DiffAugment's translation: whole-pixel shifts with zero fill."""

    def __init__(self, params: TranslateParams, ctx: AugmentationContext):
        _, h, w = ctx.image_shape
        if params.max_px >= min(h, w):
            raise ValueError(
                f"max_px {params.max_px} would shift {h}x{w} images out of the frame: use less than {min(h, w)}"
            )
        self.max_px = params.max_px

    def __call__(self, images: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        return random_translate(images, self.max_px, rng) if self.max_px else images


class AffineParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    degrees: float = Field(15.0, ge=0, le=180, description="Rotate by up to this many degrees")
    scale: float = Field(0.1, ge=0, lt=1, description="Scale by a factor in [1 - scale, 1 + scale]")
    shift_px: float = Field(2.0, ge=0, le=64, description="Shift by up to this many pixels per axis")


class Affine:
    """Small random rotations, scalings and shifts (bilinear, zero fill)."""

    def __init__(self, params: AffineParams, ctx: AugmentationContext):
        self.params = params

    def __call__(self, images: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        p = self.params
        return random_affine(images, rng, p.degrees, p.scale, p.shift_px)
