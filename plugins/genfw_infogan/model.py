"""InfoGAN as a genfw model: it owns its optimizers and its train step."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

import torch
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
    LatentCode,
    LatentSpec,
    LossContext,
    Model,
    ModelContext,
    NonSaturatingLoss,
    NonSaturatingParams,
    Roles,
    features_read_by,
    frozen,
)

if TYPE_CHECKING:  # evaluation pulls in scikit-learn: imported when used, not when the plugin loads
    from genfw.api import EvalContext


class InfoGANParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    info_updates_trunk: bool = Field(
        True, description="The info loss also trains the shared D trunk (as in the paper and its code)"
    )
    ema_decay: float = Field(
        0.0,
        ge=0,
        lt=1,
        description="Keep an exponential moving average of G's weights with this decay (e.g. 0.999) and use it as "
        "the run's generator (samples, export, eval); 0: off",
    )
    label_weight: float = Field(
        1.0,
        ge=0,
        le=1000,
        description="With a categorical code fed by the labels (from_labels, e.g. semi-supervised with labelled_count): "
        "the weight of Q's cross-entropy on labelled real images, which ties each category to its class",
    )
    invariance_steps: int | None = Field(
        None,
        gt=0,
        le=100_000_000,
        description="Apply the invariance loss only for this many steps (once Q's categories have formed), then train "
        "the plain InfoGAN objective; null: always",
    )
    info_decay_step: int | None = Field(
        None,
        gt=0,
        le=100_000_000,
        description="From this step on, the generator's info loss is multiplied by info_decay_factor (for "
        "continuous codes: info_decay_factor_continuous, from info_decay_step_continuous if set; per code: "
        "info_decay_factors): once the codes mean "
        "something, a weaker pull toward images Q reads with certainty lets G draw the data's variety within each "
        "category (Q itself keeps training at full weight); null: never",
    )
    info_decay_factor: float = Field(
        0.1,
        ge=0,
        le=1,
        description="The factor of the generator's info loss from info_decay_step on",
    )
    info_decay_factor_continuous: float | None = Field(
        None,
        ge=0,
        le=1,
        description="The factor for the continuous codes (gaussian, angle: every code type that says it is "
        "continuous) from info_decay_step (or info_decay_step_continuous) on, overriding info_decay_factor for "
        "them: e.g. 1.0 keeps their full pull while the discrete codes' (the category's) decays, whatever the codes "
        "are named; null: info_decay_factor",
    )
    info_decay_step_continuous: int | None = Field(
        None,
        gt=0,
        le=100_000_000,
        description="The step from which info_decay_factor_continuous applies, when the continuous codes' pull "
        "should change at another step than the category's: e.g. a strong pull for the first few hundred steps, "
        "while the codes form, then a weaker one; null: info_decay_step",
    )
    info_decay_factors: dict[str, Annotated[float, Field(ge=0, le=1)]] = Field(
        default_factory=dict,
        description="Per-code factors from info_decay_step on, by code name, overriding the two factors above for "
        'those codes: e.g. {"c1": 0.0, "c2": 0.0} lets G stop drawing its variety along the continuous codes '
        "while the category keeps info_decay_factor",
    )
    projection_step: int | None = Field(
        None,
        ge=0,
        le=100_000_000,
        description="From this step on, D judges every image together with its category (the first categorical "
        "code), by a projection head (Miyato & Koyama 2018): a fake with the category it was drawn for, a real image "
        "with the category Q reads in it (its label, where the code is fed by the labels and the image keeps one); "
        "so G is asked for each category's full variety, not only for real images Q reads as the category. "
        "0: from the first step (before Q reads anything); null: never",
    )


@contextlib.contextmanager
def running_statistics_kept(module: nn.Module) -> Iterator[None]:
    """A forward pass inside changes none of ``module``'s buffers (BatchNorm's running statistics
    and batch count): for a second pass over a batch the module has already seen. The pass works
    on copies, which are then dropped: the buffers themselves are never written, since autograd
    may have saved them for the first pass's backward."""
    saved = [(owner, name, buffer) for owner in module.modules() for name, buffer in owner.named_buffers(recurse=False)]
    for owner, name, buffer in saved:
        setattr(owner, name, buffer.clone())
    try:
        yield
    finally:
        for owner, name, buffer in saved:
            setattr(owner, name, buffer)


