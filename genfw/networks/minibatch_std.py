"""The minibatch standard-deviation feature (Karras et al. 2018, "Progressive Growing of GANs",
section 3): a discriminator sees how much the images of a small group differ from each other.

A generator that draws nearly the same image for many latents gives groups of nearly no spread,
which real images never have; D can see that from this one feature and push G back toward the
data's variety, something a per-image discriminator cannot notice.
"""

from __future__ import annotations

from typing import Annotated

import torch
from pydantic import AfterValidator, Field
from torch import nn


def _a_group(v: int) -> int:
    if v == 1:
        raise ValueError("a group of 1 image has no spread: use 0 (off) or a group size of 2 or more (e.g. 4)")
    return v


#: A network parameter that turns the feature on: the group size (2 or more; 4 in the paper),
#: 0 for off. Give it a default and a description where it is used:
#: ``minibatch_std: MinibatchStdGroup = Field(0, description=...)``.
MinibatchStdGroup = Annotated[int, Field(ge=0, le=64), AfterValidator(_a_group)]


def group_size_for(batch: int, group_size: int) -> int:
    """The largest group size <= ``group_size`` that divides ``batch`` (1: no group, no spread)."""
    return next(g for g in range(min(group_size, batch), 0, -1) if batch % g == 0)


def minibatch_stddev(x: torch.Tensor, group_size: int) -> torch.Tensor:
    """``[n, ...]`` -> ``[n, 1]``: for each sample, the standard deviation of every feature over its
    group, averaged over the features.

    Groups are runs of consecutive samples (not strided as in the paper's code), so a batch made
    of a real half and a fake half of sizes divisible by the group size never mixes the two.
    Computed in float32: the variance of a few nearly equal bf16 values is mostly rounding.
    """
    n = x.shape[0]
    g = group_size_for(n, group_size)
    groups = x.float().reshape(n // g, g, -1)
    std = torch.sqrt(groups.var(dim=1, unbiased=False) + 1e-8).mean(dim=1)  # [n // g]
    return std.repeat_interleave(g).view(n, 1).to(x.dtype)


class MinibatchStdDev(nn.Module):
    """Appends :func:`minibatch_stddev` of its input to each sample's features: ``[n, f] -> [n, f + 1]``
    (the input is flattened per sample first)."""

    def __init__(self, group_size: int):
        super().__init__()
        if group_size < 2:
            raise ValueError(f"a minibatch standard deviation needs groups of at least 2 images, not {group_size}")
        self.group_size = group_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.flatten(1)
        return torch.cat([flat, minibatch_stddev(flat, self.group_size)], dim=1)
