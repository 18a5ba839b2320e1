"""``angle``: a periodic code, an angle theta on the circle (e.g. a rotation).

Its three sides (see :mod:`genfw.latent`):

- **parameter**: theta in radians, one number per sample, uniform on the circle (the prior is
  ``{"kind": "uniform", "low": -pi, "high": pi}``, a kind every app can sample). theta and
  theta + 2 pi are the same point.
- **encoding**: the network sees ``(cos theta, sin theta)`` (``input_dim`` 2), so the generator
  input is continuous across the cut at +-pi. The encoding is traced into the exported ONNX
  graph: an app feeds theta, one float per sample.
- **likelihood**: a von Mises distribution. A prediction is three numbers ``(x, y, k)``: the
  mean direction mu = atan2(y, x) and a concentration kappa = floor + softplus(k) (kappa >=
  ``min_concentration``, so the NLL is bounded). NLL = kappa (1 - cos(theta - mu)) + ln 2 pi +
  ln i0e(kappa), where ``i0e`` is the exponentially scaled Bessel function (ln I0(kappa) =
  kappa + ln i0e(kappa) without overflow).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field

from genfw.latent import LatentCode, Traversal, format_value

LOG_2PI = math.log(2 * math.pi)


class AngleParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min_concentration: float = Field(
        0.01,
        gt=0,
        le=10,
        description="Floor of a predicted von Mises concentration kappa, so the NLL stays finite and bounded",
    )


class AngleCode(LatentCode):
    """An angle theta in (-pi, pi], uniform; fed to networks as (cos theta, sin theta); predicted
    as a von Mises distribution (mean direction from two numbers, concentration >= a floor)."""

    type_name = "angle"
    continuous = True
    periodic = True
    params: AngleParams

    @property
    def dim(self) -> int:
        return 1

    # -- parameters ------------------------------------------------------------------------------
    def sample(self, n: int, generator: torch.Generator, device: torch.device | str = "cpu") -> torch.Tensor:
        return torch.rand(n, 1, generator=generator, device=device).mul_(2 * math.pi).sub_(math.pi)

    def prior(self) -> dict[str, Any]:
        return {"kind": "uniform", "low": -math.pi, "high": math.pi}

    def entropy(self) -> float:
        return LOG_2PI  # uniform on a circle of length 2 pi

    def traversal_range(self) -> tuple[float, float]:
        return (-math.pi, math.pi)

    def center(self) -> torch.Tensor:
        return torch.zeros(1)

    def traversal(self, steps: int) -> Traversal:
        """One row sweeping a full turn in ``steps`` equal steps over (-pi, pi]: -pi is the same
        angle as pi, so the sweep does not show it twice."""
        sweep = sweep_circle(steps)
        return Traversal(sweep.view(1, steps, 1), [self.name], [format_value(float(v)) for v in sweep])

    # -- encoding ----------------------------------------------------------------------------------
    @property
    def input_dim(self) -> int:
        return 2

    def encode(self, values: torch.Tensor) -> torch.Tensor:
        return torch.cat([torch.cos(values), torch.sin(values)], dim=1)

    # -- likelihood ------------------------------------------------------------------------------
    @property
    def prediction_dim(self) -> int:
        return 3

    def von_mises(self, prediction: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """A prediction's mean direction as a unit vector ``(cos mu, sin mu)`` (each ``[n]``) and
        its concentration kappa ``[n]`` (float32)."""
        prediction = prediction.float()
        x, y = prediction[:, 0], prediction[:, 1]
        r = torch.sqrt(x * x + y * y + 1e-12)
        kappa = self.params.min_concentration + F.softplus(prediction[:, 2])
        return x / r, y / r, kappa

    def nll(self, prediction: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        cos_mu, sin_mu, kappa = self.von_mises(prediction)
        theta = value.float()[:, 0]
        cos_diff = torch.cos(theta) * cos_mu + torch.sin(theta) * sin_mu  # cos(theta - mu)
        return kappa * (1 - cos_diff) + LOG_2PI + torch.log(torch.special.i0e(kappa))

    def spec(self) -> dict[str, Any]:
        spec = super().spec()  # range [-pi, pi] and "periodic": true
        spec["encoding"] = "cos-sin"  # what the network sees; inside the exported graph, so apps give theta
        return spec

    def predict(self, prediction: torch.Tensor) -> torch.Tensor:
        prediction = prediction.float()
        return torch.atan2(prediction[:, 1], prediction[:, 0]).unsqueeze(1)


def sweep_circle(steps: int) -> torch.Tensor:
    """``steps`` angles a full turn apart / steps, ending at pi: (-pi, pi] without -pi."""
    return torch.linspace(-math.pi, math.pi, steps + 1)[1:]
