"""The β-VAE: maximise E_q[log p(x | z)] - beta * KL(q(z | x) || N(0, I))."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, cast

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from genfw.api import Batch, ConfigValueError, DataSpec, LatentSpec, Model, ModelContext, Roles


class GaussianPosterior(Protocol):
    """What the β-VAE needs of every code (check() makes sure): a posterior read from the
    encoder's prediction, as the gaussian code has."""

    def mean_logvar(self, prediction: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]: ...


if TYPE_CHECKING:  # evaluation pulls in scikit-learn: imported when used, not when the plugin loads
    from genfw.api import EvalContext, ImageGrid


class BetaVAEParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    beta: float = Field(
        1.0,
        ge=0,
        le=1000,
        description="Weight of the KL term (1: the plain VAE's ELBO; >1 pushes toward disentangled codes)",
    )
    decoder_output: Literal["logits", "probabilities"] = Field(
        "logits",
        description="What the decoder network outputs: Bernoulli logits (conv_generator with output: logits; "
        "stable) or probabilities in [0, 1]",
    )


def kl_per_dim(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(logvar)) || N(0, 1)) per sample and dimension, ``[n, d]`` (nats)."""
    return 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar)


class _Probabilities(nn.Module):
    """The decoder followed by a sigmoid: what the run samples from and exports."""

    def __init__(self, decoder: nn.Module):
        super().__init__()
        self.decoder = decoder

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decoder(z))


class BetaVAE(Model):
    """A VAE with a Bernoulli likelihood on grey levels and a weighted KL term.

    Every latent code is a Gaussian the encoder predicts (mean and log-variance per dimension,
    e.g. a ``gaussian`` code with ``"prior": "normal"``); the KL term is against N(0, I).
    """

    network_roles: ClassVar[Roles] = Roles(required=("encoder", "decoder"))
    optimizer_defaults: ClassVar[dict[str, dict[str, Any]]] = {"vae": {"type": "adam", "lr": 1e-3}}
    progress_keys: ClassVar[tuple[str, ...]] = ("loss", "reconstruction", "kl")

    @classmethod
    def check(cls, params: BetaVAEParams, latent: LatentSpec, data: DataSpec) -> None:
        for code in latent:
            where = latent.path_of(code.name)
            if not callable(getattr(code, "mean_logvar", None)) or code.prediction_dim != 2 * code.dim:
                raise ConfigValueError(
                    f"the β-VAE's encoder predicts a Gaussian (mean, log-variance) for every code; "
                    f'code {code.name!r} of type {code.type_name!r} has no such posterior (use a gaussian code with "prior": "normal")',
                    path=f"{where}.type",
                )
            prior = code.prior()
            if (prior.get("kind"), prior.get("mean", 0.0), prior.get("std", 1.0)) != ("normal", 0.0, 1.0):
                raise ConfigValueError(
                    f"the β-VAE's KL term is against N(0, 1); code {code.name!r} has a {prior.get('kind')} "
                    'prior (set "prior": "normal")',
                    path=f"{where}.prior" if "prior" in type(code.params).model_fields else where,
                )

    @classmethod
    def network_outputs(cls, params: BetaVAEParams, latent: LatentSpec) -> dict[str, int]:
        return {"encoder": latent.prediction_dim}

    params: BetaVAEParams

    def __init__(self, params: BetaVAEParams, ctx: ModelContext):
        super().__init__(params, ctx)
        self.encoder = ctx.networks["encoder"]
        self.decoder = ctx.networks["decoder"]
        self.opt = self.optimizer("vae", list(self.encoder.parameters()) + list(self.decoder.parameters()))
        self._slices = ctx.latent.prediction_slices()

    def curves(self) -> dict[str, tuple[str, ...]]:
        return {
            "loss (nats per image)": ("loss", "reconstruction", "kl"),
            "KL per latent dimension (nats)": tuple(self.kl_keys()),
            "held-out (per epoch)": ("test_neg_elbo", "test_reconstruction"),
            "active units (per epoch)": ("active_units",),
        }

    def kl_keys(self) -> list[str]:
        return [code.name if code.dim == 1 else f"{code.name}[{j}]" for code in self.latent for j in range(code.dim)]

    @property
    def encoder(self) -> nn.Module:
        """The encoder network: images -> the posterior's mean and log-variance of every code."""
        network = self._modules["encoder"]  # where nn.Module keeps it (reading self.encoder would recurse)
        assert network is not None
        return network

    @encoder.setter
    def encoder(self, network: nn.Module) -> None:
        # nn.Module.__setattr__ registers a network assigned in __init__ itself (under "encoder",
        # so checkpoints keep their keys); this setter is what a direct call would use.
        self._modules["encoder"] = network

    @property
    def generator(self) -> nn.Module:
        return _Probabilities(self.decoder) if self.params.decoder_output == "logits" else self.decoder

    # -- the objective -----------------------------------------------------------------------------
    def posterior(self, images: torch.Tensor) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """Per code, the encoder's posterior mean and (clamped) log-variance, float32 ``[n, dim]``."""
        prediction = self.encoder(images)
        return {
            name: cast(GaussianPosterior, self.latent[name]).mean_logvar(prediction[:, s])
            for name, s in self._slices.items()
        }

    def reconstruction_nll(self, decoded: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        """-log p(x | z) per image (Bernoulli on grey levels, summed over pixels), ``[n]``."""
        decoded = decoded.float()
        if self.params.decoder_output == "logits":
            nll = F.binary_cross_entropy_with_logits(decoded, images.float(), reduction="none")
        else:
            nll = F.binary_cross_entropy(decoded.clamp(1e-6, 1 - 1e-6), images.float(), reduction="none")
        return nll.flatten(1).sum(1)

    def losses(self, images: torch.Tensor, rng: torch.Generator, sample: bool = True) -> dict[str, torch.Tensor]:
        """The per-image terms for a batch: ``reconstruction`` and ``kl`` ``[n]``, ``kl_dims`` ``[n, D]``."""
        post = self.posterior(images)
        codes = {}
        for name, (mean, logvar) in post.items():
            eps = torch.randn(mean.shape, generator=rng, device=mean.device) if sample else torch.zeros_like(mean)
            codes[name] = mean + torch.exp(0.5 * logvar) * eps
        decoded = self.decoder(self.latent.encode(codes))
        kl_dims = torch.cat([kl_per_dim(*post[c.name]) for c in self.latent], dim=1)
        return {
            "reconstruction": self.reconstruction_nll(decoded, images),
            "kl_dims": kl_dims,
            "kl": kl_dims.sum(1),
            "decoded": decoded,
        }

    def train_step(self, batch: Batch, rng: torch.Generator) -> dict[str, torch.Tensor]:
        terms = self.losses(batch.images, rng)
        rec, kl = terms["reconstruction"].mean(), terms["kl"].mean()
        loss = rec + self.params.beta * kl
        self.opt.zero_grad(set_to_none=True)
        self.backward(loss)
        self.step(self.opt)
        out = {"loss": loss, "reconstruction": rec, "kl": kl, "neg_elbo": rec + kl}
        kl_means = terms["kl_dims"].mean(0)
        out.update({key: kl_means[i] for i, key in enumerate(self.kl_keys())})
        return {k: v.detach() for k, v in out.items()}

    # -- what the β-VAE adds to a run's record -----------------------------------------------------
    def epoch_metrics(self, ctx: EvalContext) -> dict[str, float]:
        from genfw_betavae import evaluation

        return evaluation.epoch_metrics(self, ctx)

    def evaluate(self, ctx: EvalContext) -> dict[str, Any]:
        from genfw_betavae import evaluation

        return {"vae": evaluation.held_out_elbo(self, ctx)}

    @classmethod
    def describe_evaluation(cls, sections: dict[str, Any]) -> list[str]:
        from genfw_betavae import evaluation

        return evaluation.describe(sections)

    def figures(self, ctx: EvalContext) -> dict[str, ImageGrid]:
        from genfw_betavae import evaluation

        return {"reconstructions": evaluation.reconstructions(self, ctx)}
