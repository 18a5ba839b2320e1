"""A plain GAN: one discriminator step and one generator step per batch."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator
from torch import nn

from genfw.api import (
    AdversarialLoss,
    Batch,
    DiscriminatorParts,
    ExponentialMovingAverage,
    LossContext,
    Model,
    ModelContext,
    NonSaturatingLoss,
    NonSaturatingParams,
    Roles,
    frozen,
)


class DCGANParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ema_decay: float = Field(
        0.999, ge=0, lt=1, description="Sample and export a moving average of G's weights with this decay; 0: G itself"
    )
    top_k: float = Field(
        1.0,
        gt=0,
        le=1,
        description="From top_k_step on, G learns only from this fraction of the batch's fakes (rounded up), "
        "those D rates most real; under torchrun, of each process's share of the batch. Top-k training "
        "(Sinha et al. 2020), switched on at one step instead of annealed. g_loss is then logged over "
        "those fakes. 1: all",
    )
    top_k_step: int = Field(0, ge=0, le=100_000_000, description="The step from which top_k applies")

    @model_validator(mode="after")
    def _top_k_step_needs_top_k(self) -> DCGANParams:
        if self.top_k_step and self.top_k == 1.0:
            raise ValueError(
                "top_k_step is set but top_k is 1 (every fake), so it would change nothing: "
                "set top_k below 1 (e.g. 0.5) or remove top_k_step"
            )
        return self


class DCGAN(Model):
    """DCGAN (Radford et al. 2016): a generator and a discriminator, an adversarial loss (default
    non-saturating; hinge or wgan_gp by config) and optional DiffAugment for what D sees."""

    network_roles: ClassVar[Roles] = Roles(required=("generator", "discriminator"))
    loss_roles: ClassVar[Roles] = Roles(optional=("adversarial",))
    augmentation_roles: ClassVar[Roles] = Roles(optional=("discriminator",))
    optimizer_defaults: ClassVar[dict[str, dict[str, Any]]] = {
        "discriminator": {"type": "adam", "lr": 2e-4, "betas": (0.5, 0.999)},
        "generator": {"type": "adam", "lr": 2e-4, "betas": (0.5, 0.999)},
    }
    progress_keys: ClassVar[tuple[str, ...]] = ("d_loss", "g_loss", "d_real", "d_fake")

    params: DCGANParams

    def __init__(self, params: DCGANParams, ctx: ModelContext):
        super().__init__(params, ctx)
        self.G = ctx.networks["generator"]
        self.D = ctx.networks["discriminator"]
        # D's trunk and D head, not D's forward: any discriminator network works, including those
        # whose forward also returns an aux head's output (InfoGAN's).
        self.parts = DiscriminatorParts.of(self.D, "the DCGAN", aux=False)
        self.adversarial: AdversarialLoss = ctx.losses.get("adversarial") or NonSaturatingLoss(
            NonSaturatingParams(), LossContext(ctx.latent, "adversarial")
        )
        self.augment = ctx.augmentations.get("discriminator")
        self.opt_d = self.optimizer("discriminator", self.D.parameters())
        self.opt_g = self.optimizer("generator", self.G.parameters())
        self.G_ema = ExponentialMovingAverage(self.G, params.ema_decay) if params.ema_decay else None

    @property
    def generator(self) -> nn.Module:
        return self.G_ema.average if self.G_ema is not None else self.G

    def prepare_generator(self, rng: torch.Generator) -> None:
        if self.G_ema is not None:  # the average's own BatchNorm statistics, not G's copied ones
            self.G_ema.recompute_batchnorm(self.prior_inputs(rng))

    def curves(self) -> dict[str, tuple[str, ...]]:
        return {"losses": ("d_loss", "g_loss"), "D(x) on real and fake": ("d_real", "d_fake")}

    def _d(self, images: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        """D's logits for images (augmented as D always sees them), ``[n]`` float32."""
        if self.augment is not None:
            images = self.augment(images, rng)
        return self._logits(images)

    def _logits(self, images: torch.Tensor) -> torch.Tensor:
        return self.parts.d_head(self.parts.trunk(images)).float().view(-1)

    def _best_fakes(self, fake_logits: torch.Tensor, step: int) -> torch.Tensor:
        """The logits G learns from at ``step``: the ``top_k`` fraction D rates most real, rounded up."""
        if self.params.top_k == 1.0 or step < self.params.top_k_step:
            return fake_logits
        k = math.ceil(self.params.top_k * fake_logits.numel())
        return fake_logits.topk(k).values

    def train_step(self, batch: Batch, rng: torch.Generator) -> dict[str, torch.Tensor]:
        real = batch.images
        codes = self.latent.sample(real.shape[0], rng, real.device)
        fake = self.G(self.latent.encode(codes))

        self.opt_d.zero_grad(set_to_none=True)
        # Real and fake go through separately so BatchNorm never mixes them (DCGAN's advice).
        d_real, d_fake = self._d(real, rng), self._d(fake.detach(), rng)
        d_loss = self.adversarial.discriminator_loss(d_real, d_fake)
        out = {"d_real": torch.sigmoid(d_real).mean(), "d_fake": torch.sigmoid(d_fake).mean()}
        if self.adversarial.has_penalty:
            penalty = self.adversarial.penalty(self._logits, real, fake, rng)
            out["d_penalty"] = penalty
            d_loss = d_loss + penalty
        self.backward(d_loss)
        self.step(self.opt_d)

        self.opt_g.zero_grad(set_to_none=True)
        with frozen(self.D.parameters()):
            g_loss = self.adversarial.generator_loss(self._best_fakes(self._d(fake, rng), batch.step))
            self.backward(g_loss)
        self.step(self.opt_g)
        if self.G_ema is not None:
            self.G_ema.update(self.G)
        out.update(d_loss=d_loss, g_loss=g_loss)
        return {k: v.detach() for k, v in out.items()}
