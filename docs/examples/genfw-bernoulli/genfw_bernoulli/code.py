"""``bernoulli``: ``dim`` independent binary bits, each 1 with probability ``p``.

Parameters: the bits, 0.0 or 1.0. Encoding: fed to the generator as -1.0/+1.0 (centred, like
the other codes' inputs). Likelihood: a predicting network outputs one logit per bit; the
negative log-likelihood is the binary cross-entropy summed over the bits.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field

from genfw.api import LatentCode, Traversal


class BernoulliParams(BaseModel):
    """Parameters of a ``bernoulli`` code (everything in its config entry but ``name``/``type``)."""

    model_config = ConfigDict(extra="forbid")  # a misspelled key is an error, not silently ignored

    dim: int = Field(1, gt=0, description="Number of independent bits in this code")
    p: float = Field(0.5, gt=0.0, lt=1.0, description="Prior probability that a bit is 1 (0 < p < 1)")


def bernoulli_entropy(p: float) -> float:
    """Entropy of one Bernoulli(p) bit, in nats."""
    return -(p * math.log(p) + (1.0 - p) * math.log(1.0 - p))


class BernoulliCode(LatentCode):
    """Independent binary bits, Bernoulli(p) each; predicted as one logit per bit."""

    type_name = "bernoulli"
    role = "control"  # a setting a user chooses (the default; "noise" is resampled at will)
    continuous = False  # a discrete choice: InfoGAN weighs it with lambda_categorical
    params: BernoulliParams  # genfw validates the config entry with this model

    # -- parameters: what the prior draws and a user sets -----------------------------------------
    @property
    def dim(self) -> int:
        return self.params.dim

    def sample(self, n: int, generator: torch.Generator, device: torch.device | str = "cpu") -> torch.Tensor:
        # Draw only from `generator`: that is what makes runs reproducible from the one seed.
        u = torch.rand(n, self.dim, generator=generator, device=device)
        return (u < self.params.p).float()

    def prior(self) -> dict[str, Any]:
        return {"kind": "bernoulli", "p": self.params.p}

    def traversal_range(self) -> tuple[float, float]:
        return (0.0, 1.0)  # a bit is off or on (apps also get this as the code's "range")

    def center(self) -> torch.Tensor:
        # While another code is swept, every bit holds its more likely value (not 0.5: a bit is never half on).
        return torch.full((self.dim,), float(self.params.p > 0.5))

    def traversal(self, steps: int) -> Traversal:
        if 2**self.dim > steps:  # too many patterns for one row: a row per bit, switched off then on
            return super().traversal(2)
        # One row through every pattern of the bits: column i sets bit j to (i >> j) & 1,
        # so two bits give 00, 10, 01, 11 (`steps` does not apply, as for a categorical code).
        i = torch.arange(2**self.dim).unsqueeze(1)
        patterns = ((i >> torch.arange(self.dim)) & 1).float()  # [2**dim, dim]
        labels = ["".join(str(int(b)) for b in row) for row in patterns]
        return Traversal(patterns.unsqueeze(0), [self.name], labels)

    # -- encoding: how the parameters are fed to a network ----------------------------------------
    def encode(self, values: torch.Tensor) -> torch.Tensor:
        return values * 2 - 1  # 0/1 -> -1/+1; traced into the ONNX export, so apps still feed 0/1

    # -- likelihood: scoring a network's prediction of the parameters ------------------------------
    @property
    def prediction_dim(self) -> int:
        return self.dim  # one logit per bit

    def nll(self, prediction: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(prediction.float(), value.float(), reduction="none").sum(1)

    def predict(self, prediction: torch.Tensor) -> torch.Tensor:
        return (prediction > 0).float()  # logit > 0  <=>  probability > 0.5

    def entropy(self) -> float:
        return self.dim * bernoulli_entropy(self.params.p)

    # -- what apps see --------------------------------------------------------------------------
    def spec(self) -> dict[str, Any]:
        spec = super().spec()  # name, type, dim, role, prior, range
        spec["p"] = self.params.p
        spec["values"] = [0.0, 1.0]
        return spec
