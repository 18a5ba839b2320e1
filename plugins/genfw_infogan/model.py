"""InfoGAN as a genfw model: it owns its optimizers and its train step."""

from __future__ import annotations

import copy
from typing import Annotated, ClassVar

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from genfw.components import ModelContext
from genfw.model import Model
from genfw_infogan.warps import random_translate


class InfoGANParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lr_d: float = Field(2e-4, gt=0, description="Adam learning rate of the discriminator (trunk + D head)")
    lr_g: float = Field(1e-3, gt=0, description="Adam learning rate of the generator and the Q head")
    betas: tuple[Annotated[float, Field(ge=0, lt=1)], Annotated[float, Field(ge=0, lt=1)]] = Field(
        (0.5, 0.999), description="Adam betas of both optimizers, each in [0, 1)")
    info_updates_trunk: bool = Field(
        True, description="The info loss also trains the shared D trunk (as in the paper and its code)"
    )
    fused_adam: bool = Field(True, description="Use torch's fused Adam kernel (same update, about 10% faster on CPU)")
    translate_px: int = Field(
        0, ge=0, description="Shift every image D and Q see (real and fake) by up to this many pixels (DiffAugment)"
    )
    ema_decay: float = Field(
        0.0, ge=0, lt=1,
        description="Keep an exponential moving average of G's weights with this decay (e.g. 0.999) and use it as "
        "the run's generator (samples, export, eval); 0: off",
    )


