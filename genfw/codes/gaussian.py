"""``gaussian``: a continuous code whose predictions are Gaussians (mean, clamped log-variance)."""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator

from genfw.latent import LatentCode

LOG_2PI = math.log(2 * math.pi)


class GaussianParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dim: int = Field(1, gt=0, description="Number of continuous dimensions in this code")
    prior: Literal["uniform", "normal"] = Field("uniform", description="U(-1,1) (the paper's) or N(0,1)")
    traverse_range: float = Field(2.0, gt=0, description="Traversal figures sweep from -r to r")
    fixed_std: bool = Field(False, description="A prediction is the mean only, with unit variance")
    min_logvar: float = Field(-5.0, description="Lower clamp of a predicted log-variance, so the NLL cannot diverge")
    max_logvar: float = Field(5.0, description="Upper clamp of a predicted log-variance")

    @model_validator(mode="after")
    def _clamp_is_a_range(self) -> GaussianParams:
        if self.min_logvar >= self.max_logvar:
            raise ValueError(f"min_logvar ({self.min_logvar}) must be below max_logvar ({self.max_logvar})")
        return self


class GaussianCode(LatentCode):
    """A continuous code; a prediction is a mean and a (clamped) log-variance per dimension."""

    type_name = "gaussian"
    continuous = True
    params: GaussianParams

    @property
    def dim(self) -> int:
        return self.params.dim

    @property
    def prediction_dim(self) -> int:
        return self.params.dim if self.params.fixed_std else 2 * self.params.dim

    def sample(self, n: int, generator: torch.Generator, device: torch.device | str = "cpu") -> torch.Tensor:
        if self.params.prior == "normal":
            return torch.randn(n, self.dim, generator=generator, device=device)
        return torch.rand(n, self.dim, generator=generator, device=device).mul_(2).sub_(1)

    def mean_logvar(self, prediction: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A prediction's mean and clamped log-variance, each ``[n, dim]`` (float32)."""
        prediction = prediction.float()
        mean = prediction[:, : self.dim]
        if self.params.fixed_std:
            return mean, torch.zeros_like(mean)
        logvar = prediction[:, self.dim :].clamp(self.params.min_logvar, self.params.max_logvar)
        return mean, logvar

    def nll(self, prediction: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        mean, logvar = self.mean_logvar(prediction)
        per_dim = 0.5 * (LOG_2PI + logvar + (value - mean).pow(2) * torch.exp(-logvar))
        return per_dim.sum(dim=1)

    def entropy(self) -> float:
        if self.params.prior == "normal":
            return 0.5 * self.dim * (1 + LOG_2PI)
        return self.dim * math.log(2.0)  # U(-1, 1): ln(width)

    def predict(self, prediction: torch.Tensor) -> torch.Tensor:
        return self.mean_logvar(prediction)[0]

    def traversal_range(self) -> tuple[float, float]:
        r = self.params.traverse_range
        return (-r, r)

    def prior(self) -> dict[str, Any]:
        if self.params.prior == "normal":
            return {"kind": "normal", "mean": 0.0, "std": 1.0}
        return {"kind": "uniform", "low": -1.0, "high": 1.0}
