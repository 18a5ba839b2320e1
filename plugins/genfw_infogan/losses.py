"""The mutual-information loss: a weighted sum of the codes' NLL under Q's predictions.

Minimising E[-log Q(c | G(z, c))] maximises the variational lower bound
L_I = H(c) - E[-log Q(c | x)] <= I(c; G(z, c)) of the paper (eq. 5), since H(c) is constant.
"""

from __future__ import annotations

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from genfw.api import LossContext


class MutualInformationParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lambda_categorical: float = Field(1.0, ge=0, description="Weight of discrete codes' NLL (the paper: 1)")
    lambda_continuous: float = Field(0.1, ge=0, description="Weight of continuous codes' NLL (the paper: 0.1)")
    weights: dict[str, float] = Field(default_factory=dict, description="Per-code weight overrides, by code name")


class MutualInformationLoss(nn.Module):
    """``loss(q_out, codes) -> (weighted total, {code name: mean NLL})`` over the codes Q predicts
    (``latent.predictable``)."""

    def __init__(self, params: MutualInformationParams, ctx: LossContext):
        super().__init__()
        unknown = sorted(set(params.weights) - {c.name for c in ctx.latent})
        if unknown:
            predictable = ", ".join(c.name for c in ctx.latent.predictable) or "(none)"
            raise ValueError(
                f"weights name codes that do not exist: {', '.join(unknown)} (codes Q predicts: {predictable})"
            )
        self.latent = ctx.latent
        self.weights = {
            c.name: params.weights.get(c.name, params.lambda_continuous if c.continuous else params.lambda_categorical)
            for c in ctx.latent.predictable
        }

    def forward(
        self, q_out: torch.Tensor, codes: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        per_code = self.latent.nll(q_out, codes)
        total = q_out.new_zeros((), dtype=torch.float32)
        for name, nll in per_code.items():
            total = total + self.weights[name] * nll
        return total, per_code