class InfoGAN(Model):
    """Generator G, discriminator trunk T with a D head and a Q head, and the info loss L_I.

    Each step: (1) the discriminator step minimises the GAN loss on real and fake images, plus
    lambda * L_I on the same (detached) fakes when ``info_updates_trunk``, so the trunk learns
    features Q can read codes from; (2) the generator step minimises the non-saturating GAN loss
    plus lambda * L_I, updating G and the Q head. In (2) the trunk and D head are frozen, so their
    weights get no gradient there at all (and none is computed).

    With an ``invariance`` loss (e.g. ``invariant_clustering``), the D step also feeds a warped
    copy of the real batch through the trunk and adds the loss between Q's outputs on the two
    views, training the trunk; the G step adds it again on the same (detached) features, which
    trains the Q head (whose optimizer is G's).
    """

    network_roles: ClassVar[tuple[str, ...]] = ("generator", "discriminator")
    loss_roles: ClassVar[tuple[str, ...]] = ("info",)
    optional_loss_roles: ClassVar[tuple[str, ...]] = ("invariance",)

    def __init__(self, params: InfoGANParams, ctx: ModelContext):
        super().__init__()
        self.params = params
        self.latent = ctx.latent
        self.G = ctx.networks["generator"]
        self.D = ctx.networks["discriminator"]
        for part in ("trunk", "d_head", "q_head"):
            if not isinstance(getattr(self.D, part, None), nn.Module):
                raise ValueError(f"the InfoGAN discriminator network must have a '{part}' submodule")
        self.info = ctx.losses["info"]
        self.invariance = ctx.losses.get("invariance")
        self._views: tuple[torch.Tensor, torch.Tensor] | None = None  # trunk features, D step -> G step
        self._d_frozen = list(self.D.trunk.parameters()) + list(self.D.d_head.parameters())
        fused = params.fused_adam or None  # None: torch's default implementation
        self.opt_d = torch.optim.Adam(self._d_frozen, lr=params.lr_d, betas=params.betas, fused=fused)
        self.opt_g = torch.optim.Adam(
            list(self.G.parameters()) + list(self.D.q_head.parameters()), lr=params.lr_g, betas=params.betas, fused=fused
        )
        # The averaged generator only ever runs without gradients; its step count is a buffer so
        # that a resumed run continues the same average.
        self.G_ema = copy.deepcopy(self.G).requires_grad_(False) if params.ema_decay else None
        if self.G_ema is not None:  # only then, so checkpoints of runs without EMA keep their keys
            self.register_buffer("ema_updates", torch.zeros((), dtype=torch.float32))

    @property
    def generator(self) -> nn.Module:
        """G, or its moving average when ``ema_decay`` is set (what samples and the export use)."""
        return self.G_ema if self.G_ema is not None else self.G

    @torch.no_grad()
    def update_ema(self) -> None:
        """Move G_ema toward G. The decay ramps up as (1 + t) / (10 + t) to ``ema_decay``, so the
        random initial weights do not linger; BatchNorm statistics are copied, not averaged."""
        if self.G_ema is None:
            return
        self.ema_updates += 1
        t = self.ema_updates
        weight = 1 - torch.clamp((1 + t) / (10 + t), max=self.params.ema_decay)  # a tensor: no host sync
        for avg, p in zip(self.G_ema.parameters(), self.G.parameters()):
            avg.lerp_(p, weight)
        for avg, b in zip(self.G_ema.buffers(), self.G.buffers()):
            avg.copy_(b)

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"d": self.opt_d, "g": self.opt_g}

    # The two objectives are methods of their own so tests can inspect where gradients go.
    def d_step_losses(self, real: torch.Tensor, fake: torch.Tensor, codes: dict[str, torch.Tensor],
                      warped: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """The discriminator step's losses on real images and detached fakes."""
        # Real and fake go through separately so BatchNorm never mixes them (DCGAN's advice).
        feats_real = self.D.trunk(real)
        d_real = self.D.d_head(feats_real).float().view(-1)
        feats_fake = self.D.trunk(fake.detach())
        d_fake = self.D.d_head(feats_fake).float().view(-1)
        gan = F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real)) + F.binary_cross_entropy_with_logits(
            d_fake, torch.zeros_like(d_fake)
        )
        out = {"d_gan": gan, "d_real": torch.sigmoid(d_real).mean(), "d_fake": torch.sigmoid(d_fake).mean()}
        total = gan
        if self.params.info_updates_trunk:
            info, _ = self.info(self.D.q_head(feats_fake), codes)
            out["d_info"] = info
            total = total + info
        if warped is not None:
            feats_warped = self.D.trunk(warped)
            inv, _ = self.invariance(self.D.q_head(feats_real), self.D.q_head(feats_warped))
            self._views = (feats_real.detach(), feats_warped.detach())
            out["d_invariance"] = inv
            total = total + inv
        out["d_loss"] = total
        return out

    def g_step_losses(self, fake: torch.Tensor, codes: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The generator step's losses (call with the trunk and D head frozen)."""
        feats = self.D.trunk(fake)
        logits = self.D.d_head(feats).float().view(-1)
        gan = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))  # non-saturating
        info, per_code = self.info(self.D.q_head(feats), codes)
        out = {"g_gan": gan, "info_loss": info, "g_loss": gan + info}
        if self._views is not None:
            feats_real, feats_warped = self._views
            self._views = None
            inv, inv_per_code = self.invariance(self.D.q_head(feats_real), self.D.q_head(feats_warped))
            out["q_invariance"] = inv
            out["g_loss"] = out["g_loss"] + inv
            out.update({f"invariance_{name}": v for name, v in inv_per_code.items()})
        out.update({f"info_{name}": nll for name, nll in per_code.items()})
        return out

    def train_step(self, real: torch.Tensor, rng: torch.Generator) -> dict[str, torch.Tensor]:
        codes = self.latent.sample(real.shape[0], rng, real.device)
        fake = self.G(self.latent.concat(codes))
        warped = self.invariance.warp(real, rng) if self.invariance is not None else None
        if self.params.translate_px:
            real = random_translate(real, self.params.translate_px, rng)
            fake = random_translate(fake, self.params.translate_px, rng)

        self.opt_d.zero_grad(set_to_none=True)
        d_out = self.d_step_losses(real, fake, codes, warped)
        self.backward(d_out["d_loss"])
        self.step(self.opt_d)

        self.opt_g.zero_grad(set_to_none=True)
        self._freeze_d(True)
        try:
            g_out = self.g_step_losses(fake, codes)
            self.backward(g_out["g_loss"])
        finally:
            self._freeze_d(False)
        self.step(self.opt_g)
        self.update_ema()
        return {k: v.detach() for k, v in {**d_out, **g_out}.items()}

    def _freeze_d(self, frozen: bool) -> None:
        for p in self._d_frozen:
            p.requires_grad_(not frozen)

    @torch.no_grad()
    def infer_codes(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Q's raw outputs per informative code for images (eval mode, so batch-independent)."""
        was_training = self.D.training
        self.D.eval()
        try:
            q_out = self.D.q_head(self.D.trunk(images)).float()
        finally:
            self.D.train(was_training)
        return {name: q_out[:, s] for name, s in self.latent.q_slices().items()}