class QReader(nn.Module):
    """Q as one module (``InfoGAN.encoder``): images -> the Q head's prediction, per image.

    A discriminator network with a ``q_prediction(images)`` method (``infogan_mnist_discriminator``)
    computes it without the batch statistics its D head reads; any other reads
    ``aux_head(trunk(images))`` (``conv_discriminator`` keeps its spread inside the D head).
    It holds the model's own discriminator, in that network's train/eval mode, so switching
    this module's mode switches the network's."""

    def __init__(self, network: nn.Module, parts: DiscriminatorParts):
        super().__init__()
        self.network = network
        self.parts = parts
        self.training = network.training

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        q_prediction = getattr(self.network, "q_prediction", None)
        if callable(q_prediction):
            return q_prediction(images)
        return self.parts.aux(self.parts.trunk(images))


class InfoGAN(Model):
    """Generator G, discriminator trunk T with a D head and a Q head, and the info loss L_I.

    The Q head is the discriminator network's ``aux_head``: the head genfw's networks add when a
    model asks for outputs (``network_outputs``), here a prediction of every predictable code.

    Each step: (1) the discriminator step minimises the adversarial loss on real and fake
    images, plus lambda * L_I on the same (detached) fakes when ``info_updates_trunk``, so the
    trunk learns features Q can read codes from; (2) the generator step minimises the
    adversarial generator loss plus lambda * L_I, updating G and the Q head. In (2) the trunk
    and D head are frozen, so their weights get no gradient there at all (and none is computed).

    With a categorical code fed by the labels (``from_labels``), Q also reads the class of
    labelled real images (``batch.supervised`` when only some are labelled, else the batch's own
    labelled images): the D step adds ``label_weight`` times the cross-entropy, training the
    trunk, and the G step adds it on the same (detached) features, training the Q head. G's info
    loss then ties category 3 to whatever Q reads as class 3, without any matching.

    With an ``invariance`` loss (e.g. ``invariant_clustering``), the D step also feeds a warped
    copy of the real batch through the trunk and adds the loss between Q's outputs on the two
    views, training the trunk; the G step adds it again on the same (detached) features, which
    trains the Q head (whose optimizer is G's). An augmentation in the ``discriminator`` role
    (e.g. DiffAugment's ``translate``) is applied to every real and fake image D and Q see.

    With a network in the optional ``q`` role, Q is that network's trunk and aux head instead
    of the discriminator's: the info, invariance and label losses train Q's trunk (in the D
    step, with D's optimizer) and never D's, so D's features stay those of a plain GAN
    discriminator, free to see every style the invariance loss teaches Q to ignore. Q's own
    D head is unused.

    With ``projection_step``, from that step on D's logit gains a projection term
    ``<embed(y), h>`` (``ClassProjection``, trained with D, reading what the D head reads): y is
    the category a fake was drawn for, and for a real image the category Q reads in it (Q's
    argmax, no gradient through it), so D compares each category's fakes with the real images of
    that category.
    """

    network_roles: ClassVar[Roles] = Roles(required=("generator", "discriminator"), optional=("q",))
    loss_roles: ClassVar[Roles] = Roles(required=("info",), optional=("adversarial", "invariance"))
    augmentation_roles: ClassVar[Roles] = Roles(optional=("discriminator",))
    optimizer_defaults: ClassVar[dict[str, dict[str, Any]]] = {
        "discriminator": {"type": "adam", "lr": 2e-4, "betas": (0.5, 0.999)},  # the trunk and the D head
        "generator": {"type": "adam", "lr": 1e-3, "betas": (0.5, 0.999)},  # G and the Q head
    }
    progress_keys: ClassVar[tuple[str, ...]] = ("d_loss", "g_gan", "info_loss")

    @classmethod
    def check(cls, params: InfoGANParams, latent: LatentSpec, data: DataSpec) -> None:
        predicted = [c.name for c in latent.predictable]
        for name in params.info_decay_factors:
            if name not in predicted:
                what = "noise, which Q does not predict" if name in {c.name for c in latent} else "not a latent code"
                raise ConfigValueError(
                    f"{name!r} is {what}: name a code Q predicts ({', '.join(predicted) or 'none'}) or remove it",
                    path=f"model.info_decay_factors.{name}",
                )
        if params.info_decay_factors and params.info_decay_step is None:
            raise ConfigValueError(
                "per-code factors apply from info_decay_step on, and it is not set: set model.info_decay_step "
                "(the step from which G's info loss decays) or remove info_decay_factors",
                path="model.info_decay_factors",
            )
        if params.info_decay_step_continuous is not None and params.info_decay_factor_continuous is None:
            raise ConfigValueError(
                "info_decay_step_continuous says when info_decay_factor_continuous applies, and it is not set: "
                "set model.info_decay_factor_continuous (the continuous codes' factor) or remove "
                "info_decay_step_continuous",
                path="model.info_decay_step_continuous",
            )
        if (
            params.info_decay_factor_continuous is not None
            and params.info_decay_step is None
            and params.info_decay_step_continuous is None
        ):
            raise ConfigValueError(
                "the continuous codes' factor applies from info_decay_step (or info_decay_step_continuous) on, and "
                "neither is set: set model.info_decay_step (the step from which G's info loss decays) or remove "
                "info_decay_factor_continuous",
                path="model.info_decay_factor_continuous",
            )
        if params.projection_step is not None and latent.first_categorical() is None:
            raise ConfigValueError(
                "D can only be conditioned on a categorical code, and the latent spec has none: add one "
                '(e.g. {"name": "digit", "type": "categorical", "k": 10}) or remove projection_step',
                path="model.projection_step",
            )

    @classmethod
    def network_outputs(cls, params: InfoGANParams, latent: LatentSpec) -> dict[str, int]:
        # The Q head, on the discriminator or on a network of its own: a prediction of every predictable code.
        return {"discriminator": latent.prediction_dim, "q": latent.prediction_dim}

    params: InfoGANParams

    def __init__(self, params: InfoGANParams, ctx: ModelContext):
        super().__init__(params, ctx)
        self.G = ctx.networks["generator"]
        self.D = ctx.networks["discriminator"]
        self.parts = DiscriminatorParts.of(self.D, "the InfoGAN")
        self.Q = ctx.networks.get("q")  # None: Q is the discriminator's aux head, on D's trunk
        self.q_parts = DiscriminatorParts.of(self.Q, "the InfoGAN", role="q") if self.Q is not None else self.parts
        self.info = ctx.losses["info"]
        self.invariance = ctx.losses.get("invariance")
        self.adversarial: AdversarialLoss = ctx.losses.get("adversarial") or NonSaturatingLoss(
            NonSaturatingParams(), LossContext(ctx.latent, "adversarial")
        )
        self.augment = ctx.augmentations.get("discriminator")
        self._views: tuple[torch.Tensor, torch.Tensor] | None = None  # trunk features, D step -> G step
        self._labelled: tuple[torch.Tensor, torch.Tensor] | None = None  # (features, labels), D step -> G step
        self.label_code = self.latent.label_code
        self._prediction_slices = self.latent.prediction_slices()  # each code's columns of Q's output
        self._d_frozen = list(self.parts.trunk.parameters()) + list(self.parts.d_head.parameters())
        if self.Q is not None:  # Q's trunk trains in the D step, as the shared trunk does
            self._d_frozen += list(self.q_parts.trunk.parameters())
        # Only with projection_step set, so other runs' state dicts (and random draws) are unchanged.
        self.projection_code = self.latent.first_categorical() if params.projection_step is not None else None
        self.projection: ClassProjection | None = None
        # A code fed by the labels that is the projection's too: real images whose label is known
        # are judged with it rather than with Q's reading.
        self._projection_fed_by_labels = self.projection_code is not None and self.label_code is self.projection_code
        if self.projection_code is not None:
            self._projection_slice = self.latent.prediction_slices()[self.projection_code.name]
            # It reads what the D head reads, the minibatch spread included (a class's spread too).
            self.projection = ClassProjection(self.projection_code.dim, features_read_by(self.parts.d_head))
            self._d_frozen += list(self.projection.parameters())
        self.opt_d = self.optimizer("discriminator", self._d_frozen)
        self.opt_g = self.optimizer("generator", list(self.G.parameters()) + list(self.q_parts.aux.parameters()))
        # Only with EMA on, so the state dict of a run without it has no average in it.
        self.G_ema = ExponentialMovingAverage(self.G, params.ema_decay) if params.ema_decay else None
        self._entropies = {c.name: c.entropy() for c in self.latent.predictable if c.entropy() is not None}

    def curves(self) -> dict[str, tuple[str, ...]]:
        predictable = [c.name for c in self.latent.predictable]
        invariance = self.invariance is not None
        labels = self.label_code is not None
        curves = {
            "discriminator": (
                "d_loss",
                "d_gan",
                *(("d_info",) if self.params.info_updates_trunk else ()),
                *(("d_invariance",) if invariance else ()),
                *(("d_labels",) if labels else ()),
            ),
            "generator": (
                "g_loss",
                "g_gan",
                "info_loss",
                *(("q_invariance",) if invariance else ()),
                *(("q_labels",) if labels else ()),
            ),
            "D(x) on real and fake": ("d_real", "d_fake"),
            "mutual information lower bound (nats)": tuple(f"mi_{n}" for n in predictable if n in self._entropies),
            "Q accuracy on held-out images (per epoch)": tuple(
                f"q_accuracy_{c.name}" for c in self.latent.predictable if c.one_hot and self.data.has_labels
            ),
        }
        return {title: keys for title, keys in curves.items() if keys}

    @property
    def generator(self) -> nn.Module:
        """G, or its moving average when ``ema_decay`` is set (what samples and the export use)."""
        return self.G_ema.average if self.G_ema is not None else self.G

    def prepare_generator(self, rng: torch.Generator) -> None:
        if self.G_ema is not None:  # the average's own BatchNorm statistics, not G's copied ones
            self.G_ema.recompute_batchnorm(self.prior_inputs(rng))

    @property
    def encoder(self) -> nn.Module:
        """Q: images -> its prediction of every predictable code (``Model.encoder``)."""
        return QReader(self.Q if self.Q is not None else self.D, self.q_parts)

    def _critic(self, x: torch.Tensor, category: torch.Tensor | None = None) -> torch.Tensor:
        return self._logits(self.parts.trunk(x), category)

    def _logits(self, features: torch.Tensor, category: torch.Tensor | None) -> torch.Tensor:
        """D's logits ``[n]`` from trunk features; with ``category`` (one-hot ``[n, k]``) the
        projection term too."""
        logits = self.parts.d_head(features).float().view(-1)
        if category is None:
            return logits
        assert self.projection is not None  # a category is passed only while the projection is active
        return logits + self.projection.project(category, features)

    def category_read_by_q(self, prediction: torch.Tensor) -> torch.Tensor:
        """The category Q reads in each image, one-hot ``[n, k]``, from Q's prediction ``[n,
        latent.prediction_dim]``; no gradient flows through it."""
        assert self.projection_code is not None
        return self.projection_code.predict(prediction.detach()[:, self._projection_slice])

    def projection_active(self, step: int) -> bool:
        start = self.params.projection_step
        return self.projection is not None and start is not None and step >= start

    # The two objectives are methods of their own so tests can inspect where gradients go.
    def label_loss(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Q's mean cross-entropy against the labels of the labelled images among ``features``
        (0 when none is labelled)."""
        code = self.label_code
        assert code is not None
        prediction = self.q_parts.aux(features)[:, self.latent.prediction_slices()[code.name]]
        known = (labels >= 0).float()
        nll = code.nll(prediction, code.from_label_indices(labels))
        return (nll * known).sum() / known.sum().clamp(min=1.0)

    def _q_features(self, images: torch.Tensor, d_features: torch.Tensor) -> torch.Tensor:
        """Q's trunk features of ``images``: D's own (``d_features``) when Q shares D's trunk."""
        return d_features if self.Q is None else self.q_parts.trunk(images)

    def d_step_losses(
        self,
        real: torch.Tensor,
        fake: torch.Tensor,
        codes: dict[str, torch.Tensor],
        warped: torch.Tensor | None = None,
        rng: torch.Generator | None = None,
        labelled: tuple[torch.Tensor, torch.Tensor] | None = None,
        projected: bool = False,
        real_labels: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """The discriminator step's losses on real images and detached fakes (and, with a code
        fed by the labels, Q's cross-entropy on ``labelled`` = (images, labels)); ``projected``:
        D also judges each image with its category (``projection_step``): the category Q reads,
        or where ``real_labels`` (``[n]``, -1 where withheld) knows a real image's class, that."""
        # Real and fake go through separately so BatchNorm never mixes them (DCGAN's advice).
        feats_real = self.parts.trunk(real)
        feats_fake = self.parts.trunk(fake.detach())
        # Q's features of the real batch and its prediction from them: computed once, for whichever of
        # the projection and the invariance loss needs them (another pass would update BatchNorm's
        # running statistics again), with a graph only where a loss trains through them.
        q_real = q_read = None
        real_category = fake_category = None
        if projected:
            assert self.projection_code is not None
            trains = warped is not None or (
                labelled is not None and labelled[0] is real and self.label_code is not None
            )
            with torch.set_grad_enabled(trains and torch.is_grad_enabled()):
                q_real = self._q_features(real, feats_real)
                q_read = self.q_parts.aux(q_real)
            real_category = self.category_read_by_q(q_read)
            if real_labels is not None:
                known = (real_labels >= 0).unsqueeze(1)
                real_category = torch.where(known, self.projection_code.from_label_indices(real_labels), real_category)
            fake_category = codes[self.projection_code.name]
        d_real = self._logits(feats_real, real_category)
        d_fake = self._logits(feats_fake, fake_category)
        gan = self.adversarial.discriminator_loss(d_real, d_fake)
        if rng is not None and self.adversarial.has_penalty:  # interpolates, judged as the real category
            gan = gan + self.adversarial.penalty(lambda x: self._critic(x, real_category), real, fake, rng)
        out = {"d_gan": gan, "d_real": torch.sigmoid(d_real).mean(), "d_fake": torch.sigmoid(d_fake).mean()}
        total = gan
        if self.params.info_updates_trunk:
            info, _ = self.info(self.q_parts.aux(self._q_features(fake.detach(), feats_fake)), codes)
            out["d_info"] = info
            total = total + info
        if warped is not None:
            assert self.invariance is not None  # warped views exist only while it is active
            q_real = self._q_features(real, feats_real) if q_real is None else q_real
            feats_warped = self.q_parts.trunk(warped)
            q_read = self.q_parts.aux(q_real) if q_read is None else q_read
            inv, _ = self.invariance(q_read, self.q_parts.aux(feats_warped))
            self._views = (q_real.detach(), feats_warped.detach())
            out["d_invariance"] = inv
            total = total + inv
        if labelled is not None and self.label_code is not None:
            images, labels = labelled
            if images is real:
                feats = q_real if q_real is not None else self._q_features(real, feats_real)
            else:
                feats = self.q_parts.trunk(images)
            loss = self.label_loss(feats, labels)
            self._labelled = (feats.detach(), labels)
            out["d_labels"] = loss
            total = total + self.params.label_weight * loss
        out["d_loss"] = total
        return out

    def g_step_losses(
        self,
        fake: torch.Tensor,
        codes: dict[str, torch.Tensor],
        info_factors: Mapping[str, float] | None = None,
        projected: bool = False,
    ) -> dict[str, torch.Tensor]:
        """The generator step's losses (call with the trunk and D head frozen); G's share of each
        code's info loss is scaled by ``info_factors[code]`` (default 1; the Q head's is not);
        ``projected``: D judges each fake with the category it was drawn for."""
        feats = self.parts.trunk(fake)
        category = None
        if projected:
            assert self.projection_code is not None  # projected only while the projection is active
            category = codes[self.projection_code.name]
        logits = self._logits(feats, category)
        gan = self.adversarial.generator_loss(logits)
        q_feats = self._q_features(fake, feats)
        q_out = self.q_parts.aux(q_feats)
        info, per_code = self.info(q_out, codes)
        scale = self._prediction_scale(info_factors or {}, q_out)
        if scale is not None:
            # The same values with G's gradient scaled per code: each code's columns of Q's output
            # mix the output (reaching G) with one computed on detached features (reaching the Q
            # head only), so the Q head still trains on the full loss. It needs a head that gives
            # the same output twice (no dropout); the second pass leaves its running statistics be.
            with running_statistics_kept(self.q_parts.aux):
                q_head_only = self.q_parts.aux(q_feats.detach())
            info_g, _ = self.info(q_head_only + scale * (q_out - q_head_only), codes)
        else:
            info_g = info
        out = {"g_gan": gan, "info_loss": info, "g_loss": gan + info_g}
        if self._views is not None:
            feats_real, feats_warped = self._views
            self._views = None
            assert self.invariance is not None  # the views exist only while it is active
            inv, inv_per_code = self.invariance(self.q_parts.aux(feats_real), self.q_parts.aux(feats_warped))
            out["q_invariance"] = inv
            out["g_loss"] = out["g_loss"] + inv
            out.update({f"invariance_{name}": v for name, v in inv_per_code.items()})
        if self._labelled is not None:
            feats_labelled, labels = self._labelled
            self._labelled = None
            loss = self.label_loss(feats_labelled, labels)
            out["q_labels"] = loss
            out["g_loss"] = out["g_loss"] + self.params.label_weight * loss
        out.update({f"info_{name}": nll for name, nll in per_code.items()})
        # The variational lower bound on I(c; G(z, c)): H(c) - E[-log Q(c | x)], where H(c) is known.
        out.update(
            {
                f"mi_{name}": self._entropies[name] - nll.detach()
                for name, nll in per_code.items()
                if name in self._entropies
            }
        )
        return out

    def info_factors(self, step: int) -> dict[str, float]:
        """Each predicted code's factor of G's info loss at ``step``: 1 before its decay step, then
        the code's entry of ``info_decay_factors``, else ``info_decay_factor_continuous`` for a
        continuous code (from ``info_decay_step_continuous``, if set), else ``info_decay_factor``."""
        p = self.params

        def start_and_factor(code: LatentCode) -> tuple[int | None, float]:
            if code.name in p.info_decay_factors:
                return p.info_decay_step, p.info_decay_factors[code.name]
            if code.continuous and p.info_decay_factor_continuous is not None:
                return p.info_decay_step_continuous or p.info_decay_step, p.info_decay_factor_continuous
            return p.info_decay_step, p.info_decay_factor

        def factor(code: LatentCode) -> float:
            start, decayed = start_and_factor(code)
            return 1.0 if start is None or step < start else decayed

        return {c.name: factor(c) for c in self.latent.predictable}

    def _prediction_scale(self, factors: Mapping[str, float], q_out: torch.Tensor) -> torch.Tensor | None:
        """A row of Q's output width with each code's factor over its columns; None when all are 1."""
        if all(factors.get(name, 1.0) == 1.0 for name in self._prediction_slices):
            return None
        scale = torch.ones(q_out.shape[1], dtype=q_out.dtype, device=q_out.device)
        for name, columns in self._prediction_slices.items():
            scale[columns] = factors.get(name, 1.0)
        return scale

    def invariance_active(self, step: int) -> bool:
        until = self.params.invariance_steps
        return self.invariance is not None and (until is None or step < until)

    def train_step(self, batch: Batch, rng: torch.Generator) -> dict[str, torch.Tensor]:
        real = batch.images
        codes = self.latent.sample(real.shape[0], rng, real.device)
        fake = self.G(self.latent.encode(codes))
        invariance = self.invariance
        warped = invariance.warp(real, rng) if invariance is not None and self.invariance_active(batch.step) else None
        labelled = None
        if self.label_code is not None:
            source = batch.supervised if batch.supervised is not None else batch
            if source.labels is not None:
                labelled = (source.images, source.labels)
        if self.augment is not None:
            real = self.augment(real, rng)
            fake = self.augment(fake, rng)
            if labelled is not None:
                labelled = (real if labelled[0] is batch.images else self.augment(labelled[0], rng), labelled[1])

        self.opt_d.zero_grad(set_to_none=True)
        projected = self.projection_active(batch.step)
        real_labels = batch.labels if projected and self._projection_fed_by_labels else None
        d_out = self.d_step_losses(real, fake, codes, warped, rng, labelled, projected, real_labels)
        self.backward(d_out["d_loss"])
        self.step(self.opt_d)

        self.opt_g.zero_grad(set_to_none=True)
        with frozen(self._d_frozen):
            g_out = self.g_step_losses(fake, codes, self.info_factors(batch.step), projected)
            self.backward(g_out["g_loss"])
        self.step(self.opt_g)
        if self.G_ema is not None:
            self.G_ema.update(self.G)
        return {k: v.detach() for k, v in {**d_out, **g_out}.items()}

    # -- what InfoGAN adds to a run's record ---------------------------------------------------------
    def epoch_metrics(self, ctx: EvalContext) -> dict[str, float]:
        """Q's categorical accuracy on the held-out split (categories matched to labels)."""
        from genfw_infogan import evaluation

        return evaluation.q_accuracy(ctx)

    def evaluate(self, ctx: EvalContext) -> dict[str, Any]:
        from genfw_infogan import evaluation

        return {
            "q_on_real": evaluation.q_on_real(ctx),
            "code_consistency": evaluation.code_consistency(ctx),
            "continuous_codes": evaluation.continuous_effects(ctx),
        }

    @classmethod
    def describe_evaluation(cls, sections: dict[str, Any]) -> list[str]:
        from genfw_infogan import evaluation

        return evaluation.describe(sections)

    @classmethod
    def control_meanings(cls, sections: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
        """Each continuous code's strongest image property, from the ``continuous_codes`` section
        (keys ``c1``, or ``c[0]``, ``c[1]``, ... per dimension)."""
        from genfw_infogan import evaluation

        return evaluation.control_meanings(sections.get("continuous_codes"))

    @classmethod
    def category_meanings(cls, sections: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """The class each category came to mean, from the ``code_consistency`` section."""
        section = sections.get("code_consistency")
        if not isinstance(section, dict):
            return {}
        return {
            name: entry["per_value"]
            for name, entry in section.items()
            if isinstance(entry, dict) and isinstance(entry.get("per_value"), dict)
        }
