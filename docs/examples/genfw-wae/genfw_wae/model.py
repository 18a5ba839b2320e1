"""The Wasserstein autoencoder, WAE-MMD (Tolstikhin et al. 2018), as a genfw model.

A deterministic encoder maps an image to the parameters of every latent code; the decoder maps
them back. The loss is the reconstruction error plus ``mmd_weight`` times the MMD between the
encoded codes of a batch and as many draws from the prior, so that decoding prior draws (what
genfw samples, traverses and exports) gives images like the data's.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from genfw.api import (Batch, ConfigValueError, DataSpec, EvalContext, ImageGrid, LatentSpec, Model, ModelContext,
                       Roles, eval_mode)

from .mmd import imq_mmd

#: Offsets of each measure's seed from the evaluation (or figure) seed.
EPOCH_SEED, EVAL_SEED, FIGURE_SEED = 20, 21, 22
#: Held-out images the per-epoch metrics use (they run during training: keep them cheap).
EPOCH_IMAGES = 1000
#: At most this many codes enter an MMD estimate at evaluation (its cost grows with the square).
MMD_SAMPLES = 2000


class WAEParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mmd_weight: float = Field(10.0, ge=0, le=1e6,
                              description="Weight of the MMD between the encoded codes and the prior")
    kernel_scale: float = Field(1.0, gt=0, le=100,
                                description="Width of the MMD kernel, in units of the prior's spread")


class WAE(Model):
    """A Wasserstein autoencoder: reconstruction error plus an MMD that pulls the encoded codes onto the prior.

    Every latent code must have a continuous prior (gaussian or noise codes): the encoder outputs
    real numbers for each of them. The decoder outputs Bernoulli logits (``conv_generator`` with
    ``"output": "logits"``); the run's generator is the decoder followed by a sigmoid.
    """

    network_roles: ClassVar[Roles] = Roles(required=("encoder", "decoder"))
    optimizer_defaults: ClassVar[dict[str, dict[str, Any]]] = {"autoencoder": {"type": "adam", "lr": 1e-3}}
    progress_keys: ClassVar[tuple[str, ...]] = ("loss", "reconstruction", "mmd")

    # -- before anything is built ------------------------------------------------------------------
    @classmethod
    def check(cls, params: WAEParams, latent: LatentSpec, data: DataSpec) -> None:
        for code in latent:
            kind = code.prior().get("kind")
            if kind not in ("normal", "uniform"):
                raise ConfigValueError(
                    f"the WAE's encoder outputs real numbers for every code, but code {code.name!r} of type "
                    f"{code.type_name!r} has a {kind} prior (use gaussian or noise codes)",
                    path=f"{latent.path_of(code.name)}.type")

    @classmethod
    def network_outputs(cls, params: WAEParams, latent: LatentSpec) -> dict[str, int]:
        return {"encoder": latent.param_dim}  # the parameters of every code, in config order

    params: WAEParams

    def __init__(self, params: WAEParams, ctx: ModelContext):
        super().__init__(params, ctx)  # keeps params, latent and data
        self.encoder_net = ctx.networks["encoder"]
        self.decoder = ctx.networks["decoder"]
        self.opt = self.optimizer("autoencoder", list(self.encoder_net.parameters()) + list(self.decoder.parameters()))

    @property
    def generator(self) -> nn.Module:
        return nn.Sequential(self.decoder, nn.Sigmoid())  # codes -> images in [0, 1]

    def curves(self) -> dict[str, tuple[str, ...]]:
        return {
            "loss (nats per image)": ("loss", "reconstruction"),
            "MMD to the prior": ("mmd", "test_mmd"),
            "held-out reconstruction (per epoch)": ("test_reconstruction",),
        }

    # -- the objective -----------------------------------------------------------------------------
    def codes(self, z: torch.Tensor) -> dict[str, torch.Tensor]:
        """The encoder's output ``[n, latent.param_dim]`` as ``{code name: [n, dim]}``."""
        return dict(zip([c.name for c in self.latent], z.split([c.dim for c in self.latent], dim=1)))

    def reconstruct(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The encoded parameters ``[n, param_dim]`` and the decoder's logits for ``images``."""
        z = self.encoder_net(images).float()
        return z, self.decoder(self.latent.encode(self.codes(z))).float()

    @staticmethod
    def reconstruction_nll(logits: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        """-log p(x | z) per image: Bernoulli on grey levels, summed over pixels (nats), ``[n]``."""
        return F.binary_cross_entropy_with_logits(logits, images.float(), reduction="none").flatten(1).sum(1)

    def prior_draws(self, n: int, rng: torch.Generator, device: torch.device | str = "cpu") -> torch.Tensor:
        """``n`` draws of every code's parameters from the prior, concatenated like the encoder's output."""
        return torch.cat(list(self.latent.sample(n, rng, device).values()), dim=1)

    def train_step(self, batch: Batch, rng: torch.Generator) -> dict[str, torch.Tensor]:
        real = batch.images
        z, logits = self.reconstruct(real)
        reconstruction = self.reconstruction_nll(logits, real).mean()
        mmd = imq_mmd(z, self.prior_draws(real.shape[0], rng, real.device), self.params.kernel_scale)
        loss = reconstruction + self.params.mmd_weight * mmd
        self.opt.zero_grad(set_to_none=True)
        self.backward(loss)
        self.step(self.opt)
        return {"loss": loss.detach(), "reconstruction": reconstruction.detach(), "mmd": mmd.detach()}

    # -- measures on held-out images ---------------------------------------------------------------
    @torch.no_grad()
    def measure(self, ctx: EvalContext, images: torch.Tensor, seed_offset: int) -> dict[str, Any]:
        """Mean reconstruction NLL and squared error per image over ``images`` (uint8), and the MMD
        of their codes to as many prior draws (at most MMD_SAMPLES), in eval mode."""
        zs, nll, se = [], [], []
        with eval_mode(self):
            for i in range(0, len(images), ctx.batch_size):
                x = images[i:i + ctx.batch_size].to(ctx.device).float().div_(255.0)
                z, logits = self.reconstruct(x)
                zs.append(z.cpu())
                nll.append(self.reconstruction_nll(logits, x).cpu())
                se.append((torch.sigmoid(logits) - x).pow(2).flatten(1).sum(1).cpu())
        n = min(len(images), MMD_SAMPLES, ctx.samples)
        mmd = imq_mmd(torch.cat(zs)[:n], self.prior_draws(n, ctx.generator(seed_offset)), self.params.kernel_scale)
        return {"reconstruction": float(torch.cat(nll).mean()), "squared_error": float(torch.cat(se).mean()),
                "mmd": float(mmd), "images": len(images), "mmd_samples": n, "seed": ctx.seed + seed_offset}

    @staticmethod
    def held_out(ctx: EvalContext):
        return ctx.held_out if ctx.held_out is not None else ctx.data.train

    # -- what the WAE adds to a run's record -------------------------------------------------------
    def epoch_metrics(self, ctx: EvalContext) -> dict[str, float]:
        m = self.measure(ctx, self.held_out(ctx).images[:EPOCH_IMAGES], EPOCH_SEED)
        return {"test_reconstruction": round(m["reconstruction"], 4), "test_mmd": round(m["mmd"], 6)}

    def evaluate(self, ctx: EvalContext) -> dict[str, Any]:
        section = self.measure(ctx, self.held_out(ctx).images, EVAL_SEED)
        section["split"] = "held-out" if ctx.held_out is not None else "train (the dataset has no held-out split)"
        section["units"] = "reconstruction: nats per image (Bernoulli); squared_error: summed over pixels"
        return {"wae": section}

    @classmethod
    def describe_evaluation(cls, sections: dict[str, Any]) -> list[str]:
        w = sections["wae"]
        return [f"  WAE on {w['images']} {w['split']} images: reconstruction {w['reconstruction']:.2f} nats, "
                f"squared error {w['squared_error']:.2f}; MMD to the prior {w['mmd']:.4f} "
                f"({w['mmd_samples']} codes, seed {w['seed']})"]

    @torch.no_grad()
    def figures(self, ctx: EvalContext) -> dict[str, ImageGrid]:
        data = self.held_out(ctx)
        pick = torch.randperm(len(data), generator=ctx.generator(FIGURE_SEED))[:10]
        x = data.images[pick].to(ctx.device).float().div_(255.0)
        with eval_mode(self):
            recon = torch.sigmoid(self.reconstruct(x)[1])
        grid = ImageGrid(torch.cat([x, recon]).cpu(), columns=10, title="held-out images and their reconstructions",
                         row_labels=["real", "decoded"])
        return {"reconstructions": grid}
