"""A class-conditional GAN as a genfw model: the generator draws the class it is given, the
discriminator judges an image together with its class.

The class reaches the generator as a latent code fed by the labels (``"from_labels": true``): its
one-hot vector is part of the generator's input, so the exported ONNX file has a ``class`` input
whose categories are the dataset's class names. Real images come with their labels in
``batch.labels``; fakes are drawn for classes sampled from the class frequencies (the code's
prior).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from genfw.api import (
    AdversarialLoss,
    Batch,
    ClassProjection,
    ConfigValueError,
    DataSpec,
    DiscriminatorParts,
    ExponentialMovingAverage,
    LatentSpec,
    LossContext,
    Model,
    ModelContext,
    NonSaturatingLoss,
    NonSaturatingParams,
    Roles,
    eval_mode,
    features_read_by,
    frozen,
)

if TYPE_CHECKING:
    from genfw.api import EvalContext


class ConditionalGANParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    head: Literal["projection", "acgan"] = Field(
        "projection",
        description="How D uses the class: projection (an inner product of the class's embedding with "
        "D's features, Miyato & Koyama 2018) or acgan (D also classifies every image, Odena et al. 2017)",
    )
    class_weight: float = Field(1.0, ge=0, le=100, description="acgan: the weight of the classification loss")
    n_critic: int = Field(
        1,
        ge=1,
        le=100,
        description="Discriminator steps per generator step (the generator steps on every n_critic-th batch)",
    )
    ema_decay: float = Field(
        0.999, ge=0, lt=1, description="Sample and export a moving average of G's weights with this decay; 0: G itself"
    )


class ConditionalGAN(Model):
    """A generator G(z, class) and a discriminator D(x, class) with a trunk and a D head.

    ``projection``: D(x, y) = d_head(h) + <embed(y), h> with h = trunk(x), the embedding
    spectrally normalised like the rest of D. ``acgan``: D's ``aux_head`` classifies every image;
    D minimises the cross-entropy on real images (their labels) and fakes (their requested
    classes), G the cross-entropy of its fakes. Unlabelled real images (label -1) count for the
    adversarial loss only.
    """

    needs: ClassVar[tuple[str, ...]] = ("labels",)
    network_roles: ClassVar[Roles] = Roles(required=("generator", "discriminator"))
    loss_roles: ClassVar[Roles] = Roles(optional=("adversarial",))
    augmentation_roles: ClassVar[Roles] = Roles(optional=("discriminator",))
    optimizer_defaults: ClassVar[dict[str, dict[str, Any]]] = {
        "discriminator": {"type": "adam", "lr": 2e-4, "betas": (0.5, 0.999)},
        "generator": {"type": "adam", "lr": 2e-4, "betas": (0.5, 0.999)},
    }
    progress_keys: ClassVar[tuple[str, ...]] = ("d_loss", "g_loss", "d_real", "d_fake")

    params: ConditionalGANParams

    @classmethod
    def check(cls, params: ConditionalGANParams, latent: LatentSpec, data: DataSpec) -> None:
        if latent.label_code is None:
            raise ConfigValueError(
                "the conditional GAN needs a class code fed by the labels; add "
                '{"name": "class", "type": "categorical", "from_labels": true} to latent',
                path="latent",
            )

    @classmethod
    def network_outputs(cls, params: ConditionalGANParams, latent: LatentSpec) -> dict[str, int]:
        code = latent.label_code
        return {"discriminator": code.dim} if params.head == "acgan" and code is not None else {}

    def __init__(self, params: ConditionalGANParams, ctx: ModelContext):
        super().__init__(params, ctx)
        self.G = ctx.networks["generator"]
        self.D = ctx.networks["discriminator"]
        self.parts = DiscriminatorParts.of(self.D, "the conditional GAN", aux=params.head == "acgan")
        class_code = self.latent.label_code
        assert class_code is not None  # check() made sure
        self.class_code = class_code
        d_params = list(self.parts.trunk.parameters()) + list(self.parts.d_head.parameters())
        if params.head == "projection":
            self.embed = ClassProjection(self.class_code.dim, features_read_by(self.parts.d_head))
            d_params += list(self.embed.parameters())
        else:
            d_params += list(self.parts.aux.parameters())
        self.adversarial: AdversarialLoss = ctx.losses.get("adversarial") or NonSaturatingLoss(
            NonSaturatingParams(), LossContext(ctx.latent, "adversarial")
        )
        self.augment = ctx.augmentations.get("discriminator")
        self._d_params = d_params
        self.opt_d = self.optimizer("discriminator", d_params)
        self.opt_g = self.optimizer("generator", self.G.parameters())
        self.G_ema = ExponentialMovingAverage(self.G, params.ema_decay) if params.ema_decay else None

    def curves(self) -> dict[str, tuple[str, ...]]:
        acgan = self.params.head == "acgan"
        return {
            "losses": ("d_loss", "g_loss"),
            "D(x) on real and fake": ("d_real", "d_fake"),
            **(
                {
                    "classification (cross-entropy)": ("d_class_real", "d_class_fake", "g_class"),
                    "classifier accuracy on held-out images (per epoch)": ("classifier_accuracy",),
                }
                if acgan
                else {}
            ),
        }

    @property
    def generator(self) -> nn.Module:
        return self.G_ema.average if self.G_ema is not None else self.G

    def prepare_generator(self, rng: torch.Generator) -> None:
        if self.G_ema is not None:  # the average's own BatchNorm statistics, not G's copied ones
            self.G_ema.recompute_batchnorm(self.prior_inputs(rng))

    # -- the discriminator -------------------------------------------------------------------------
    def critic(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """D's logits ``[n]`` for images of classes ``labels`` (-1: unknown), and with the AC-GAN
        head its class logits ``[n, k]``."""
        h = self.parts.trunk(images)
        logits = self.parts.d_head(h).float().view(-1)
        if self.params.head == "projection":
            # <embed(y), h>; an unknown class projects onto nothing (its one-hot row is zero).
            logits = logits + self.embed.project(self.class_code.from_label_indices(labels), h)
            return logits, None
        return logits, self.parts.aux(h).float()

    @torch.no_grad()
    def classify(self, images: torch.Tensor) -> torch.Tensor:
        """The AC-GAN head's class logits for images, in eval mode."""
        with eval_mode(self.D):
            return self.parts.aux(self.parts.trunk(images)).float()

    def _class_loss(self, class_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        known = labels >= 0
        if not bool(known.any()):
            return class_logits.sum() * 0.0
        return F.cross_entropy(class_logits[known], labels[known])

    # -- one batch ---------------------------------------------------------------------------------
    def train_step(self, batch: Batch, rng: torch.Generator) -> dict[str, torch.Tensor]:
        real = batch.images
        real_labels = batch.labels
        assert real_labels is not None  # needs = ("labels",): genfw validate made sure
        n = real.shape[0]
        codes = self.latent.sample(n, rng, real.device)
        fake_labels = codes[self.class_code.name].argmax(dim=1)
        fake = self.G(self.latent.encode(codes))
        if self.augment is not None:
            real = self.augment(real, rng)
        seen_fake = self.augment(fake, rng) if self.augment is not None else fake

        self.opt_d.zero_grad(set_to_none=True)
        # Real and fake go through separately so BatchNorm never mixes them (DCGAN's advice).
        d_real, class_real = self.critic(real, real_labels)
        d_fake, class_fake = self.critic(seen_fake.detach(), fake_labels)
        d_loss = self.adversarial.discriminator_loss(d_real, d_fake)
        out = {"d_real": torch.sigmoid(d_real).mean(), "d_fake": torch.sigmoid(d_fake).mean()}
        if self.adversarial.has_penalty:  # interpolates between real and fake, judged as the real class
            penalty = self.adversarial.penalty(lambda x: self.critic(x, real_labels)[0], real, seen_fake, rng)
            out["d_penalty"] = penalty
            d_loss = d_loss + penalty
        if class_real is not None and class_fake is not None:
            out["d_class_real"] = self._class_loss(class_real, real_labels)
            out["d_class_fake"] = F.cross_entropy(class_fake, fake_labels)
            d_loss = d_loss + self.params.class_weight * (out["d_class_real"] + out["d_class_fake"])
        self.backward(d_loss)
        self.step(self.opt_d)
        out["d_loss"] = d_loss

        if batch.step % self.params.n_critic == 0:  # logged on these steps only, averaged over them
            self.opt_g.zero_grad(set_to_none=True)
            with frozen(self._d_params):
                g_logits, g_class = self.critic(seen_fake, fake_labels)
                g_loss = self.adversarial.generator_loss(g_logits)
                if g_class is not None:
                    out["g_class"] = F.cross_entropy(g_class, fake_labels)
                    g_loss = g_loss + self.params.class_weight * out["g_class"]
                self.backward(g_loss)
            self.step(self.opt_g)
            if self.G_ema is not None:
                self.G_ema.update(self.G)
            out["g_loss"] = g_loss
        return {k: v.detach() for k, v in out.items()}

    # -- what the conditional GAN adds to a run's record -------------------------------------------
    def epoch_metrics(self, ctx: EvalContext) -> dict[str, float]:
        from genfw_cgan import evaluation

        return evaluation.classifier_accuracy(self, ctx) if self.params.head == "acgan" else {}

    def evaluate(self, ctx: EvalContext) -> dict[str, Any]:
        from genfw_cgan import evaluation

        return {"conditional": evaluation.conditional_accuracy(ctx, self.class_code)}

    @classmethod
    def describe_evaluation(cls, sections: dict[str, Any]) -> list[str]:
        from genfw_cgan import evaluation

        return evaluation.describe(sections)
