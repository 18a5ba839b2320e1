"""IIC (Invariant Information Clustering, Ji et al. 2019) as an auxiliary loss for InfoGAN's Q.

InfoGAN's info loss only asks that Q can tell G's categories apart. On MNIST the generator
often satisfies that with categories that mix digits (4/9, 3/5/8) told apart by small style
cues, and the mutual information saturates at ln k while the categories are still wrong. This
loss adds the missing prior, from unlabelled real images: a digit's category must not change
when the image is rotated, scaled or shifted a little. It maximises the mutual information
between Q's categorical predictions for a real image and for a warped copy of it, which makes
them both confident and balanced over the categories. The generator then learns categories
that Q can keep apart under warps: digit identity, not pen style. Continuous codes are left
out: rotation and width are what they should capture.
"""

from __future__ import annotations

import functools
import operator

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from genfw.api import LossContext, random_affine


class InvariantClusteringParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    weight: float = Field(1.0, ge=0, description="Weight of the loss (minus the mutual information, in nats)")
    degrees: float = Field(15.0, ge=0, le=180, description="Warps rotate by up to this many degrees")
    scale: float = Field(0.1, ge=0, lt=1, description="Warps scale by a factor in [1 - scale, 1 + scale]")
    shift_px: float = Field(2.0, ge=0, description="Warps shift by up to this many pixels per axis")


class InvariantClusteringLoss(nn.Module):
    """``warp(images, rng)`` makes the second view; ``loss(q_a, q_b) -> (weighted total,
    {code name: -I(view a; view b)})`` over the one-hot (categorical) codes' Q outputs."""

    def __init__(self, params: InvariantClusteringParams, ctx: LossContext):
        super().__init__()
        self.params = params
        self.slices = {name: s for name, s in ctx.latent.prediction_slices().items() if ctx.latent[name].one_hot}
        if not self.slices:
            raise ValueError("needs a categorical latent code to cluster with: add one to `latent` or remove this loss")

    def warp(self, images: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        return random_affine(images, rng, self.params.degrees, self.params.scale, self.params.shift_px)

    def forward(self, q_a: torch.Tensor, q_b: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        per_code = {name: iic_loss(q_a[:, s].float(), q_b[:, s].float()) for name, s in self.slices.items()}
        # reduce, not sum(): the same additions without sum()'s int start, so the total types as a tensor.
        return self.params.weight * functools.reduce(operator.add, per_code.values()), per_code


def iic_loss(logits_a: torch.Tensor, logits_b: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Minus the mutual information (nats) between the categories of two views of a batch.

    The joint distribution of the two views' categories is estimated over the batch and
    symmetrised; its minimum, -ln k, is reached when each view's prediction is confident,
    the views agree, and the categories are used equally often.
    """
    joint = torch.softmax(logits_a, 1).t() @ torch.softmax(logits_b, 1) / logits_a.shape[0]
    joint = ((joint + joint.t()) / 2).clamp_min(eps)
    marginal_a, marginal_b = joint.sum(1, keepdim=True), joint.sum(0, keepdim=True)
    return -(joint * (joint.log() - marginal_a.log() - marginal_b.log())).sum()
