"""``noise``: incompressible noise, resampled at will; no likelihood."""

from __future__ import annotations

from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field

from genfw.latent import LatentCode


class NoiseParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dim: int = Field(..., gt=0, description="Number of noise dimensions")
    prior: Literal["normal", "uniform"] = Field("normal", description="N(0, scale^2) or U(-scale, scale)")
    scale: float = Field(1.0, gt=0, description="Standard deviation (normal) or half-width (uniform) of the prior")


class NoiseCode(LatentCode):
    """Unstructured noise ``z``: N(0, 1) or U(-1, 1) in each dimension."""

    type_name = "noise"
    role = "noise"
    continuous = True
    params: NoiseParams

    @property
    def dim(self) -> int:
        return self.params.dim

    def sample(self, n: int, generator: torch.Generator, device: torch.device | str = "cpu") -> torch.Tensor:
        s = self.params.scale
        if self.params.prior == "normal":
            return torch.randn(n, self.dim, generator=generator, device=device).mul_(s)
        return torch.rand(n, self.dim, generator=generator, device=device).mul_(2 * s).sub_(s)

    def prior(self) -> dict[str, Any]:
        s = self.params.scale
        if self.params.prior == "normal":
            return {"kind": "normal", "mean": 0.0, "std": s}
        return {"kind": "uniform", "low": -s, "high": s}
