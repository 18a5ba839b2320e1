"""``bernoulli``: ``dim`` independent binary bits, each 1 with probability ``p``.

The generator sees the bits as float32 0.0/1.0. Q outputs one logit per bit; the code's
negative log-likelihood is the binary cross-entropy summed over its bits.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field

from genfw.latent import LatentCode


class BernoulliParams(BaseModel):
    """Parameters of a ``bernoulli`` code (everything in its config entry but ``name``/``type``)."""

    model_config = ConfigDict(extra="forbid")  # a misspelled key is an error, not silently ignored

    dim: int = Field(1, gt=0, description="Number of independent bits in this code")
    p: float = Field(0.5, gt=0.0, lt=1.0, description="Prior probability that a bit is 1 (0 < p < 1)")


def bernoulli_entropy(p: float) -> float:
    """Entropy of one Bernoulli(p) bit, in nats."""
    return -(p * math.log(p) + (1.0 - p) * math.log(1.0 - p))


class BernoulliCode(LatentCode):
    """Independent binary bits, Bernoulli(p) each, fed as 0/1; Q predicts one logit per bit."""

    type_name = "bernoulli"
    continuous = False  # a discrete code: the info loss weighs it like a categorical one
    params: BernoulliParams

    # -- the generator side ------------------------------------------------------------------
    @property
    def dim(self) -> int:
        return self.params.dim

    def sample(self, n: int, generator: torch.Generator, device: torch.device | str = "cpu") -> torch.Tensor:
        # Draw only from `generator`: that is what makes runs reproducible from the one seed.
        u = torch.rand(n, self.dim, generator=generator, device=device)
        return (u < self.params.p).float()

    def traverse(self, steps: int) -> torch.Tensor:
        # Row i holds the binary digits of i (bit j = (i >> j) & 1): bit 0 alternates every
        # step, bit 1 every two steps, ..., so the rows cycle through all 2**dim patterns.
        i = torch.arange(steps).unsqueeze(1)
        j = torch.arange(self.dim).unsqueeze(0)
        return ((i >> j) & 1).float()

    # -- the Q side --------------------------------------------------------------------------
    @property
    def q_dim(self) -> int:
        return self.dim  # one logit per bit

    def nll(self, q_out: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(q_out.float(), value.float(), reduction="none").sum(1)

    def entropy(self) -> float:
        return self.dim * bernoulli_entropy(self.params.p)

    def predict(self, q_out: torch.Tensor) -> torch.Tensor:
        return (q_out > 0).float()  # logit > 0  <=>  Q's probability > 0.5

    # -- the export side ---------------------------------------------------------------------
    def prior(self) -> dict[str, Any]:
        return {"kind": "bernoulli", "p": self.params.p}

    def spec(self) -> dict[str, Any]:
        spec = super().spec()  # name, type, dim, prior
        spec["p"] = self.params.p
        spec["encoding"] = "bits"
        spec["values"] = [0.0, 1.0]
        return spec
