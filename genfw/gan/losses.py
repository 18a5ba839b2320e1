"""Adversarial losses, registered as ``non_saturating``, ``hinge`` and ``wgan_gp``.

Each takes the discriminator's (critic's) raw outputs, ``[n]`` logits or scores, and returns
scalar losses; models call them the same way whichever is configured::

    d_loss = adv.discriminator_loss(real_logits, fake_logits) + adv.penalty(critic, real, fake, rng)
    g_loss = adv.generator_loss(fake_logits)

``penalty`` is zero except for ``wgan_gp``, where it is the gradient penalty of Gulrajani et al.
2017 (a critic with BatchNorm mixes samples and breaks the penalty's per-sample meaning: use
``norm: "none"`` or ``"instance"`` in the discriminator with it).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from genfw.contexts import LossContext


class AdversarialLoss(nn.Module):
    """The interface of adversarial losses (subclasses define the first two)."""

    #: Whether :meth:`penalty` is anything but zero (so models can skip computing it).
    has_penalty = False

    def discriminator_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def generator_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def penalty(
        self,
        critic: Callable[[torch.Tensor], torch.Tensor],
        real: torch.Tensor,
        fake: torch.Tensor,
        rng: torch.Generator,
    ) -> torch.Tensor:
        """A regulariser of the discriminator's step (0 unless the loss defines one)."""
        return real.new_zeros((), dtype=torch.float32)


class NonSaturatingParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NonSaturatingLoss(AdversarialLoss):
    """The original GAN loss with the non-saturating generator objective (Goodfellow et al. 2014)."""

    def __init__(self, params: NonSaturatingParams, ctx: LossContext):
        super().__init__()

    def discriminator_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(
            real_logits, torch.ones_like(real_logits)
        ) + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))

    def generator_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


class HingeParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HingeLoss(AdversarialLoss):
    """The hinge loss of SAGAN / BigGAN (Lim & Ye 2017; Miyato et al. 2018)."""

    def __init__(self, params: HingeParams, ctx: LossContext):
        super().__init__()

    def discriminator_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()

    def generator_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        return -fake_logits.mean()


class WassersteinGPParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    gp_weight: float = Field(10.0, ge=0, le=1e4, description="Weight of the gradient penalty (the paper: 10)")
    drift: float = Field(
        0.001, ge=0, le=1, description="Weight of E[D(real)^2], keeping scores near 0 (progressive GANs: 0.001)"
    )


class WassersteinGPLoss(AdversarialLoss):
    """The Wasserstein loss with a gradient penalty (WGAN-GP, Gulrajani et al. 2017)."""

    def __init__(self, params: WassersteinGPParams, ctx: LossContext):
        super().__init__()
        self.params = params
        self.has_penalty = params.gp_weight > 0

    def discriminator_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        return fake_logits.mean() - real_logits.mean() + self.params.drift * real_logits.pow(2).mean()

    def generator_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        return -fake_logits.mean()

    def penalty(
        self,
        critic: Callable[[torch.Tensor], torch.Tensor],
        real: torch.Tensor,
        fake: torch.Tensor,
        rng: torch.Generator,
    ) -> torch.Tensor:
        """gp_weight * E[(|grad D(x_hat)| - 1)^2] at random points between real and fake samples."""
        if not self.params.gp_weight:
            return super().penalty(critic, real, fake, rng)
        eps = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), generator=rng, device=real.device, dtype=real.dtype)
        x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
        scores = critic(x_hat).float()
        (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
        norms = grad.flatten(1).float().norm(dim=1)
        return self.params.gp_weight * (norms - 1).pow(2).mean()
